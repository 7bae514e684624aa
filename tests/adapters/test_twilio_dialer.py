"""The callback dialer's Twilio backend against a local server that answers like Twilio's
Calls API (tests/twilio_api.py), through the real `twilio` REST client and the real
ledger on SQLite and PostgreSQL: created and answered, busy, no answer, the agent's leg
unanswered, a 429 and a 503 retried, a 500 on create not retried (no double call),
+86 refused and left for the Asterisk trunk."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy.exc import OperationalError
from twilio_api import ACCOUNT, FakeCallsApi, Outcome, fake_calls_api

from ivr.adapters.twilio.calls import (
    SETTLE_SECONDS,
    TIME_LIMIT_SECONDS,
    CallbackCall,
    CallRefusedError,
    RetryingHttpClient,
    TwilioCalls,
    rest_client,
)
from ivr.bootstrap import Runtime, build_twilio_dialer, callback_parts
from ivr.dialer.twilio_worker import TwilioDialer
from ivr.domain.callbacks import CallbackState

ABROAD = "+819012345678"  # no prefix in callbacks.yaml: called in Shanghai hours
CN = "+8613800000101"
TOKEN = "test-token"  # noqa: S105


@pytest.fixture
def api() -> Iterator[FakeCallsApi]:
    with fake_calls_api() as server:
        yield server


@pytest.fixture
def rt(web_runtime: Runtime) -> Runtime:
    cfg = web_runtime.config
    assert cfg.twilio is not None
    web_runtime.config = replace(
        cfg, twilio=replace(cfg.twilio, account_sid=ACCOUNT, auth_token=TOKEN)
    )
    return web_runtime


def _dialer(rt: Runtime, api: FakeCallsApi, sleeps: list[float]) -> TwilioDialer:
    http = RetryingHttpClient(api.base, retries=3, backoff_seconds=0.25, sleep=sleeps.append)
    return build_twilio_dialer(rt, http=http, name="twilio:test")


def _request(rt: Runtime, number: str, uid: str = "CA-test") -> int:
    promise = callback_parts(rt).intake.request_from_ivr(
        number, "zh-CN", "enquiries", rt.clock(), None, uid, "ivr"
    )
    return promise.id


def _run(dialer: TwilioDialer) -> None:
    """Place what is due, then read the results back (two loop turns)."""
    dialer.step()
    dialer.step()


def _state(rt: Runtime, request_id: int) -> tuple[CallbackState, str]:
    req = callback_parts(rt).repo.get(request_id)
    assert req is not None
    return req.state, req.last_outcome


def test_created_and_answered_agent_first(rt: Runtime, api: FakeCallsApi) -> None:
    rid = _request(rt, ABROAD)
    dialer = _dialer(rt, api, [])
    _run(dialer)
    assert _state(rt, rid) == (CallbackState.COMPLETED, "answered")
    (form,) = api.created
    assert form["To"].startswith("sip:seat") and form["To"].endswith("@pbx.example.com")
    assert form["From"] == "+14155550100" and form["Timeout"] == "15"
    assert form["TimeLimit"] == str(TIME_LIMIT_SECONDS)  # what bounds an unread call
    assert f"<Number>{ABROAD}</Number>" in form["Twiml"] and 'timeout="25"' in form["Twiml"]
    assert api.auth[0].startswith("Basic ")  # the account SID and the token
    assert dialer.inflight == {}


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome("completed", "busy"), "busy"),
        (Outcome("completed", "no-answer"), "no_answer"),
        (Outcome("completed", "failed"), "failed"),
        (Outcome("no-answer", None), "agent_unavailable"),
        (Outcome("completed", None), "agent_unavailable"),
    ],
)
def test_each_result_goes_into_the_ledger_with_its_retry(
    rt: Runtime, api: FakeCallsApi, outcome: Outcome, expected: str
) -> None:
    api.outcomes.append(outcome)
    rid = _request(rt, ABROAD)
    _run(_dialer(rt, api, []))
    state, last = _state(rt, rid)
    # due again later: the customer's retry, or soon for another agent
    again = CallbackState.SCHEDULED if expected == "agent_unavailable" else CallbackState.RETRY
    assert last == expected and state is again
    attempts = callback_parts(rt).repo.attempts(rid)
    assert [a.outcome for a in attempts] == [expected]
    assert attempts[0].counted is (expected != "agent_unavailable")


@pytest.mark.parametrize("code", [429, 503])
def test_a_429_or_503_is_retried_and_the_call_placed_once(
    rt: Runtime, api: FakeCallsApi, code: int
) -> None:
    api.errors = [(code, {"Retry-After": "1"}), (code, {})]
    rid = _request(rt, ABROAD)
    sleeps: list[float] = []
    _run(_dialer(rt, api, sleeps))
    assert sleeps == [1.0, 0.5]  # the server's Retry-After, then the doubling back-off
    assert len(api.created) == 1
    assert [m for m, _ in api.requests].count("POST") == 3
    assert _state(rt, rid) == (CallbackState.COMPLETED, "answered")


def test_a_500_on_create_is_not_retried_and_the_request_stays_due(
    rt: Runtime, api: FakeCallsApi
) -> None:
    api.errors = [(500, {})]
    rid = _request(rt, ABROAD)
    sleeps: list[float] = []
    dialer = _dialer(rt, api, sleeps)
    dialer.step()
    assert sleeps == [] and [m for m, _ in api.requests] == ["POST"]
    state, last = _state(rt, rid)
    assert last == "agent_unavailable" and state is CallbackState.SCHEDULED
    (attempt,) = callback_parts(rt).repo.attempts(rid)
    assert "HTTP 500" in attempt.detail and attempt.counted is False


def test_a_5xx_on_reading_a_result_is_retried(rt: Runtime, api: FakeCallsApi) -> None:
    rid = _request(rt, ABROAD)
    sleeps: list[float] = []
    dialer = _dialer(rt, api, sleeps)
    dialer.step()  # placed
    api.errors = [(502, {})]
    dialer.step()  # GET: 502, retried
    assert sleeps == [0.25]
    assert _state(rt, rid) == (CallbackState.COMPLETED, "answered")


def test_plus_86_is_refused_by_this_backend_and_left_for_the_asterisk_trunk(
    rt: Runtime, api: FakeCallsApi
) -> None:
    rid = _request(rt, CN)
    _run(_dialer(rt, api, []))
    assert api.requests == []  # nothing sent to Twilio
    state, _ = _state(rt, rid)
    assert state is CallbackState.SCHEDULED  # still due: the Asterisk dialer takes it
    assert callback_parts(rt).repo.attempts(rid) == []
    settings = rt.config.twilio
    assert settings is not None
    calls = TwilioCalls(settings, rest_client(settings, RetryingHttpClient(api.base)))
    with pytest.raises(CallRefusedError, match=r"\+86.*Asterisk trunk"):
        calls.place(CallbackCall("hotline-cb-1-1", "seat2", CN, 15, 25))


def test_calling_hours_and_do_not_call_hold_for_this_backend_too(
    rt: Runtime, api: FakeCallsApi
) -> None:
    rt.clock.at = rt.clock.at.replace(hour=23)  # type: ignore[attr-defined]
    rid = _request(rt, ABROAD)
    _run(_dialer(rt, api, []))
    assert api.created == []
    state, _ = _state(rt, rid)
    assert state is CallbackState.SCHEDULED


def test_attempts_lost_by_an_earlier_run_are_finished_as_unknown(
    rt: Runtime, api: FakeCallsApi
) -> None:
    api.outcomes.append(Outcome("in-progress", None))  # never ends while the first run lives
    rid = _request(rt, ABROAD)
    first = _dialer(rt, api, [])
    first.step()
    assert len(first.inflight) == 1
    second = _dialer(rt, api, [])
    second.step()
    (attempt,) = callback_parts(rt).repo.attempts(rid)
    assert attempt.outcome == "unknown" and "lost on restart" in attempt.detail


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("99999", 30.0),
        ("soon", 0.25),
        ("nan", 0.25),
        ("inf", 0.25),
        ("", 0.25),
    ],
)
def test_a_hostile_retry_after_is_bounded(
    rt: Runtime, api: FakeCallsApi, header: str, expected: float
) -> None:
    api.errors = [(429, {"Retry-After": header})]
    sleeps: list[float] = []
    _request(rt, ABROAD)
    _run(_dialer(rt, api, sleeps))
    assert sleeps == [expected] and len(api.created) == 1


def test_a_429_on_every_try_gives_up_without_a_call(rt: Runtime, api: FakeCallsApi) -> None:
    api.errors = [(429, {"Retry-After": "0"})] * 4
    rid = _request(rt, ABROAD)
    _dialer(rt, api, []).step()
    assert api.created == [] and [m for m, _ in api.requests] == ["POST"] * 4
    (attempt,) = callback_parts(rt).repo.attempts(rid)
    assert attempt.outcome == "agent_unavailable" and "HTTP 429" in attempt.detail


@pytest.mark.parametrize(
    "answer",
    [
        (201, b"<html><body>Service Unavailable</body></html>"),  # no JSON
        (201, b'{"sid": "CA0123'),  # cut short
        (201, b"[]"),  # JSON, not an object
        (201, b'{"status": "queued"}'),  # no SID
        (201, b'{"sid": 5, "status": "queued"}'),
        (201, b'{"sid": "CA/../../Accounts", "status": "queued"}'),  # not a call SID
        (0, b""),  # the connection closed without an answer
    ],
)
def test_a_create_answered_with_no_call_fails_the_attempt_and_the_request_stays_due(
    rt: Runtime, api: FakeCallsApi, answer: tuple[int, bytes]
) -> None:
    """Whatever comes back that names no call, the attempt ends (as after a 500: not
    counted, the request due again) and nothing is left in flight to poll for ever."""
    api.raw = [answer]
    rid = _request(rt, ABROAD)
    dialer = _dialer(rt, api, [])
    dialer.step()
    assert [m for m, _ in api.requests] == ["POST"] and dialer.inflight == {}
    state, last = _state(rt, rid)
    assert last == "agent_unavailable" and state is CallbackState.SCHEDULED
    (attempt,) = callback_parts(rt).repo.attempts(rid)
    assert "Calls API" in attempt.detail and attempt.counted is False


def test_a_reading_answered_with_garbage_keeps_the_call_in_flight_until_it_reads(
    rt: Runtime, api: FakeCallsApi
) -> None:
    rid = _request(rt, ABROAD)
    dialer = _dialer(rt, api, [])
    dialer.step()  # placed
    api.raw = [(200, b"not json"), (0, b"")]
    dialer.step()  # no JSON: still in flight
    dialer.step()  # no answer at all: still in flight
    assert len(dialer.inflight) == 1
    dialer.step()  # read
    assert dialer.inflight == {} and _state(rt, rid) == (CallbackState.COMPLETED, "answered")


def test_a_failed_turn_is_logged_and_the_loop_goes_on(
    rt: Runtime, api: FakeCallsApi, caplog: pytest.LogCaptureFixture
) -> None:
    """The database away for a turn (here: the first turn raises) must not end the
    dialer's thread, and with it every callback."""
    rid = _request(rt, ABROAD)
    dialer = _dialer(rt, api, [])
    real, turns = dialer.step, []

    def step() -> None:
        turns.append(1)
        if len(turns) == 1:
            raise OperationalError("SELECT 1", {}, Exception("the database went away"))
        real()
        if dialer.inflight == {} and _state(rt, rid)[0] is CallbackState.COMPLETED:
            dialer.stop()

    dialer.step = step  # type: ignore[method-assign]
    thread = threading.Thread(target=dialer.run, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive() and len(turns) >= 3
    assert _state(rt, rid) == (CallbackState.COMPLETED, "answered")
    assert "twilio dialer: a turn failed" in caplog.text


def test_a_call_twilio_no_longer_knows_is_finished_as_unknown_not_polled_for_ever(
    rt: Runtime, api: FakeCallsApi
) -> None:
    rid = _request(rt, ABROAD)
    dialer = _dialer(rt, api, [])
    dialer.step()  # placed
    assert len(dialer.inflight) == 1
    api.calls.clear()  # a 404 for it from now on
    dialer.step()
    assert dialer.inflight == {}
    (attempt,) = callback_parts(rt).repo.attempts(rid)
    assert attempt.outcome == "unknown" and "HTTP 404" in attempt.detail


@pytest.mark.parametrize("unread", ["unreadable", "never final"])
def test_a_call_whose_end_is_never_read_is_unknown_once_twilio_has_surely_ended_it(
    rt: Runtime, api: FakeCallsApi, unread: str
) -> None:
    """Reads that keep failing (not a 404), or a status that never turns final, held
    the seat busy for this dialer for ever. Twilio ends the call by its time limit
    (sent with it): past that, the rings and a few minutes, the attempt is unknown,
    the seat is free and the ledger's retry rules decide."""
    if unread == "never final":
        api.outcomes = [Outcome(agent="in-progress")]
    rid = _request(rt, ABROAD)
    sleeps: list[float] = []
    dialer = _dialer(rt, api, sleeps)
    now = [1000.0]
    dialer.monotonic = lambda: now[0]
    dialer.step()  # placed
    assert len(dialer.inflight) == 1
    ring = rt.config.callbacks.dialer
    over = ring.agent_ring_seconds + ring.customer_ring_seconds + TIME_LIMIT_SECONDS
    for at in (1.0, over, over + SETTLE_SECONDS - 1):  # the call may still be on
        now[0] = 1000.0 + at
        if unread == "unreadable":
            api.raw = [(502, b"<html>bad gateway</html>")] * 4  # each try of one read
        dialer.step()
        assert len(dialer.inflight) == 1, at
    assert callback_parts(rt).repo.attempts(rid)[0].outcome is None
    now[0] = 1000.0 + over + SETTLE_SECONDS
    if unread == "unreadable":
        api.raw = [(502, b"<html>bad gateway</html>")] * 4
    dialer.step()
    assert dialer.inflight == {}
    (attempt,) = callback_parts(rt).repo.attempts(rid)
    assert attempt.outcome == "unknown" and "time limit" in attempt.detail
