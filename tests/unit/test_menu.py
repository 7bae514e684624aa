"""The menu step function: keys, failures, repeat, language, submenus, reachability."""

from __future__ import annotations

import dataclasses

import pytest

from ivr.config import HotlineConfig
from ivr.domain.menu import (
    Action,
    Ask,
    Event,
    FlowState,
    Key,
    Leave,
    Menu,
    MenuNode,
    Start,
    StepRecord,
    Target,
    TargetKind,
    Timeout,
    parse_target,
    start,
    step,
)


def node(
    nid: str,
    options: dict[str, str],
    on_failure: str = "operator",
    prompt: str | None = None,
    max_attempts: int = 3,
    timeout: float = 5.0,
) -> MenuNode:
    return MenuNode(
        id=nid,
        prompt=prompt or f"{nid}_prompt",
        options={k: parse_target(v) for k, v in options.items()},
        on_failure=parse_target(on_failure),
        timeout_seconds=timeout,
        max_attempts=max_attempts,
    )


def menu(*nodes: MenuNode, start_at: str | None = None) -> Menu:
    return Menu(start_at or nodes[0].id, {n.id: n for n in nodes})


def walk(
    m: Menu, events: list[Event], language: str = "zh-CN"
) -> tuple[FlowState, list[Action], list[StepRecord]]:
    """Start the flow and feed it events; every action and record, start included."""
    state, action, record = start(m, language)
    actions, records = [action], [record]
    for ev in events:
        state, action, record = step(m, state, ev)
        actions.append(action)
        records.append(record)
    return state, actions, records


def keys(text: str) -> list[Event]:
    """'1*T' -> [Key('1'), Key('*'), Timeout()]."""
    return [Timeout() if ch == "T" else Key(ch) for ch in text]


@pytest.fixture
def sample(sample_config: HotlineConfig) -> Menu:
    return sample_config.menu


# --- single choices -------------------------------------------------------------------


def test_start_asks_the_start_node_prompt(sample: Menu) -> None:
    state, action, record = start(sample, "zh-CN")
    assert action == Ask(("welcome",), "zh-CN", 5.0)
    assert state == FlowState(node="main", language="zh-CN", attempts=0, done=False)
    assert record == StepRecord("main", "start")


@pytest.mark.parametrize(
    ("key", "target"),
    [
        ("1", Target(TargetKind.ROUTE, "enquiries")),
        ("2", Target(TargetKind.ROUTE, "complaints")),
        ("3", Target(TargetKind.ROUTE, "repairs")),
        ("0", Target(TargetKind.ROUTE, "emergency")),
        ("9", Target(TargetKind.CALLBACK)),
    ],
)
def test_key_leaves_with_its_target(sample: Menu, key: str, target: Target) -> None:
    state, actions, records = walk(sample, [Key(key)])
    assert actions[-1] == Leave(target, "zh-CN")
    assert state.done
    assert records[-1] == StepRecord("main", "key", key, str(target), input="key")


def test_step_after_leaving_is_refused(sample: Menu) -> None:
    state, _, _ = walk(sample, [Key("1")])
    with pytest.raises(ValueError, match="already finished"):
        step(sample, state, Key("1"))


# --- failures -------------------------------------------------------------------------


def test_three_invalid_keys_leave_for_on_failure(sample: Menu) -> None:
    state, actions, records = walk(sample, keys("777"))
    assert actions == [
        Ask(("welcome",), "zh-CN", 5.0),
        Ask(("invalid", "menu_short"), "zh-CN", 5.0),  # attempt 2
        Ask(("invalid", "menu_short"), "zh-CN", 5.0),  # attempt 3
        Leave(Target(TargetKind.OPERATOR), "zh-CN"),
    ]
    assert [r.event for r in records] == ["start", "invalid", "invalid", "invalid"]
    assert records[1].key == "7"
    assert records[-1].detail == "3 failed attempts: operator"
    assert state.done and state.attempts == 3


def test_two_invalid_keys_do_not_leave(sample: Menu) -> None:
    state, actions, _ = walk(sample, keys("77"))
    assert isinstance(actions[-1], Ask)
    assert state.attempts == 2 and not state.done
    # ... and a valid key still works on the last attempt
    _, action, _ = step(sample, state, Key("2"))
    assert action == Leave(Target(TargetKind.ROUTE, "complaints"), "zh-CN")


def test_three_timeouts_leave_for_on_failure(sample: Menu) -> None:
    # without max_timeouts (the sample has 2), silences count like any failure
    main = dataclasses.replace(sample.node("main"), max_timeouts=0)
    _, actions, records = walk(dataclasses.replace(sample, nodes={"main": main}), keys("TTT"))
    assert actions[1:] == [
        Ask(("timeout", "menu_short"), "zh-CN", 5.0),
        Ask(("timeout", "menu_short"), "zh-CN", 5.0),
        Leave(Target(TargetKind.OPERATOR), "zh-CN"),
    ]
    assert [r.event for r in records[1:]] == ["timeout", "timeout", "timeout"]


def test_invalid_and_timeout_count_together(sample: Menu) -> None:
    _, actions, records = walk(sample, keys("7T#"))  # '#' has no option in the sample
    assert actions[1:] == [
        Ask(("invalid", "menu_short"), "zh-CN", 5.0),
        Ask(("timeout", "menu_short"), "zh-CN", 5.0),
        Leave(Target(TargetKind.OPERATOR), "zh-CN"),
    ]
    assert [(r.event, r.key) for r in records[1:]] == [
        ("invalid", "7"),
        ("timeout", ""),
        ("invalid", "#"),
    ]


def test_non_dtmf_digit_is_invalid(sample: Menu) -> None:
    _, actions, records = walk(sample, [Key("A")])
    assert actions[-1] == Ask(("invalid", "menu_short"), "zh-CN", 5.0)
    assert records[-1].event == "invalid"


def test_max_attempts_one_leaves_on_the_first_failure() -> None:
    m = menu(node("main", {"1": "callback"}, on_failure="voicemail", max_attempts=1))
    _, actions, _ = walk(m, keys("T"))
    assert actions[-1] == Leave(Target(TargetKind.VOICEMAIL), "zh-CN")


# --- repeat and language --------------------------------------------------------------


def test_star_repeats_the_prompt_without_counting_a_failure(sample: Menu) -> None:
    state, actions, records = walk(sample, keys("7*"))
    assert actions[-1] == Ask(("welcome",), "zh-CN", 5.0)  # no apology on a repeat
    assert records[-1] == StepRecord("main", "repeat", "*", input="key")
    assert state.attempts == 1  # the earlier invalid key still counts, the repeat does not
    # Repeating many times never exhausts the attempts.
    state, actions, _ = walk(sample, keys("*" * 10))
    assert state.attempts == 0 and not state.done
    assert actions[-1] == Ask(("welcome",), "zh-CN", 5.0)


def test_star_then_key_routes(sample: Menu) -> None:
    _, actions, _ = walk(sample, keys("*1"))
    assert actions[-1] == Leave(Target(TargetKind.ROUTE, "enquiries"), "zh-CN")


def test_language_key_switches_following_prompts(sample: Menu) -> None:
    state, actions, records = walk(sample, keys("8"))
    assert actions[-1] == Ask(("welcome",), "en", 5.0)
    assert state.language == "en"
    assert records[-1] == StepRecord("main", "language", "8", "en", input="key")
    _, actions, _ = walk(sample, keys("87"))
    assert actions[-1] == Ask(("invalid", "menu_short"), "en", 5.0)
    _, actions, _ = walk(sample, keys("81"))
    assert actions[-1] == Leave(Target(TargetKind.ROUTE, "enquiries"), "en")
    _, actions, _ = walk(sample, keys("8777"))
    assert actions[-1] == Leave(Target(TargetKind.OPERATOR), "en")


def test_language_switch_does_not_count_as_a_failure(sample: Menu) -> None:
    state, _, _ = walk(sample, keys("78"))
    assert state.attempts == 1


# --- submenus ---------------------------------------------------------------------------


@pytest.fixture
def nested() -> Menu:
    return menu(
        node("main", {"1": "menu:billing", "2": "route:sales", "*": "repeat"}),
        node(
            "billing",
            {"1": "route:billing", "0": "menu:main"},
            on_failure="voicemail",
            prompt="billing_menu",
            max_attempts=2,
            timeout=8,
        ),
    )


def test_submenu_entry_resets_attempts(nested: Menu) -> None:
    state, actions, records = walk(nested, keys("71"))
    assert state == FlowState(node="billing", language="zh-CN", attempts=0)
    assert actions[-1] == Ask(("billing_menu",), "zh-CN", 8.0)  # no leftover apology
    assert records[-1] == StepRecord("main", "key", "1", "menu:billing", input="key")


def test_submenu_uses_its_own_attempts_and_on_failure(nested: Menu) -> None:
    _, actions, records = walk(nested, keys("771T"))
    # two failures at main (of 3), then billing: one timeout asked again, ...
    assert actions[-1] == Ask(("timeout", "billing_menu"), "zh-CN", 8.0)
    _, actions, records = walk(nested, keys("771TT"))
    # ... and the second failure in billing (max 2) leaves for billing's on_failure.
    assert actions[-1] == Leave(Target(TargetKind.VOICEMAIL), "zh-CN")
    assert records[-1].node == "billing"
    assert records[-1].detail == "2 failed attempts: voicemail"


def test_back_to_the_main_menu_resets_attempts(nested: Menu) -> None:
    state, actions, _ = walk(nested, keys("170"))
    assert state.node == "main" and state.attempts == 0
    assert actions[-1] == Ask(("main_prompt",), "zh-CN", 5.0)
    _, actions, _ = walk(nested, keys("1701"))
    assert actions[-1] == Ask(("billing_menu",), "zh-CN", 8.0)
    _, actions, _ = walk(nested, keys("11"))
    assert actions[-1] == Leave(Target(TargetKind.ROUTE, "billing"), "zh-CN")


def test_start_event_restarts_at_the_start_node(nested: Menu) -> None:
    state, _, _ = walk(nested, keys("17"))
    state, action, record = step(nested, state, Start())
    assert state == FlowState("main", "zh-CN")
    assert action == Ask(("main_prompt",), "zh-CN", 5.0)
    assert record.event == "start"


def test_on_failure_menu_target_enters_that_node() -> None:
    m = menu(
        node("main", {"1": "route:sales"}, on_failure="menu:help", max_attempts=2),
        node("help", {"1": "route:sales"}, on_failure="operator", prompt="help_prompt"),
    )
    state, actions, _ = walk(m, keys("77"))
    # The caller hears why (the apology for the last failure), then the new node's prompt.
    assert actions[-1] == Ask(("invalid", "help_prompt"), "zh-CN", 5.0)
    assert state.node == "help" and state.attempts == 0 and not state.done
    state, actions, _ = walk(m, keys("771"))
    assert actions[-1] == Leave(Target(TargetKind.ROUTE, "sales"), "zh-CN")


# --- reachability and targets ------------------------------------------------------------


def test_reachable_follows_options_and_on_failure() -> None:
    m = menu(
        node("main", {"1": "menu:billing", "2": "menu:missing"}, on_failure="menu:help"),
        node("billing", {"0": "menu:main"}),
        node("help", {"1": "callback"}),
        node("orphan", {"1": "menu:main"}),
    )
    assert m.reachable() == {"main", "billing", "help"}


def test_sample_menu_is_entirely_reachable(sample: Menu) -> None:
    assert sample.reachable() == set(sample.nodes) == {"main"}


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("route:enquiries", Target(TargetKind.ROUTE, "enquiries")),
        ("menu: billing ", Target(TargetKind.MENU, "billing")),
        ("language:en", Target(TargetKind.LANGUAGE, "en")),
        ("callback", Target(TargetKind.CALLBACK)),
        ("hangup", Target(TargetKind.HANGUP)),
    ],
)
def test_parse_target(text: str, target: Target) -> None:
    assert parse_target(text) == target


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nosuch", "unknown target 'nosuch'"),
        ("route:", "needs a name"),
        ("menu", "needs a name"),
        ("callback:now", "takes no argument"),
    ],
)
def test_parse_target_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_target(text)


def test_target_str_round_trips() -> None:
    for text in ("route:enquiries", "menu:billing", "language:en", "operator", "repeat"):
        assert str(parse_target(text)) == text


# --- menus callers don't hate (issue 10): short re-prompts, silences -------------------


def test_after_a_failure_the_apology_is_followed_by_the_short_list(
    sample_config: HotlineConfig,
) -> None:
    _, actions, _ = walk(sample_config.menu, keys("7"))
    assert actions[-1] == Ask(("invalid", "menu_short"), "zh-CN", 5.0)
    _, actions, _ = walk(sample_config.menu, keys("T"))
    assert actions[-1] == Ask(("timeout", "menu_short"), "zh-CN", 5.0)
    # the whole welcome again only when asked for
    _, actions, records = walk(sample_config.menu, keys("7*"))
    assert actions[-1] == Ask(("welcome",), "zh-CN", 5.0) and records[-1].event == "repeat"


def test_two_silences_reach_a_person(sample_config: HotlineConfig) -> None:
    state, actions, records = walk(sample_config.menu, keys("TT"))
    assert actions[-1] == Leave(Target(TargetKind.OPERATOR), "zh-CN")
    assert records[-1].detail == "2 silences: operator" and state.done


def test_three_wrong_keys_reach_a_person(sample_config: HotlineConfig) -> None:
    _, actions, records = walk(sample_config.menu, keys("777"))
    assert actions[-1] == Leave(Target(TargetKind.OPERATOR), "zh-CN")
    assert records[-1].detail == "3 failed attempts: operator"


def test_a_wrong_key_and_a_silence_ask_again(sample_config: HotlineConfig) -> None:
    state, actions, _ = walk(sample_config.menu, keys("7T"))
    assert actions[-1] == Ask(("timeout", "menu_short"), "zh-CN", 5.0)
    assert (state.attempts, state.timeouts) == (2, 1)
    _, actions, records = walk(sample_config.menu, keys("7T7"))
    assert records[-1].detail == "3 failed attempts: operator"


def test_the_ask_carries_the_keys_the_node_offers(sample_config: HotlineConfig) -> None:
    _, actions, _ = walk(sample_config.menu, [])
    ask = actions[-1]
    assert isinstance(ask, Ask) and ask.keys == "*012389"
