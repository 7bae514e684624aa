"""The satisfaction survey: the pure step function, its config section (hostile values
refused with the file, the item and the reason), and the use case over its ports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from config_files import edit
from hypothesis import given
from hypothesis import strategies as st

from ivr.app.survey import Surveys
from ivr.config import ConfigError, load_config
from ivr.domain.calllog import CallEnded, CallEvent
from ivr.domain.menu import Ask
from ivr.domain.survey import (
    PROMPT_ASK,
    PROMPT_INVALID,
    PROMPT_TIMEOUT,
    SurveyDone,
    SurveyOutcome,
    SurveyPolicy,
    SurveyResult,
    begin,
    left,
    step,
    tally,
)

POLICY = SurveyPolicy()  # 1-5, "0" not resolved, 2 attempts


def run(keys: list[str | None], policy: SurveyPolicy = POLICY) -> tuple[list[Ask], SurveyDone]:
    state, action = begin(policy, "en")
    asked: list[Ask] = [action]
    for key in keys:
        state, nxt = step(policy, state, key)
        if isinstance(nxt, SurveyDone):
            return asked, nxt
        asked.append(nxt)
    raise AssertionError(f"survey not finished after {keys}")


def test_a_key_on_the_scale_is_the_score() -> None:
    asked, done = run(["4"])
    assert asked[0].prompts == (PROMPT_ASK,) and asked[0].language == "en"
    assert done == SurveyDone(SurveyOutcome.SCORED, 4, "4")


def test_the_not_resolved_key() -> None:
    assert run(["0"])[1] == SurveyDone(SurveyOutcome.NOT_RESOLVED, None, "0")


def test_an_invalid_key_is_asked_again_then_a_score_counts() -> None:
    asked, done = run(["7", "2"])
    assert asked[1].prompts == (PROMPT_INVALID, PROMPT_ASK)
    assert done == SurveyDone(SurveyOutcome.SCORED, 2, "72")


def test_an_invalid_key_then_a_timeout_is_no_answer() -> None:
    asked, done = run(["9", None])
    assert asked[1].prompts == (PROMPT_INVALID, PROMPT_ASK)
    assert done == SurveyDone(SurveyOutcome.NO_ANSWER, None, "9")


def test_a_timeout_asks_again_with_the_timeout_prompt() -> None:
    asked, done = run([None, None])
    assert asked[1].prompts == (PROMPT_TIMEOUT, PROMPT_ASK)
    assert done.outcome is SurveyOutcome.NO_ANSWER and done.keys == ""


def test_star_and_hash_are_not_scores() -> None:
    assert run(["*", "#"])[1].outcome is SurveyOutcome.NO_ANSWER


def test_no_not_resolved_key_makes_0_invalid() -> None:
    policy = SurveyPolicy(not_resolved_key="", low=0, high=9, attempts=1)
    assert run(["0"], policy)[1] == SurveyDone(SurveyOutcome.SCORED, 0, "0")
    policy = SurveyPolicy(not_resolved_key="", attempts=1)
    assert run(["0"], policy)[1].outcome is SurveyOutcome.NO_ANSWER


def test_left_keeps_the_keys_so_far_and_a_finished_survey_takes_no_more() -> None:
    state, _ = begin(POLICY, "zh-CN")
    state, _ = step(POLICY, state, "8")
    assert left(state) == SurveyDone(SurveyOutcome.LEFT, None, "8")
    state, _ = step(POLICY, state, "5")
    with pytest.raises(ValueError):
        step(POLICY, state, "5")


def test_per_branch_switch() -> None:
    policy = SurveyPolicy(off_branches=frozenset({"emergency"}))
    assert policy.applies_to("enquiries") and not policy.applies_to("emergency")
    assert not SurveyPolicy(enabled=False).applies_to("enquiries")


@given(st.lists(st.one_of(st.none(), st.sampled_from(list("0123456789*#"))), max_size=12))
def test_any_keys_end_in_at_most_attempts_questions(keys: list[str | None]) -> None:
    state, action = begin(POLICY, "en")
    questions = 1
    for key in keys:
        state, action = step(POLICY, state, key)
        if isinstance(action, SurveyDone):
            break
        questions += 1
    assert questions <= POLICY.attempts
    if isinstance(action, SurveyDone) and action.score is not None:
        assert POLICY.low <= action.score <= POLICY.high


def test_tally_rate_and_average() -> None:
    t = tally(
        [
            (SurveyOutcome.SCORED, 5),
            (SurveyOutcome.SCORED, 3),
            (SurveyOutcome.NOT_RESOLVED, None),
            (SurveyOutcome.NO_ANSWER, None),
        ],
        POLICY,
    )
    assert (t.offered, t.scored, t.satisfied, t.not_resolved, t.no_answer) == (4, 2, 1, 1, 1)
    assert t.average == 4.0 and t.rate == 0.5
    assert tally([], POLICY).rate is None


# --- config -------------------------------------------------------------------------

SAMPLE = "  scale: {low: 1, high: 5}      # keys 1-5 are scores (5 best)"


def test_the_sample_survey_config(config_dir: Path) -> None:
    policy = load_config(config_dir).survey
    assert (policy.low, policy.high, policy.not_resolved_key) == (1, 5, "0")
    assert policy.off_branches == {"emergency"} and policy.enabled


def test_no_survey_section_means_no_survey(config_dir: Path) -> None:
    path = config_dir / "hotline.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index("survey:")], encoding="utf-8")
    assert not load_config(config_dir).survey.enabled


@pytest.mark.parametrize(
    ("old", "new", "item", "reason"),
    [
        (SAMPLE, "  scale: {low: 5, high: 5}", "survey.scale.high", "above scale.low"),
        (SAMPLE, "  scale: {low: 1, high: 10}", "survey.scale.high", "0-9"),
        (SAMPLE, "  scale: {low: -1, high: 5}", "survey.scale.low", "at least 0"),
        (SAMPLE, "  scale: {low: 1, high: five}", "survey.scale.high", "whole number"),
        (SAMPLE, "  scale: {low: 1, hi: 5}", "survey.scale.hi", "unknown key"),
        ('not_resolved_key: "0"', 'not_resolved_key: "3"', "survey.not_resolved_key", "scale"),
        ('not_resolved_key: "0"', 'not_resolved_key: "#"', "survey.not_resolved_key", "digit"),
        ('not_resolved_key: "0"', 'not_resolved_key: "00"', "survey.not_resolved_key", "digit"),
        ("satisfied_from: 4", "satisfied_from: 6", "survey.satisfied_from", "scale"),
        ("timeout_seconds: 6", "timeout_seconds: 0", "survey.timeout_seconds", "positive"),
        ("timeout_seconds: 6", "timeout_seconds: 1000", "survey.timeout_seconds", "1 to 30"),
        ("attempts: 2 ", "attempts: 0 ", "survey.attempts", "at least 1"),
        ("attempts: 2 ", "attempts: 99 ", "survey.attempts", "1 to 5"),
        ("    emergency: false", "    nowhere: false", "survey.branches.nowhere", "branch"),
        ("    emergency: false", "    emergency: maybe", "survey.branches.emergency", "true"),
        (
            "survey:\n  enabled: true",
            "survey:\n  enabled: true\n  colour: blue",
            "survey.colour",
            "unknown key",
        ),
        (
            "survey:\n  enabled: true",
            "survey:\n  enabled: yes please",
            "survey.enabled",
            "true or false",
        ),
    ],
)
def test_bad_survey_config_is_refused_naming_the_item(
    config_dir: Path, old: str, new: str, item: str, reason: str
) -> None:
    edit(config_dir, "hotline.yaml", old, new)
    with pytest.raises(ConfigError) as info:
        load_config(config_dir)
    assert info.value.file == "hotline.yaml"
    assert info.value.item == item
    assert reason in info.value.reason


def test_survey_prompts_are_required_when_the_survey_is_on(config_dir: Path) -> None:
    edit(config_dir, "prompts.yaml", "  survey_thanks:", "  survey_thanks_x:")
    with pytest.raises(ConfigError) as info:
        load_config(config_dir)
    assert info.value.item == "prompts.survey_thanks"


# --- the use case over its ports ----------------------------------------------------


class Store:
    def __init__(self) -> None:
        self.rows: dict[str, SurveyResult] = {}

    def record(self, result: SurveyResult) -> bool:
        if result.call_uid in self.rows:
            return False
        self.rows[result.call_uid] = result
        return True


class Log:
    def __init__(self) -> None:
        self.events: list[CallEvent] = []

    def record(self, event: CallEvent) -> None:
        self.events.append(event)


def surveys(store: Store, log: Log, flagged: list[str]) -> Surveys:
    t = [datetime(2026, 11, 23, 2, 0, tzinfo=UTC)]

    def clock() -> datetime:
        t[0] += timedelta(seconds=1)
        return t[0]

    return Surveys(
        SurveyPolicy(off_branches=frozenset({"emergency"})),
        store,
        flagged.append,
        log,
        clock,
        {"seat3": "li"}.get,  # type: ignore[arg-type]
    )


def test_the_use_case_stores_one_survey_and_ends_the_call_when_the_seat_hung_up() -> None:
    store, log, flagged = Store(), Log(), []
    s = surveys(store, log, flagged)
    session = s.start("u1", "enquiries", "seat3", "en")
    assert session is not None
    session.begin()
    assert [type(e) for e in log.events] == [CallEnded]
    session.on_input("5")
    row = store.rows["u1"]
    assert (row.outcome, row.score, row.agent_id, row.branch, row.seat) == (
        SurveyOutcome.SCORED,
        5,
        "li",
        "enquiries",
        "seat3",
    )
    assert row.started_at == log.events[0].at < row.ended_at
    assert flagged == []
    # A second survey of the same call is not kept; nothing is flagged for it.
    again = s.start("u1", "enquiries", "seat3", "en")
    assert again is not None
    again.begin()
    again.on_input("0")
    assert store.rows["u1"].score == 5 and flagged == []


def test_not_resolved_goes_to_the_port_and_left_is_recorded() -> None:
    store, log, flagged = Store(), Log(), []
    s = surveys(store, log, flagged)
    session = s.start("u2", "complaints", "seat3", "zh-CN")
    assert session is not None
    session.begin()
    session.on_input("0")
    assert store.rows["u2"].outcome is SurveyOutcome.NOT_RESOLVED and flagged == ["u2"]
    gone = s.start("u3", "complaints", "seat3", "zh-CN")
    assert gone is not None
    gone.begin()
    gone.on_input("8")
    result = gone.left()
    assert result is not None and store.rows["u3"].outcome is SurveyOutcome.LEFT
    assert store.rows["u3"].keys == "8"
    assert gone.left() is result  # a second hang-up notice changes nothing


def test_no_survey_for_a_branch_switched_off_or_without_a_seat() -> None:
    s = surveys(Store(), Log(), [])
    assert s.start("u4", "emergency", "seat3", "en") is None
    assert s.start("u5", "enquiries", "", "en") is None
    assert s.start("", "enquiries", "seat3", "en") is None
    assert s.start("u6", "", "seat3", "en") is None
