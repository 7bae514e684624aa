"""Hostile input on every field of Twilio's webhooks, correctly signed (so each field's
own check is what answers): a 400 naming the field, a 403 for state, never a 500, and
nothing written for a refused request. Over real HTTP through cheroot."""

from __future__ import annotations

import itertools
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio_phone import CALL_SID, PUBLIC, TwilioPhone

from ivr.bootstrap import Runtime

CALLER = "+8613800000101"
_SIDS = itertools.count(1 << 100)
HUGE = "9" * 5000


def _voice(phone: TwilioPhone, sid: str = CALL_SID, **fields: str) -> tuple[int, str]:
    base = {"CallSid": sid, "From": CALLER, "To": "+14155550100"}
    reply = phone.post(f"{PUBLIC}/twilio/voice", {**base, **fields})
    return reply.status, reply.body


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("CallSid", ""),
        ("CallSid", "CA123"),
        ("CallSid", "CA" + "G" * 32),
        ("CallSid", "CA" + "0" * 32 + "\x00"),
        ("CallSid", "../../etc/passwd"),
        ("From", "+86138\x00"),
        ("From", HUGE),
        ("From", "\u202e1234"),
        ("To", "+14\r\n15"),
        ("To", HUGE),
    ],
)
def test_voice_refuses_bad_fields_naming_them(
    phone: TwilioPhone, web_runtime: Runtime, field: str, value: str
) -> None:
    status, body = _voice(phone, **{field: value})
    assert status == 400 and field in body
    assert web_runtime.calls.get_call(CALL_SID) is None


def test_odd_but_harmless_caller_ids_are_kept_as_given(
    phone: TwilioPhone, web_runtime: Runtime
) -> None:
    for n, caller in enumerate(("anonymous", "client:alice", "sip:bob@example.com", "")):
        sid = f"CA{n:032x}"
        reply = phone.post(f"{PUBLIC}/twilio/voice", {"CallSid": sid, "From": caller, "To": ""})
        assert reply.status == 200 and "<Gather" in reply.body
        call = web_runtime.calls.get_call(sid)
        assert call is not None and call.caller == caller


def _gather_url(phone: TwilioPhone, sid: str = CALL_SID, **fields: str) -> str:
    status, body = _voice(phone, sid, **fields)
    assert status == 200
    start = body.index('action="') + len('action="')
    return body[start : body.index('"', start)].replace("&amp;", "&")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Digits", "12"),
        ("Digits", "A"),
        ("Digits", "\x00"),
        ("Digits", "１"),  # a full-width one
        ("SpeechResult", "x" * 1001),
        ("SpeechResult", "complaint\x00"),
        ("SpeechResult", "a\u2028b"),
    ],
)
def test_gather_refuses_bad_fields_naming_them(
    phone: TwilioPhone, web_runtime: Runtime, field: str, value: str
) -> None:
    url = _gather_url(phone)
    reply = phone.post(url, {"CallSid": CALL_SID, field: value})
    assert reply.status == 400 and field in reply.body
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and len(call.steps) == 1  # nothing recorded past the start


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: "",
        lambda t: t + "x",
        lambda t: t[:20],
        lambda t: "<script>",
        lambda t: t.replace(".", "%00", 1),
        lambda t: "A" * 4000,
        lambda t: "%C3%A9" + t,  # é, percent-encoded as a client must
    ],
)
def test_gather_refuses_bad_state_with_403(
    phone: TwilioPhone, web_runtime: Runtime, mangle: object
) -> None:
    url = _gather_url(phone)
    token = parse_qs(urlsplit(url).query)["s"][0]
    bad = f"{PUBLIC}/twilio/gather?s={mangle(token)}"  # type: ignore[operator]
    assert phone.post(bad, {"CallSid": CALL_SID, "Digits": "1"}).status == 403
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and len(call.steps) == 1


def test_a_state_signed_with_another_key_is_refused(phone: TwilioPhone) -> None:
    from ivr.adapters.twilio.state import CallState, StateSigner

    state = CallState(CALL_SID, CALLER, "", "zh-CN", flow={"node": "main"}, seq=1)
    forged = StateSigner("not-the-app-key").dump(state)
    _voice(phone)
    url = f"{PUBLIC}/twilio/gather?s={forged}"
    assert phone.post(url, {"CallSid": CALL_SID, "Digits": "1"}).status == 403


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("CallStatus", ""),
        ("CallStatus", "hacked"),
        ("CallStatus", "COMPLETED"),
        ("CallDuration", "-1"),
        ("CallDuration", "86401"),
        ("CallDuration", "1e3"),
        ("CallDuration", "９"),
        ("Timestamp", "yesterday"),
        ("Timestamp", "Mon, 23 Nov 2099 02:00:00 +0000"),
        ("Timestamp", "x" * 65),
    ],
)
def test_status_refuses_bad_fields_naming_them(
    phone: TwilioPhone, web_runtime: Runtime, field: str, value: str
) -> None:
    fields = {"CallSid": CALL_SID, "CallStatus": "completed", "From": CALLER, field: value}
    reply = phone.post(f"{PUBLIC}/twilio/status", fields)
    assert reply.status == 400 and field in reply.body
    assert web_runtime.calls.get_call(CALL_SID) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("DialCallStatus", "maybe"), ("DialCallStatus", ""), ("DialCallDuration", "99999999")],
)
def test_dial_refuses_bad_fields_naming_them(
    phone: TwilioPhone, web_runtime: Runtime, field: str, value: str
) -> None:
    url = _gather_url(phone)
    routed = phone.post(url, {"CallSid": CALL_SID, "Digits": "1"})
    dial = routed.first("Dial").get("action", "")
    fields = {"CallSid": CALL_SID, "DialCallStatus": "completed", field: value}
    reply = phone.post(dial, fields)
    assert reply.status == 400 and field in reply.body
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and call.answered_at is None


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(speech=st.text(max_size=200), caller=st.text(max_size=80))
def test_any_text_in_speech_or_caller_is_an_answer_or_a_400_never_a_500(
    phone: TwilioPhone, speech: str, caller: str
) -> None:
    status, _ = _voice(phone, f"CA{next(_SIDS):032x}", From=caller)
    assert status in (200, 400)
    sid = f"CA{next(_SIDS):032x}"
    reply = phone.post(_gather_url(phone, sid), {"CallSid": sid, "SpeechResult": speech})
    assert reply.status in (200, 400), reply.body[:200]


@pytest.mark.parametrize("keys", ["1a", "9" * 21, "1\x00", "１"])
def test_callback_refuses_bad_keys_naming_them(
    phone: TwilioPhone, web_runtime: Runtime, keys: str
) -> None:
    web_runtime.clock.at = web_runtime.clock.at.replace(day=22, hour=3)  # type: ignore[attr-defined]
    offer = phone.post(_gather_url(phone), {"CallSid": CALL_SID, "Digits": "1"})
    action = offer.first("Gather").get("action", "")
    assert "/twilio/callback?s=" in action
    reply = phone.post(action, {"CallSid": CALL_SID, "Digits": keys})
    assert reply.status == 400 and "Digits" in reply.body
    from ivr.bootstrap import callback_parts

    assert callback_parts(web_runtime).repo.listing() == []


def test_a_flood_of_forged_requests_is_refused_but_audited_only_so_often(
    phone: TwilioPhone, web_runtime: Runtime
) -> None:
    from web import store
    from web.twilio import AUDITS_PER_MINUTE

    url = f"{PUBLIC}/twilio/voice"
    fields = {"CallSid": CALL_SID, "From": CALLER, "To": "+14155550100"}
    for _ in range(AUDITS_PER_MINUTE + 10):
        assert phone.post(url, fields, signature="forged").status == 403
    with web_runtime.sessions() as s:
        actions = [a.action for a in store.recent_audit(s, limit=1000)]
    assert actions.count("twilio_refused") == AUDITS_PER_MINUTE
    assert phone.post(url, fields).status == 200  # Twilio itself is still answered


def test_a_forged_request_is_refused_even_when_the_audit_cannot_be_written(
    phone: TwilioPhone, web_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    class Down:
        def begin(self) -> None:
            raise OperationalError("INSERT ...", {}, Exception("database down"))

    monkeypatch.setattr(web_runtime, "sessions", Down())
    url = f"{PUBLIC}/twilio/voice"
    assert phone.post(url, {"CallSid": CALL_SID}, signature="forged").status == 403


def test_only_login_and_csrf_are_skipped_the_other_guards_hold(phone: TwilioPhone) -> None:
    import http.client

    status, _ = _voice(phone)  # no session cookie, no CSRF token: answered
    assert status == 200
    conn = http.client.HTTPConnection("127.0.0.1", phone.port, timeout=10)
    try:
        conn.request("POST", "/twilio/voice", "CallSid=" + "A" * 70_000,
                     {"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 413  # the app's size limit
        conn.request("GET", "/twilio/voice")
        resp = conn.getresponse()
        resp.read()
        assert resp.status in (403, 405)  # POST only (and unsigned anyway)
        conn.request("POST", "/twilio/voice", "CallSid=x",
                     {"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 403
        assert resp.getheader("X-Content-Type-Options") == "nosniff"  # the app's headers
        assert "frame-ancestors 'none'" in (resp.getheader("Content-Security-Policy") or "")
    finally:
        conn.close()


@pytest.mark.parametrize(
    "flow",
    [
        {"node": "nowhere", "language": "zh-CN"},
        {"node": "main", "language": "zh-CN", "evil": 1},
        {"language": "zh-CN"},
        {"node": ["main"], "language": "zh-CN"},
    ],
)
def test_a_validly_signed_state_of_an_impossible_form_is_refused(
    phone: TwilioPhone, flow: dict[str, object]
) -> None:
    from ivr.adapters.twilio.state import CallState, StateSigner

    _voice(phone)
    state = CallState(CALL_SID, CALLER, "", "zh-CN", flow=flow, seq=1)
    token = StateSigner("twilio-test").dump(state)  # the app's own key (conftest's phone)
    url = f"{PUBLIC}/twilio/gather?s={token}"
    assert phone.post(url, {"CallSid": CALL_SID, "Digits": "1"}).status == 403


def test_a_dial_duration_longer_than_the_call_puts_the_answer_at_the_routing_not_before(
    phone: TwilioPhone, web_runtime: Runtime
) -> None:
    """DialCallDuration (the seat's talk time) is counted back from now; one longer than
    the call so far put the answer before the call began (talk time of a day)."""
    routed = phone.post(_gather_url(phone), {"CallSid": CALL_SID, "Digits": "1"})
    web_runtime.clock.advance(seconds=10)  # type: ignore[attr-defined]
    fields = {"CallSid": CALL_SID, "DialCallStatus": "completed", "DialCallDuration": "86400"}
    assert phone.post(routed.first("Dial").get("action", ""), fields).status == 200
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and call.answered_at is not None and call.routed_at is not None
    assert call.started_at <= call.routed_at == call.answered_at


def test_a_status_timestamp_before_the_call_began_does_not_end_it_before_its_start(
    phone: TwilioPhone, web_runtime: Runtime
) -> None:
    """Timestamp may lie up to a day from our clock; an end before the recorded start (or
    answer) would leave a record that ends before it begins."""
    from email.utils import format_datetime

    _voice(phone)
    web_runtime.clock.advance(seconds=30)  # type: ignore[attr-defined]
    early = web_runtime.clock() - timedelta(hours=12)
    fields = {"CallSid": CALL_SID, "CallStatus": "completed", "From": CALLER, "CallDuration": "5",
              "Timestamp": format_datetime(early)}  # fmt: skip
    assert phone.post(f"{PUBLIC}/twilio/status", fields).status == 204
    call = web_runtime.calls.get_call(CALL_SID)
    assert call is not None and call.ended_at == call.started_at
    assert call.source == "twilio"  # the voice webhook's start, not the status's weak one


def test_a_status_timestamp_before_the_answer_ends_the_call_at_the_answer_unread(
    phone: TwilioPhone, web_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call log keeps the times in order (the merge, not the webhook): the status
    callback writes Twilio's Timestamp as it is, without reading the call back first."""
    from email.utils import format_datetime

    routed = phone.post(_gather_url(phone), {"CallSid": CALL_SID, "Digits": "1"})
    web_runtime.clock.advance(seconds=40)  # type: ignore[attr-defined]
    fields = {"CallSid": CALL_SID, "DialCallStatus": "completed", "DialCallDuration": "30"}
    assert phone.post(routed.first("Dial").get("action", ""), fields).status == 200
    early = web_runtime.clock() - timedelta(hours=23)
    status = {"CallSid": CALL_SID, "CallStatus": "completed", "From": CALLER,
              "CallDuration": "45", "Timestamp": format_datetime(early)}  # fmt: skip
    read = web_runtime.calls.get_call

    def unread(uid: str) -> None:
        raise AssertionError(f"the status callback read call {uid} back")

    with monkeypatch.context() as m:
        m.setattr(web_runtime.calls, "get_call", unread)
        assert phone.post(f"{PUBLIC}/twilio/status", status).status == 204
    call = read(CALL_SID)
    assert call is not None and call.routed_at is not None and call.answered_at is not None
    assert call.started_at <= call.routed_at <= call.answered_at == call.ended_at
    assert (call.outcome, call.talk_seconds) == ("answered", 0.0)
