"""Every TwiML document the hotline produces, checked against the verbs, nouns and
attributes of Twilio's TwiML reference (tests/twiml_schema.py); the web tests check
every document of a call walk the same way (tests/twilio_phone.py)."""

from __future__ import annotations

import pytest
from twiml_schema import check_twiml

from ivr.adapters.twilio import twiml
from ivr.adapters.twilio.calls import TwilioCalls
from ivr.config.twilio import TwilioSettings

SAY = twiml.Spoken(("您好，欢迎致电。", "请按1"), "zh-CN")
URL = "https://hotline.example.com/twilio/gather?s=abc.def-ghi_"


def test_gather_with_speech_keeps_finish_on_key_empty() -> None:
    root = check_twiml(twiml.gather(SAY, "cmn-Hans-CN", URL, 5.0, ("咨询", "投诉")))
    g = root.find("Gather")
    assert g is not None and g.get("finishOnKey") == "" and g.get("input") == "speech dtmf"
    assert g.get("numDigits") == "1" and g.get("timeout") == "5" and g.get("hints") == "咨询, 投诉"
    assert [s.text for s in g.iter("Say")] == list(SAY.texts)


def test_gather_takes_hash_as_a_key_and_has_no_empty_hints() -> None:
    # with Twilio's default finishOnKey '#' a caller's '#' would post as no input
    root = check_twiml(twiml.gather(SAY, "en-US", URL, 0.4, ()))
    g = root.find("Gather")
    assert g is not None and g.get("finishOnKey") == "" and "hints" not in g.attrib
    assert g.get("timeout") == "1"  # at least a second


@pytest.mark.parametrize("target", ["sip:seat2@pbx.example.com", "+14155550100"])
def test_dial_to_a_sip_seat_or_a_number(target: str) -> None:
    root = check_twiml(twiml.dial(SAY, target, URL, 20, "+14155550100"))
    dial = root.find("Dial")
    assert dial is not None and dial.get("timeout") == "20" and dial.get("action") == URL
    noun = dial.find("Number" if target.startswith("+") else "Sip")
    assert noun is not None and noun.text == target


def test_dial_timeouts_stay_in_twilios_range() -> None:
    for seconds, expected in ((1, "5"), (3600, "600")):
        root = check_twiml(twiml.dial(SAY, "+14155550100", URL, seconds, ""))
        dial = root.find("Dial")
        assert (
            dial is not None and dial.get("timeout") == expected and "callerId" not in dial.attrib
        )


def test_record_and_hangup_and_fallback() -> None:
    check_twiml(twiml.record(SAY, URL, 120))
    check_twiml(twiml.say_and_hang_up(SAY))
    root = check_twiml(twiml.fallback(SAY, "sip:queue-operator@pbx.example.com", URL, 20))
    assert [child.tag for child in root] == ["Say", "Say", "Dial", "Record", "Hangup"]


def test_the_agent_leg_dials_the_customer() -> None:
    settings = TwilioSettings("AC" + "0" * 32, ("+14155550100",), "https://h.example", "pbx")
    root = check_twiml(TwilioCalls(settings, None).agent_first_twiml("+819012345678", 25))  # type: ignore[arg-type]
    dial = root.find("Dial")
    assert dial is not None and dial.get("callerId") == "+14155550100"
    assert dial.findtext("Number") == "+819012345678"


@pytest.mark.parametrize(
    "bad",
    [
        "<Response><Gather bogus='1'/></Response>",
        "<Response><Dial><Queue>x</Queue></Dial></Response>",
        "<Response><Gather finishOnKey='A'/></Response>",
        "<Response><Dial timeout='2'><Number>+14155550100</Number></Dial></Response>",
        "<Response><Dial><Sip>seat2</Sip></Dial></Response>",
        "<Foo/>",
    ],
)
def test_the_schema_refuses_what_twilio_does_not_document(bad: str) -> None:
    with pytest.raises(AssertionError):
        check_twiml(bad)
