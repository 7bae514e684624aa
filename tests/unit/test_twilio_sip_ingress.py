"""Twilio's <Dial><Sip> legs into the hotline's Asterisk (issue 12): the endpoint
identified by Twilio's networks only, one extension per queue and seat, and the
CallSid in the account code so the seat that answers lands on the Twilio record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from config_files import SAMPLE_CONFIG_DIR, edit

from ivr.adapters.asterisk.ami import translate
from ivr.adapters.asterisk.errors import TemplateError
from ivr.adapters.asterisk.handlers import caller_from_env
from ivr.adapters.asterisk.templates import AsteriskSettings, SeatSpec, render_all
from ivr.app.ivr_session import IvrDeps, IvrSession
from ivr.app.ports import NullCallLog, StaticPresence
from ivr.bootstrap import asterisk_settings
from ivr.config import ConfigError, HotlineConfig, load_config
from ivr.domain.calllog import CallAnswered, CallStarted
from ivr.domain.routing import RouteKind, has_number
from ivr.phone import WITHHELD_SPELLINGS

AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
SID = "CA" + "0123456789abcdef" * 2


def settings(**kw: object) -> AsteriskSettings:
    base: dict[str, object] = dict(
        hotline_extension="4000",
        seats=(SeatSpec("seat1", 1), SeatSpec("seat2", 2)),
        queues=("enquiries", "operator"),
        seat_password="pw",
        ami_secret="secret",
    )
    return AsteriskSettings(**{**base, **kw})  # type: ignore[arg-type]


def with_sources(config_dir: Path, sources: str) -> Path:
    return edit(
        config_dir, "hotline.yaml", 'sip_source_ips: ["127.0.0.2/32"]', f"sip_source_ips: {sources}"
    )


def test_without_sources_there_is_no_twilio_endpoint() -> None:
    out = render_all(settings())
    assert "[twilio]" not in out["pjsip.conf"] and "[hotline-twilio]" not in out["extensions.conf"]


def test_the_sample_takes_twilio_legs_from_the_tests_twilio_only() -> None:
    cfg = load_config(SAMPLE_CONFIG_DIR)
    assert cfg.twilio is not None and cfg.twilio.sip_sources == ("127.0.0.2/32",)


def test_the_endpoint_is_identified_by_twilios_networks_only(config_dir: Path) -> None:
    cfg = load_config(with_sources(config_dir, '["54.172.60.0/30", "2001:db8::1"]'))
    assert cfg.twilio is not None
    assert cfg.twilio.sip_sources == ("54.172.60.0/30", "2001:db8::1/128")
    pjsip = render_all(asterisk_settings(cfg))["pjsip.conf"]
    assert "endpoint_identifier_order = ip,username,anonymous" in pjsip
    identify = pjsip[pjsip.index("[twilio-identify]") :]
    assert "endpoint = twilio" in identify
    assert "match = 54.172.60.0/30" in identify and "match = 2001:db8::1/128" in identify
    endpoint = pjsip[pjsip.index("[twilio]") : pjsip.index("[twilio-identify]")]
    assert "context = hotline-twilio" in endpoint
    assert "identify_by = ip" in endpoint  # never by a From user that says "twilio"
    modules = render_all(asterisk_settings(cfg))["modules.conf"]
    assert "load = res_pjsip_endpoint_identifier_ip.so" in modules


def test_one_extension_per_queue_and_seat_and_nothing_else() -> None:
    conf = render_all(settings(twilio_sources=("10.0.0.0/8",)))["extensions.conf"]
    ctx = conf[conf.index("[hotline-twilio]") :].split("\n\n")[0]
    extens = sorted(
        {line.split(",", 1)[0] for line in ctx.splitlines() if line.startswith("exten")}
    )
    assert extens == [
        "exten => queue-enquiries",
        "exten => queue-operator",
        "exten => seat1",
        "exten => seat2",
    ]
    assert "Queue(enquiries,r,,,120)" in ctx and "Dial(PJSIP/seat2,20)" in ctx
    # the CallSid header, letters and digits only, into the account code
    assert "accountcode)=tw-${FILTER(A-Za-z0-9,${PJSIP_HEADER(read,X-Twilio-CallSid)})}" in ctx


@pytest.mark.parametrize("bad", ['["54.172.60.0/33"]', '["pbx.example.com"]', '["1.2.3.4; x"]'])
def test_a_bad_network_is_refused_naming_it(config_dir: Path, bad: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(with_sources(config_dir, bad))
    assert e.value.item == "twilio.sip_source_ips[0]" and "IP network" in e.value.reason


@pytest.mark.parametrize("wide", ["0.0.0.0/0", "::/0", "54.0.0.0/7", "2600::/31"])
def test_a_network_wider_than_twilios_is_refused_naming_it(config_dir: Path, wide: str) -> None:
    """0.0.0.0/0 was accepted: Asterisk took unauthenticated SIP from anywhere into the
    queues and seats."""
    with pytest.raises(ConfigError) as e:
        load_config(with_sources(config_dir, f'["54.172.60.0/30", "{wide}"]'))
    assert e.value.item == "twilio.sip_source_ips[1]" and "wider than" in e.value.reason


def test_networks_up_to_the_widest_are_taken(config_dir: Path) -> None:
    cfg = load_config(with_sources(config_dir, '["54.0.0.0/8", "2600::/32"]'))
    assert cfg.twilio is not None and cfg.twilio.sip_sources == ("54.0.0.0/8", "2600::/32")


def test_the_renderer_refuses_a_bad_network() -> None:
    with pytest.raises(TemplateError, match="IP network"):
        render_all(settings(twilio_sources=("10.0.0.0/8\nmatch = 0.0.0.0/0",)))


def twilio_leg(event: dict[str, str], code: str = "tw-" + SID) -> dict[str, str]:
    return {
        "Uniqueid": "1.9",
        "Linkedid": "1.9",
        "Channel": "PJSIP/twilio-00000009",
        "Context": "hotline-twilio",
        "AccountCode": code,
        **event,
    }


def test_the_seat_that_answers_a_twilio_leg_goes_on_the_twilio_record() -> None:
    queued = twilio_leg({"Interface": "PJSIP/seat3", "Queue": "enquiries"})
    assert translate("AgentConnect", queued, AT) == [CallAnswered(SID, AT, "seat3")]
    dialled = twilio_leg({"DialStatus": "ANSWER", "DestChannel": "PJSIP/seat2-0000000a"})
    assert translate("DialEnd", dialled, AT) == [CallAnswered(SID, AT, "seat2")]
    # the leg's own hang-up makes no second record: Twilio's status callback ends it
    assert translate("Hangup", twilio_leg({"Cause": "16"}), AT) == []


@pytest.mark.parametrize("code", ["tw-", "tw-CA123", "tw-" + SID.upper(), "tw-" + SID + "x"])
def test_an_account_code_without_a_call_sid_names_no_twilio_call(code: str) -> None:
    dialled = twilio_leg({"DialStatus": "ANSWER", "DestChannel": "PJSIP/seat2-0000000a"}, code)
    assert translate("DialEnd", dialled, AT) == []  # not a hotline context either


# --- Twilio's withheld caller IDs on its SIP legs ---------------------------------------
#
# Twilio gives a withheld caller ID spelt on the keypad in digits (ANONYMOUS is
# 266696687). Its webhooks map them to their word; a call on its SIP leg into Asterisk
# (the twilio endpoint, identified by Twilio's networks, or its context) is mapped by the
# same table, ivr.phone.twilio_caller, so withheld Twilio callers are not one caller.

WITHHELD = sorted(WITHHELD_SPELLINGS.items())
ON_TWILIO = [
    {"agi_channel": "PJSIP/twilio-0000000a", "agi_context": "hotline-twilio"},
    {"agi_channel": "PJSIP/twilio-0000000a", "agi_context": "hotline-inbound"},  # after a Goto
    {"agi_channel": "Local/queue-enquiries@hotline-twilio-0000000a;2",
     "agi_context": "hotline-twilio"},
]  # fmt: skip


class AskedHistory:
    """A call log that says chen took every caller's last call, and notes who was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def previous_agent(self, caller: str, since: datetime) -> str | None:
        self.asked.append(caller)
        return "chen"


@pytest.mark.parametrize("where", ON_TWILIO)
@pytest.mark.parametrize(("spelt", "word"), WITHHELD)
def test_a_withheld_caller_id_on_a_twilio_leg_is_its_word(
    spelt: str, word: str, where: dict[str, str]
) -> None:
    for form in (spelt, spelt.lstrip("+")):
        env = {"agi_uniqueid": "1.9", "agi_callerid": form, **where}
        caller = caller_from_env(env, "fastagi", "CN")
        # "unknown" is also Asterisk's word for no caller ID: the handler keeps it as ""
        assert caller.number == ("" if word == "unknown" else word)
        assert not has_number(caller.number)


@pytest.mark.parametrize(("spelt", "word"), WITHHELD)
def test_a_withheld_twilio_caller_is_nobodys_repeat_caller(
    sample_config: HotlineConfig, spelt: str, word: str
) -> None:
    history = AskedHistory()
    deps = IvrDeps(
        menu=sample_config.menu,
        roster=sample_config.roster,
        policy=sample_config.policy,
        default_language=sample_config.site.default_language,
        log=NullCallLog(),
        history=history,
        presence=StaticPresence(),
        clock=lambda: datetime(2026, 11, 23, 2, 0, tzinfo=UTC),  # Monday 10:00 in Shanghai
    )
    env = {"agi_uniqueid": "1.9", "agi_callerid": spelt, **ON_TWILIO[0]}
    session = IvrSession(deps, caller_from_env(env, "fastagi", "CN"))
    session.begin()
    session.on_input("1")
    assert session.decide().route.kind is RouteKind.QUEUE
    assert history.asked == []


@pytest.mark.parametrize("number", ["+8613800000101", "13800000101"])
def test_a_twilio_caller_with_a_number_keeps_it(number: str) -> None:
    env = {"agi_uniqueid": "1.9", "agi_callerid": number, **ON_TWILIO[0]}
    assert caller_from_env(env, "fastagi", "CN").number == "+8613800000101"


@pytest.mark.parametrize(("spelt", "word"), WITHHELD)
def test_the_same_digits_from_another_endpoint_stay_a_number(spelt: str, word: str) -> None:
    """Only Twilio spells withheld IDs so: elsewhere the digits are what the caller sent."""
    env = {"agi_uniqueid": "1.9", "agi_callerid": spelt, "agi_channel": "PJSIP/anonymous-0000000a",
           "agi_context": "hotline-inbound"}  # fmt: skip
    assert caller_from_env(env, "fastagi", "CN").number != word


@pytest.mark.parametrize(("spelt", "word"), WITHHELD)
def test_the_ami_records_of_a_twilio_leg_keep_the_word(spelt: str, word: str) -> None:
    keys = {
        "Uniqueid": "1.9", "Linkedid": "1.9", "Channel": "PJSIP/twilio-00000009",
        "Context": "hotline-inbound", "AccountCode": "hotline-in", "Exten": "4000",
        "CallerIDNum": spelt, "CallerIDName": "", "Cause": "16",
    }  # fmt: skip
    started = [e for e in translate("Hangup", keys, AT) if isinstance(e, CallStarted)]
    assert [e.caller for e in started] == [word]
    fallback = {**keys, "Context": "hotline-fallback", "UserEvent": "HotlineFallback"}
    started = [e for e in translate("UserEvent", fallback, AT) if isinstance(e, CallStarted)]
    assert [e.caller for e in started] == [word]
