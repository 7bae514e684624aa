"""Twilio's webhooks through the production web server (cheroot) over real HTTP, on
SQLite and PostgreSQL: signed requests walk the same menu and routing as the FastAGI
path and leave one call record per CallSid (source twilio).

The hotline is published at https://hotline.example.com/hl (a reverse proxy that strips
/hl) and reached at 127.0.0.1: the signature holds for the public URL only."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import MONDAY_10, CallBuilder, FixedClock
from flask.testing import FlaskClient
from twilio_phone import CALL_SID, PUBLIC, TOKEN, Reply, TwilioPhone

from ivr.bootstrap import Runtime, callback_parts
from web.app import close_app, create_app

SUNDAY_3 = datetime.fromisoformat("2026-11-22T03:00:00+08:00")  # closed
NEW_CALLER = "+8613800000101"
SIP = "pbx.example.com"


def _said(reply: Reply) -> str:
    return " ".join(s.text or "" for s in reply.xml.iter("Say"))


def _dial_target(reply: Reply) -> str:
    dial = reply.first("Dial")
    noun = dial.find("Sip")
    if noun is None:
        noun = dial.find("Number")
    assert noun is not None, reply.body
    return (noun.text or "").strip()


def test_key_1_in_open_hours_dials_the_queue_and_the_answer_is_recorded(
    phone: TwilioPhone, web_runtime: Runtime
) -> None:
    first = phone.call(NEW_CALLER)
    gather = first.first("Gather")
    assert gather.get("input") == "speech dtmf"
    assert gather.get("finishOnKey") == ""  # '*' is an option of the main menu
    assert gather.get("actionOnEmptyResult") == "true"
    assert "咨询" in (gather.get("hints") or "")  # the zh-CN phrases of config/menu.yaml
    assert gather.get("action", "").startswith(f"{PUBLIC}/twilio/gather?s=")
    assert "欢迎" in _said(first)
    routed = phone.answer(first, Digits="1")
    assert _dial_target(routed) == f"sip:queue-enquiries@{SIP}"
    dial = routed.first("Dial")
    assert dial.get("callerId") == "+14155550100"
    web_runtime.clock.advance(seconds=95)  # type: ignore[attr-defined]
    done = phone.answer(routed, DialCallStatus="completed", DialCallDuration="60")
    assert done.xml.find("Hangup") is not None
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None
    assert call.source == "twilio" and call.caller == NEW_CALLER
    assert call.route_kind == "queue" and call.branch == "enquiries"
    assert call.answered_seat == "queue-enquiries"
    assert call.answered_at == MONDAY_10 + timedelta(seconds=35)
    assert [s.event for s in call.steps] == ["start", "key"]


def _repeat_caller_presses_1(phone: TwilioPhone, calls: CallBuilder) -> Reply:
    """Chen (seat2) answered this caller yesterday: first-contact routing picks seat2."""
    calls.call(MONDAY_10 - timedelta(days=1), caller=NEW_CALLER, agent="chen", seat="seat2",
               wait=5, talk=60)  # fmt: skip
    return phone.answer(phone.call(NEW_CALLER), Digits="1")


def test_a_repeat_caller_is_dialled_to_the_seat_of_the_previous_agent(
    phone: TwilioPhone, web_runtime: Runtime, calls: CallBuilder
) -> None:
    routed = _repeat_caller_presses_1(phone, calls)
    assert _dial_target(routed) == f"sip:seat2@{SIP}"
    # the seat does not answer: the queue, as the dialplan does; then the answer
    queued = phone.answer(routed, DialCallStatus="no-answer", DialCallDuration="0")
    assert _dial_target(queued) == f"sip:queue-enquiries@{SIP}"
    phone.answer(queued, DialCallStatus="answered", DialCallDuration="30")
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and call.route_kind == "seat" and call.route_target == "PJSIP/seat2"
    assert call.answered_seat == "queue-enquiries"


@pytest.mark.parametrize(
    ("spelled", "word"),
    [("+266696687", "anonymous"), ("+7378742833", "restricted"), ("+86282452253", "unavailable")],
)
def test_a_withheld_caller_id_twilio_spells_in_digits_is_nobodys_repeat_caller(
    phone: TwilioPhone, web_runtime: Runtime, calls: CallBuilder, spelled: str, word: str
) -> None:
    """Twilio gives a withheld caller ID as its word on the keypad (ANONYMOUS is
    266696687). Taken for a number, every withheld caller was the caller chen answered
    yesterday, and went to chen's seat; now the word, and the queue."""
    calls.call(MONDAY_10 - timedelta(days=1), caller=spelled, agent="chen", seat="seat2",
               wait=5, talk=60)  # fmt: skip
    routed = phone.answer(phone.call(spelled), Digits="1")
    assert _dial_target(routed) == f"sip:queue-enquiries@{SIP}"
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and call.caller == word


def test_a_seat_that_answers_is_recorded_with_its_agent(
    phone: TwilioPhone, web_runtime: Runtime, calls: CallBuilder
) -> None:
    routed = _repeat_caller_presses_1(phone, calls)
    phone.answer(routed, DialCallStatus="completed", DialCallDuration="10")
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None
    assert (call.answered_seat, call.answered_agent) == ("seat2", "chen")


def _closed_and_offered_a_callback(phone: TwilioPhone, rt: Runtime, caller: str) -> Reply:
    """Sunday 03:00, key 1: closed, so a callback is offered (confirm the number or key one)."""
    rt.clock.at = SUNDAY_3  # type: ignore[attr-defined]
    offer = phone.answer(phone.call(caller), Digits="1")
    gather = offer.first("Gather")
    assert gather.get("input") == "dtmf" and gather.get("finishOnKey") == "#"
    assert gather.get("action", "").startswith(f"{PUBLIC}/twilio/callback?s=")
    assert "回拨本机号码请按1" in _said(offer)
    return offer


@pytest.mark.parametrize(
    ("keys", "number"), [("1", NEW_CALLER), ("", NEW_CALLER), ("13912345678", "+8613912345678")]
)
def test_closed_hours_put_a_callback_in_the_ledger(
    phone: TwilioPhone, web_runtime: Runtime, keys: str, number: str
) -> None:
    offer = _closed_and_offered_a_callback(phone, web_runtime, NEW_CALLER)
    reply = phone.answer(offer, Digits=keys) if keys else phone.answer(offer)
    assert reply.xml.find("Hangup") is not None and reply.xml.find("Dial") is None
    assert "11-23 09:00" in _said(reply)  # Monday 09:00, the first calling hour
    requests = callback_parts(web_runtime).repo.listing()
    assert [(r.number, r.branch, r.source_uid) for r in requests] == [
        (number, "enquiries", CALL_SID)
    ]
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and call.route_kind == "callback"
    assert call.outcome == "in_progress"


@pytest.mark.parametrize(
    ("caller", "keys"), [("+8613700000000", "1"), (NEW_CALLER, "12"), (NEW_CALLER, "*0#0")]
)
def test_a_refused_or_impossible_callback_number_goes_to_voicemail(
    phone: TwilioPhone, web_runtime: Runtime, caller: str, keys: str
) -> None:
    offer = _closed_and_offered_a_callback(phone, web_runtime, caller)
    reply = phone.answer(offer, Digits=keys)
    record = reply.first("Record")
    assert record.get("maxLength") == "120" and record.get("playBeep") == "true"
    assert "留言" in _said(reply)
    assert callback_parts(web_runtime).repo.listing() == []
    bye = phone.answer(reply, RecordingUrl="https://api.twilio.com/r/RE1", RecordingDuration="7")
    assert bye.xml.find("Hangup") is not None


def test_three_invalid_keys_reach_the_operator(phone: TwilioPhone, web_runtime: Runtime) -> None:
    reply = phone.call(NEW_CALLER)
    for _ in range(2):
        reply = phone.answer(reply, Digits="5")
        assert "有误" in _said(reply)  # the "invalid" prompt, then the menu again
    reply = phone.answer(reply, Digits="5")
    assert _dial_target(reply) == f"sip:queue-operator@{SIP}"
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and [s.event for s in call.steps] == ["start", *["invalid"] * 3]


def test_two_silences_reach_a_person(phone: TwilioPhone, web_runtime: Runtime) -> None:
    reply = phone.call(NEW_CALLER)
    reply = phone.answer(reply)  # actionOnEmptyResult: no Digits, no SpeechResult
    assert "没有收到" in _said(reply)
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and call.steps[-1].event == "timeout"
    reply = phone.answer(reply)  # the second silence: max_timeouts of menu.yaml
    assert _dial_target(reply) == f"sip:queue-operator@{SIP}"


def test_a_spoken_phrase_picks_its_option(phone: TwilioPhone, web_runtime: Runtime) -> None:
    reply = phone.answer(phone.call(NEW_CALLER), SpeechResult="我要投诉。", Confidence="0.9")
    assert _dial_target(reply) == f"sip:queue-complaints@{SIP}"
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and call.branch == "complaints"


def test_english_speech_after_switching_language(phone: TwilioPhone) -> None:
    reply = phone.answer(phone.call(NEW_CALLER), Digits="8")
    gather = reply.first("Gather")
    assert gather.get("language") == "en-US" and "enquiry" in (gather.get("hints") or "")
    reply = phone.answer(reply, SpeechResult="I'd like a Repair, please")
    assert _dial_target(reply) == f"sip:queue-repairs@{SIP}"


def test_speech_that_matches_nothing_is_an_invalid_choice(
    phone: TwilioPhone, web_runtime: Runtime
) -> None:
    reply = phone.answer(phone.call(NEW_CALLER), SpeechResult="天气怎么样")
    assert reply.first("Gather") is not None and "有误" in _said(reply)
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and call.steps[-1].event == "invalid"


# --- refused -------------------------------------------------------------------------------


def _audit_actions(rt: Runtime) -> list[str]:
    from web import store

    with rt.sessions() as s:
        return [a.action for a in store.recent_audit(s)]


def test_unsigned_and_tampered_requests_get_403_and_an_audit_entry(
    phone: TwilioPhone, web_runtime: Runtime
) -> None:
    url = f"{PUBLIC}/twilio/voice"
    fields = {"CallSid": CALL_SID, "From": NEW_CALLER, "To": "+14155550100"}
    assert phone.post(url, fields, signature="").status == 403
    good = phone.sign(url, fields)
    assert phone.post(url, {**fields, "From": "+8613800000999"}, signature=good).status == 403
    wrong_key = TwilioPhone(phone.port, PUBLIC, "other-token")
    assert wrong_key.post(url, fields).status == 403
    # signed for the inner address instead of the public one (a proxy-unaware signer)
    inner = TwilioPhone(phone.port, "http://127.0.0.1", TOKEN)
    inner_sig = inner.sign(f"http://127.0.0.1:{phone.port}/twilio/voice", fields)
    assert phone.post(url, fields, signature=inner_sig).status == 403
    assert phone.post(url, fields, signature="é" * 28).status == 403
    assert _audit_actions(web_runtime).count("twilio_refused") == 5
    assert web_runtime.calls.get_call(CALL_SID) is None
    assert phone.post(url, fields).status == 200


def test_altered_replayed_or_borrowed_state_gets_403(
    phone: TwilioPhone, web_runtime: Runtime
) -> None:
    first = phone.call(NEW_CALLER)
    action = first.first("Gather").get("action", "")
    token = parse_qs(urlsplit(action).query)["s"][0]
    altered = action.replace(token, token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB"))
    assert phone.post(altered, {"CallSid": CALL_SID, "Digits": "1"}).status == 403
    other = "CA" + "f" * 32  # the state of one call used for another
    assert phone.post(action, {"CallSid": other, "Digits": "1"}).status == 403
    assert phone.post(f"{PUBLIC}/twilio/gather", {"CallSid": CALL_SID}).status == 403
    second = phone.post(action, {"CallSid": CALL_SID, "Digits": "5"})
    assert second.status == 200
    # the first step's state again: a replay (the call is one step further)
    assert phone.post(action, {"CallSid": CALL_SID, "Digits": "1"}).status == 403
    routed = phone.answer(second, Digits="1")
    dial_action = routed.first("Dial").get("action", "")
    assert phone.post(dial_action, {"CallSid": CALL_SID, "DialCallStatus": "completed",
                                    "DialCallDuration": "5"}).status == 200  # fmt: skip
    assert phone.post(dial_action, {"CallSid": CALL_SID, "DialCallStatus": "completed",
                                    "DialCallDuration": "5"}).status == 403  # fmt: skip
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and [s.event for s in call.steps] == ["start", "invalid", "key"]
    assert _audit_actions(web_runtime).count("twilio_refused") == 5


def test_without_a_twilio_section_the_endpoints_do_not_exist(web_runtime: Runtime) -> None:
    web_runtime.config = replace(web_runtime.config, twilio=None)
    app = create_app(web_runtime, secret_key="k")
    try:
        assert app.test_client().post("/twilio/voice", data={}).status_code == 404
    finally:
        close_app(app)


def test_without_a_token_the_endpoints_answer_503(web_runtime: Runtime) -> None:
    assert web_runtime.config.twilio is not None and not web_runtime.config.twilio.auth_token
    app = create_app(web_runtime, secret_key="k")
    try:
        assert app.test_client().post("/twilio/voice", data={}).status_code == 503
    finally:
        close_app(app)


# --- status callbacks: one record per CallSid, whatever the order ----------------------------


def _status(phone: TwilioPhone, sid: str, status: str, at: datetime, duration: int) -> int:
    fields = {
        "CallSid": sid, "CallStatus": status, "From": NEW_CALLER, "To": "+14155550100",
        "Timestamp": at.strftime("%a, %d %b %Y %H:%M:%S %z"), "CallDuration": str(duration),
    }  # fmt: skip
    return phone.post(f"{PUBLIC}/twilio/status", fields).status


def _walk(phone: TwilioPhone, sid: str, clock: FixedClock) -> None:
    """Called at 10:00:00, key 1, answered at 10:00:10, the Dial ends at 10:01:10."""
    clock.at = MONDAY_10
    routed = phone.answer(phone.call(NEW_CALLER, sid), sid, Digits="1")
    clock.at = MONDAY_10 + timedelta(seconds=70)
    phone.answer(routed, sid, DialCallStatus="completed", DialCallDuration="60")


def test_status_callbacks_in_any_order_and_repeated_leave_one_consistent_record(
    phone: TwilioPhone, web_runtime: Runtime
) -> None:
    clock: FixedClock = web_runtime.clock  # type: ignore[assignment]
    end = MONDAY_10 + timedelta(seconds=70)
    ordered, reversed_ = "CA" + "1" * 32, "CA" + "2" * 32
    # in order: the walk, then the final status (twice)
    _walk(phone, ordered, clock)
    assert _status(phone, ordered, "completed", end, 70) == 204
    assert _status(phone, ordered, "completed", end, 70) == 204
    # reversed: the final status first, a stray "ringing", then the walk, then again
    assert _status(phone, reversed_, "completed", end, 70) == 204
    assert _status(phone, reversed_, "ringing", MONDAY_10, 0) == 204
    _walk(phone, reversed_, clock)
    assert _status(phone, reversed_, "completed", end, 70) == 204
    a, b = web_runtime.calls.get_call(ordered), web_runtime.calls.get_call(reversed_)
    assert a is not None and b is not None
    for call in (a, b):
        assert call.source == "twilio" and call.caller == NEW_CALLER
        assert call.outcome == "answered" and call.hangup_cause == "completed"
        assert call.ended_at == end and call.answered_at == MONDAY_10 + timedelta(seconds=10)
        assert call.talk_seconds == 60
        assert [s.event for s in call.steps] == ["start", "key"]
    assert a.started_at == b.started_at == MONDAY_10
    # the voice webhook's start wins over the status callback's, whichever came first
    clock.at = MONDAY_10
    late = "CA" + "3" * 32
    assert _status(phone, late, "completed", end, 75) == 204  # says 09:59:55
    phone.call(NEW_CALLER, late)
    c = web_runtime.calls.get_call(late)
    assert c is not None and c.started_at == MONDAY_10 and c.source == "twilio"
    with web_runtime.engine.connect() as conn:
        from sqlalchemy import text

        rows = conn.execute(text("SELECT count(*) FROM calls WHERE source = 'twilio'")).scalar()
    assert rows == 3


def test_a_caller_who_hangs_up_in_the_menu_is_abandoned_in_menu(
    phone: TwilioPhone, web_runtime: Runtime
) -> None:
    phone.call(NEW_CALLER)
    assert _status(phone, CALL_SID, "completed", MONDAY_10 + timedelta(seconds=4), 4) == 204
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and call.outcome == "abandoned_in_menu"


def test_a_twilio_call_is_in_the_call_list_and_the_reports(
    phone: TwilioPhone, web_runtime: Runtime, client: FlaskClient, web_users: object,
    login: Callable[..., object],
) -> None:  # fmt: skip
    clock: FixedClock = web_runtime.clock  # type: ignore[assignment]
    _walk(phone, CALL_SID, clock)
    assert _status(phone, CALL_SID, "completed", MONDAY_10 + timedelta(seconds=70), 70) == 204
    clock.at = MONDAY_10 + timedelta(hours=1)
    login(client, "boss")
    listed = client.get("/api/calls?from=2026-11-23&to=2026-11-23").get_json()
    (row,) = [c for c in listed["calls"] if c["uid"] == CALL_SID]
    assert row["outcome"] == "answered" and row["branch"] == "enquiries"
    rep = client.get("/api/reports?period=day&from=2026-11-23&to=2026-11-23").get_json()
    assert (rep["team"]["offered"], rep["team"]["answered"]) == (1, 1)
    branches = {b["branch"]: b for b in rep["branches"]}
    assert branches["enquiries"]["answered"] == 1


def test_status_events_survive_a_database_outage_through_the_spool(
    phone: TwilioPhone, web_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    def down(_events: object) -> None:
        raise OperationalError("INSERT ...", {}, Exception("database down"))

    first, second = "CA" + "4" * 32, "CA" + "5" * 32
    end = MONDAY_10 + timedelta(seconds=30)
    with monkeypatch.context() as m:
        m.setattr(web_runtime.calls, "record_many", down)
        assert _status(phone, first, "completed", end, 30) == 204
    assert web_runtime.spool_path.exists() and web_runtime.calls.get_call(first) is None
    time.sleep(1.1)  # the spool's back-off after a failure (retry_interval, 1 s)
    assert _status(phone, second, "busy", end, 0) == 204  # the next write replays first
    a, b = web_runtime.calls.get_call(first), web_runtime.calls.get_call(second)
    assert a is not None and a.ended_at == end and a.hangup_cause == "completed"
    assert b is not None and b.hangup_cause == "busy"


def test_a_failure_on_our_side_answers_the_operator_then_voicemail_never_a_500(
    phone: TwilioPhone, web_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    first = phone.call(NEW_CALLER)

    def down(_uid: str) -> None:
        raise OperationalError("SELECT ...", {}, Exception("database down"))

    monkeypatch.setattr(web_runtime.calls, "get_call", down)
    reply = phone.answer(first, Digits="1")
    assert _dial_target(reply) == f"sip:queue-operator@{SIP}"
    record = reply.first("Record")
    assert record.get("action") == f"{PUBLIC}/twilio/goodbye"
    bye = phone.post(f"{PUBLIC}/twilio/goodbye", {"CallSid": CALL_SID})
    assert bye.xml.find("Hangup") is not None


def test_a_twilio_call_is_on_the_board_while_it_waits_and_in_today_after(
    phone: TwilioPhone, web_runtime: Runtime
) -> None:
    from web import board_data
    from web.settings import WebSettings

    def board() -> dict[str, object]:
        with web_runtime.sessions() as s:
            return board_data.snapshot(web_runtime, WebSettings(), s, web_runtime.clock())

    clock: FixedClock = web_runtime.clock  # type: ignore[assignment]
    routed = phone.answer(phone.call(NEW_CALLER), Digits="1")  # Dial to the queue: waiting
    waiting = board()["waiting"]
    assert [w["uid"] for w in waiting] == [CALL_SID]  # type: ignore[attr-defined,index]
    clock.advance(seconds=70)
    phone.answer(routed, DialCallStatus="completed", DialCallDuration="60")
    assert _status(phone, CALL_SID, "completed", clock.at, 70) == 204
    today = board()["today"]
    assert today["offered"] == 1 and today["answered"] == 1  # type: ignore[index]
    assert board()["waiting"] == []


CREW_MOBILE = "+13125550147"  # not under refuse_prefixes (+86)


@pytest.fixture
def ruled(web_runtime: Runtime, request: pytest.FixtureRequest) -> None:
    """Repairs always to the crew's mobile, enquiries always to the emergency rota."""
    from ivr.domain.rules import Rule, RuleTarget, TargetKind, When

    cfg = web_runtime.config
    number = getattr(request, "param", CREW_MOBILE)
    mobile = Rule(When(), RuleTarget(TargetKind.NUMBER, number, "carrier"))
    rota = Rule(When(), RuleTarget(TargetKind.ROTA, "emergency"))
    branches = dict(cfg.policy.branches)
    branches["repairs"] = replace(branches["repairs"], rules=(mobile,))
    branches["enquiries"] = replace(branches["enquiries"], rules=(rota,))
    web_runtime.config = replace(cfg, policy=replace(cfg.policy, branches=branches))


def test_an_external_target_is_dialled_as_a_number_and_a_rota_as_its_queue(
    ruled: None, phone: TwilioPhone
) -> None:
    first = phone.call(NEW_CALLER)
    assert _dial_target(phone.answer(first, Digits="3")) == CREW_MOBILE
    sid = "CA" + "1" * 32
    again = phone.call(NEW_CALLER, sid=sid)
    assert _dial_target(phone.answer(again, sid, Digits="1")) == f"sip:queue-enquiries@{SIP}"


def test_an_external_number_not_answered_goes_to_the_overflow_not_the_branch_queue(
    ruled: None, phone: TwilioPhone, web_runtime: Runtime
) -> None:
    """As the dialplan's external context: the rule routed the call away from the
    branch's queue, so a mobile that does not answer leads to the overflow."""
    dialled = phone.answer(phone.call(NEW_CALLER), Digits="3")
    assert _dial_target(dialled) == CREW_MOBILE
    after = phone.answer(dialled, DialCallStatus="no-answer", DialCallDuration="0")
    assert after.xml.find("Dial") is None, after.body  # was <Dial><Sip>sip:queue-repairs@
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and call.route_kind == "callback"


@pytest.mark.parametrize("ruled", ["+8613700000009"], indirect=True)
def test_an_external_number_twilio_will_not_call_is_not_dialled(
    ruled: None, phone: TwilioPhone, web_runtime: Runtime
) -> None:
    """+86 is under refuse_prefixes (Twilio stopped calls to Mainland China): the
    overflow at once, as a Dial that failed, instead of a <Dial><Number> Twilio refuses."""
    reply = phone.answer(phone.call(NEW_CALLER), Digits="3")
    assert reply.xml.find("Dial") is None, reply.body
    assert reply.xml.find("Gather") is not None  # when_no_agent: callback, offered
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and call.route_kind == "callback"
