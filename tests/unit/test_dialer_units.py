"""The dialer's pure parts: pacing, the Originate it sends, what AMI events mean,
the chooser's decisions at fixed instants, and callbacks.yaml validation."""

from __future__ import annotations

import queue
import shutil
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from ivr.config import ConfigError, load_config
from ivr.dialer import protocol
from ivr.dialer.asterisk_conf import render
from ivr.dialer.pacing import TokenBucket, progressive_capacity
from ivr.dialer.policy import FreeSeat, make_chooser, skill_for
from ivr.dialer.worker import Dialer, TurnGuard
from ivr.domain.calendar import parse_window
from ivr.domain.callbacks import (
    CallbackRequest,
    CallbackState,
    CallingRules,
    Close,
    Defer,
    Dial,
    Skip,
)
from ivr.domain.routing import Branch, RoutingPolicy

REPO = Path(__file__).resolve().parents[2]
SH = ZoneInfo("Asia/Shanghai")
MON_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SH)

# --- pacing ----------------------------------------------------------------------------


def test_token_bucket_holds_the_rate() -> None:
    bucket = TokenBucket(rate=5, burst=1)
    t, taken = 100.0, []
    while t < 102.0:  # two seconds, asked every 10 ms
        if bucket.take(t):
            taken.append(t)
        t += 0.01
    assert len(taken) == 10  # 5/s, the first at once
    gaps = [b - a for a, b in zip(taken, taken[1:], strict=False)]
    assert min(gaps) == pytest.approx(0.2, abs=0.011)
    assert TokenBucket(rate=5, burst=3).available(0.0) == 3
    assert bucket.wait_time(t) == pytest.approx(0.2 - (t - taken[-1]), abs=0.011)


def test_progressive_capacity_never_exceeds_free_agents() -> None:
    assert progressive_capacity(0, 20, 5, 0.5) == 0
    assert progressive_capacity(2, 20, 100, 1) == 2
    assert progressive_capacity(50, 7, 100, 1) == 7
    with pytest.raises(ValueError):
        TokenBucket(rate=0)


# --- the Originate and the events ------------------------------------------------------------


def spec(**kw: object) -> protocol.OriginateSpec:
    values: dict[str, object] = dict(
        action_id="hotline-cb-7-2", seat="seat3", number="+86 138 0000 0002", language="en",
        branch="complaints", agent_ring_seconds=15, customer_ring_seconds=25,
    )  # fmt: skip
    values.update(kw)
    return protocol.OriginateSpec(**values)  # type: ignore[arg-type]


def test_originate_is_async_agent_first_and_tagged() -> None:
    f = protocol.originate_fields(spec())
    assert f["Async"] == "true"
    assert (f["Channel"], f["Context"], f["Exten"]) == ("PJSIP/seat3", "hotline-callback-out", "s")
    assert f["ActionID"] == f["Account"] == "hotline-cb-7-2"
    assert f["Timeout"] == "15000"
    assert f["Variable"] == (
        "HOTLINE_CB_ATTEMPT=hotline-cb-7-2,HOTLINE_CB_NUMBER=+8613800000002,"
        "HOTLINE_CB_RING=25,HOTLINE_LANG=en"
    )
    assert f["CallerID"] == '"CB en complaints" <+8613800000002>'


def test_originate_refuses_injection() -> None:
    hostile = protocol.originate_fields(spec(language="en,X=1\r\n", branch="a\r\nAction: Hangup"))
    assert "\r" not in str(hostile) and "\n" not in str(hostile)
    assert hostile["Variable"].endswith("HOTLINE_LANG=enX1")
    with pytest.raises(ValueError):
        protocol.originate_fields(spec(action_id="hotline-cb-1-1\r\nAction: Hangup"))


def test_events_from_captured_ami_lines() -> None:
    ev = protocol.parse_event
    user = {"UserEvent": "HotlineCallback", "Attempt": "hotline-cb-7-2"}
    assert ev("UserEvent", user | {"Status": "CONNECTED"}) == protocol.Connected("hotline-cb-7-2")
    assert ev("UserEvent", user | {"Status": "BUSY"}) == protocol.Ended("hotline-cb-7-2", "BUSY")
    assert ev("UserEvent", user | {"Status": "AGENT"}) is None
    assert ev("UserEvent", {"UserEvent": "Other", "Attempt": "hotline-cb-7-2"}) is None
    failed = {"Response": "Failure", "ActionID": "hotline-cb-7-2", "Reason": "3"}
    assert ev("OriginateResponse", failed) == protocol.AgentLegFailed(
        "hotline-cb-7-2", "agent leg no answer (3)"
    )
    assert ev("OriginateResponse", failed | {"Response": "Success", "Reason": "4"}) is None
    assert ev("OriginateResponse", failed | {"ActionID": "42"}) is None
    state = {"Device": "PJSIP/seat2", "State": "INUSE"}
    assert ev("DeviceStateChange", state) == protocol.DeviceState("seat2", "INUSE")
    channels = [
        ("CoreShowChannel", {"AccountCode": "hotline-cb-7-2", "Channel": "PJSIP/seat3-00000001"}),
        ("CoreShowChannel", {"AccountCode": "", "Channel": "PJSIP/anonymous-00000002"}),
        ("CoreShowChannelsComplete", {"ListItems": "2"}),
    ]
    assert protocol.live_accounts(channels) == {"hotline-cb-7-2"}


@pytest.mark.parametrize(
    "attempt", ["hotline-cb-7-2\n", "hotline-cb-\u0667-2", "hotline-cb-7-\uff12", " hotline-cb-7-2"]
)
def test_an_attempt_id_is_ascii_digits_without_a_trailing_newline(attempt: str) -> None:
    user = {"UserEvent": "HotlineCallback", "Attempt": attempt, "Status": "BUSY"}
    assert protocol.parse_event("UserEvent", user) is None
    failed = {"Response": "Failure", "ActionID": attempt, "Reason": "3"}
    assert protocol.parse_event("OriginateResponse", failed) is None
    assert protocol.live_accounts([("CoreShowChannel", {"AccountCode": attempt})]) == set()


def test_event_words_are_stripped_of_control_characters_and_bounded() -> None:
    """What the dialer stores or logs from an event: never a NUL (PostgreSQL refuses
    it), a line break or a megabyte."""
    ev = protocol.parse_event
    user = {"UserEvent": "HotlineCallback", "Attempt": "hotline-cb-7-2"}
    ended = ev("UserEvent", user | {"Status": "busy\x00\r\nAction: X" + "Y" * 100_000})
    assert isinstance(ended, protocol.Ended)
    assert ended.dial_status.startswith("BUSYACTION X") and len(ended.dial_status) <= 32
    failed = {"Response": "Failure", "ActionID": "hotline-cb-7-2", "Reason": "3\x00\n" * 9999}
    leg = ev("OriginateResponse", failed)
    assert isinstance(leg, protocol.AgentLegFailed)
    assert "\x00" not in leg.reason and "\n" not in leg.reason and len(leg.reason) < 80
    state = ev("DeviceStateChange", {"Device": "PJSIP/seat\x002", "State": "IN\r\nUSE"})
    assert state == protocol.DeviceState("seat 2", "INUSE")


def test_dialplan_renders_with_the_configured_trunk() -> None:
    settings = load_config(REPO / "config").callbacks
    text = render(settings.dialer)
    ext = text["extensions_callbacks.conf"]
    assert "Dial(PJSIP/${number}@customers,${IF(" in ext
    assert "U(hotline-callback-connected^${attempt})" in ext
    assert "hangup_handler_push)=hotline-callback-end,s,1(${attempt})" in ext
    assert "@{" not in ext
    assert "contact = sip:127.0.0.1:5080" in text["pjsip_callbacks.conf"]


# --- the chooser, at fixed instants ------------------------------------------------------------

RULES = CallingRules(
    weekly={d: (parse_window("09:00-20:00"),) for d in ("mon", "tue", "wed", "thu", "fri")},
    default_tz=SH,
    tz_by_prefix={"+1": ZoneInfo("America/New_York")},
    holidays=frozenset({date(2026, 10, 1)}),
    do_not_call=frozenset({"+8613700000000"}),
)
POLICY = RoutingPolicy(
    branches={"complaints": Branch("complaints", "complaints", 2)}, max_wait_seconds=120
)
SEATS = [FreeSeat("seat3", "li", frozenset({"enquiries"})), FreeSeat("seat2", "chen",
         frozenset({"complaints"}))]  # fmt: skip


def req(number: str = "+8613800000002", **kw: object) -> CallbackRequest:
    values: dict[str, object] = dict(
        id=1, number=number, matter="ivr", state=CallbackState.SCHEDULED, language="zh-CN",
        branch="complaints", source="ivr", arrived_at=MON_10 - timedelta(minutes=5),
        due_at=MON_10, deadline=None, expires_at=MON_10 + timedelta(days=7), attempts=0,
        tz="Asia/Shanghai", created_at=MON_10, updated_at=MON_10,
    )  # fmt: skip
    values.update(kw)
    return CallbackRequest(**values)  # type: ignore[arg-type]


def test_chooser_gives_a_free_skilled_seat_once() -> None:
    choose = make_chooser(MON_10, RULES, POLICY, SEATS, [])
    assert choose(req()) == Dial("seat2", "chen")
    assert choose(req(id=2)) == Skip("no free agent with skill complaints")
    assert choose(req(id=3, branch="menu")) == Dial("seat3", "li")  # any agent
    assert skill_for("operator", POLICY) is None


def test_chooser_keeps_calling_hours_in_the_customers_zone() -> None:
    choose = make_chooser(MON_10, RULES, POLICY, SEATS, [])
    ny = choose(req("+12125550100", tz="America/New_York"))  # Sunday 21:00 in New York
    assert isinstance(ny, Defer) and "America/New_York" in ny.reason
    assert ny.due_at == datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    evening = make_chooser(datetime(2026, 11, 23, 20, 30, tzinfo=SH), RULES, POLICY, SEATS, [])
    assert evening(req()) == Defer(
        datetime(2026, 11, 24, 9, 0, tzinfo=SH), "outside calling hours (Mon 20:30 Asia/Shanghai)"
    )


def test_chooser_on_a_holiday_and_for_do_not_call() -> None:
    holiday = datetime(2026, 10, 1, 10, 0, tzinfo=SH)
    choose = make_chooser(holiday, RULES, POLICY, SEATS, [])
    decision = choose(req(expires_at=holiday + timedelta(days=7)))
    assert isinstance(decision, Defer) and "holiday" in decision.reason
    assert decision.due_at == datetime(2026, 10, 2, 9, 0, tzinfo=SH)
    allowed = CallingRules(**{**RULES.__dict__, "dial_on_holidays": True})
    assert make_chooser(holiday, allowed, POLICY, SEATS, [])(req()) == Dial("seat2", "chen")
    dnc = choose(req("+8613700000000"))
    assert isinstance(dnc, Close) and dnc.state is CallbackState.CANCELLED


def test_chooser_never_puts_a_callback_ahead_of_earlier_waiting_callers() -> None:
    arrived = MON_10 - timedelta(minutes=5)
    earlier = [("complaints", arrived - timedelta(seconds=30))]
    later = [("complaints", arrived + timedelta(seconds=30)), ("enquiries", arrived)]
    assert isinstance(make_chooser(MON_10, RULES, POLICY, SEATS, earlier)(req()), Skip)
    assert make_chooser(MON_10, RULES, POLICY, SEATS, later)(req()) == Dial("seat2", "chen")


def test_chooser_expires_old_requests() -> None:
    choose = make_chooser(MON_10, RULES, POLICY, SEATS, [])
    gone = choose(req(expires_at=MON_10))
    assert isinstance(gone, Close) and gone.state is CallbackState.EXPIRED


# --- callbacks.yaml ---------------------------------------------------------------------


def test_shipped_callbacks_config_loads() -> None:
    s = load_config(REPO / "config").callbacks
    assert s.dialer.originate_rate == 5.0
    assert s.default_tz.key == "Asia/Shanghai"
    assert s.rule_for("complaint:202611-0001").days == 3  # type: ignore[union-attr]
    assert s.calling_rules([date(2026, 10, 1)]).holidays == {date(2026, 10, 1)}
    assert s.dialer.dial_string("+86 138-0000-0002") == "PJSIP/+8613800000002@customers"


@pytest.mark.parametrize(
    ("path", "value", "item", "reason"),
    [
        (("calling_hours", "weekly", "mon"), ["25:00-26:00"], "calling_hours.weekly.mon[0]",
         "not a valid time"),
        (("calling_hours", "timezone"), "Mars/Base", "calling_hours.timezone", "unknown time zone"),
        (("dialer", "originate_rate"), 0, "dialer.originate_rate", "must be positive"),
        (("dialer", "customer_dial"), "PJSIP/customers", "dialer.customer_dial", "{number}"),
        (("rules", "complaint", "kind"), "weekly", "rules.complaint.kind", "not one of"),
        (("rules", "complaint", "branch"), "sales", "rules.complaint.branch", "no branch"),
        (("retry", "backoff_minutes"), [], "retry.backoff_minutes", "at least one"),
    ],
)  # fmt: skip
def test_bad_callbacks_config_names_file_item_and_reason(
    tmp_path: Path, path: tuple[str, ...], value: object, item: str, reason: str
) -> None:
    import yaml

    shutil.copytree(REPO / "config", tmp_path / "c")
    file = tmp_path / "c" / "callbacks.yaml"
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    file.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "c")
    assert (err.value.file, err.value.item) == ("callbacks.yaml", item)
    assert reason in err.value.reason


def test_utc_instants_work_too() -> None:
    choose = make_chooser(MON_10.astimezone(UTC), RULES, POLICY, SEATS, [])
    assert choose(req()) == Dial("seat2", "chen")


# --- a failed turn of the loop --------------------------------------------------------


def test_the_turn_guard_logs_the_first_failure_then_one_line_a_minute_then_the_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    guard = TurnGuard("dialer", clock=lambda: now[0])
    caplog.set_level("WARNING")
    for t in (0.0, 1.0, 30.0, 61.0, 62.0):
        now[0] = t
        with guard:
            raise OSError(f"the database went away at {t}")
    assert guard.failing == 5
    failed = [r for r in caplog.records if "turn" in r.getMessage()]
    assert [r.exc_info is not None for r in failed] == [True, False]  # 0 s, then 61 s
    assert "at 61.0" in failed[1].getMessage() and "(4 in a row)" in failed[1].getMessage()
    with guard:
        pass
    assert guard.failing == 0 and "succeeded again after 5 failed" in caplog.text
    with pytest.raises(KeyboardInterrupt), guard:
        raise KeyboardInterrupt  # not swallowed: the loop must be stoppable


def test_a_failed_turn_of_the_asterisk_dialer_does_not_end_its_loop() -> None:
    """The Asterisk dialer's loop goes on after a turn that raises (the database away),
    as the Twilio dialer's does (test_twilio_dialer)."""

    class Link:
        events: queue.Queue[tuple[str, dict[str, str]]] = queue.Queue()
        started = stopped = False

        def start(self) -> None:
            self.started = True

        def stop(self) -> None:
            self.stopped = True

    settings = load_config(REPO / "config").callbacks
    settings = replace(settings, dialer=replace(settings.dialer, poll_seconds=0.01))
    deps = SimpleNamespace(settings=settings, repo=None, intake=None)
    link = Link()
    dialer = Dialer(deps, link)  # type: ignore[arg-type]
    turns: list[int] = []

    def step() -> None:
        turns.append(1)
        if len(turns) < 3:
            raise RuntimeError("the database went away")
        dialer.stop()

    dialer.step = step  # type: ignore[method-assign]
    thread = threading.Thread(target=dialer.run, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and len(turns) == 3 and link.started and link.stopped
