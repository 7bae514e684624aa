"""External numbers through a SIP trunk (issue 10, item 3): the trunk endpoint and
aor rendered from routing.yaml `trunks:`, the dialplan of the `external` and `rota`
route kinds, the answered outside leg on the call's record, and Twilio's mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from config_files import SAMPLE_CONFIG_DIR, edit

from ivr.adapters.asterisk.ami import translate
from ivr.adapters.asterisk.errors import TemplateError
from ivr.adapters.asterisk.handlers import route_variables
from ivr.adapters.asterisk.templates import AsteriskSettings, SeatSpec, render_all
from ivr.bootstrap import asterisk_settings
from ivr.config import ConfigError, load_config
from ivr.domain.calllog import CallAnswered
from ivr.domain.routing import Decision, Route, RouteKind

AT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def settings(**kw: object) -> AsteriskSettings:
    base: dict[str, object] = dict(
        hotline_extension="4000",
        seats=(SeatSpec("seat1", 1),),
        queues=("repairs", "operator"),
        seat_password="pw",
        ami_secret="secret",
    )
    return AsteriskSettings(**{**base, **kw})  # type: ignore[arg-type]


def test_the_sample_has_no_trunk_and_renders_none() -> None:
    out = render_all(asterisk_settings(load_config(SAMPLE_CONFIG_DIR)))
    assert "[trunk-" not in out["pjsip.conf"]


def test_a_trunk_from_routing_yaml_is_an_endpoint_and_aor(config_dir: Path) -> None:
    edit(
        config_dir,
        "routing.yaml",
        "vip:",
        "trunks:\n  carrier: {host: 127.0.0.1, port: 5070}\nvip:",
    )
    cfg = load_config(config_dir)
    assert cfg.trunks["carrier"].port == 5070
    pjsip = render_all(asterisk_settings(cfg))["pjsip.conf"]
    endpoint = pjsip[pjsip.index("[trunk-carrier]\ntype=endpoint") :]
    assert "context=hotline-trunk\n" in endpoint and "aors=trunk-carrier\n" in endpoint
    assert "[trunk-carrier]\ntype=aor\ncontact=sip:127.0.0.1:5070\n" in pjsip
    assert "trunk-carrier-identify" not in pjsip  # the carrier's own requests: not the trunk's


@pytest.mark.parametrize(
    ("trunks", "item"),
    [
        ("{'car rier': {host: h}}", "trunks.car rier"),
        ("{carrier: {host: 'a;b'}}", "trunks.carrier.host"),
        ("{carrier: {host: h, port: 70000}}", "trunks.carrier.port"),
        ("{carrier: {port: 5070}}", "trunks.carrier.host"),
    ],
)
def test_a_bad_trunk_is_refused_naming_it(config_dir: Path, trunks: str, item: str) -> None:
    edit(config_dir, "routing.yaml", "vip:", f"trunks: {trunks}\nvip:")
    with pytest.raises(ConfigError) as err:
        load_config(config_dir)
    assert (err.value.file, err.value.item) == ("routing.yaml", item)


def test_the_renderer_refuses_a_trunk_that_would_break_pjsip_conf() -> None:
    with pytest.raises(TemplateError, match="trunk"):
        render_all(settings(trunks={"carrier]\n[x": ("127.0.0.1", 5070)}))
    with pytest.raises(TemplateError, match="host"):
        render_all(settings(trunks={"carrier": ("1.2.3.4\ncontact=x", 5070)}))


def test_the_dialplan_dials_the_number_through_the_trunk_and_overflows_unanswered() -> None:
    ext = render_all(settings(trunks={"carrier": ("127.0.0.1", 5070)}))["extensions.conf"]
    external = ext[ext.index("[hotline-route-external]") :]
    external = external[: external.index("\n[")]
    assert "${FILTER(0-9+,${CUT(HOTLINE_ROUTE_TARGET,@,1)})}" in external
    assert "Set(HOTLINE_EXTERNAL=${number}@${trunk})" in external
    assert "Dial(PJSIP/${number}@trunk-${trunk},${ring})" in external
    assert "Goto(hotline-route-overflow,s,1)" in external
    rota = ext[ext.index("[hotline-route-rota]") :]
    assert rota.split("\n")[1] == "exten => s,1,Set(HOTLINE_ROUTE_TARGET=${HOTLINE_QUEUE})"
    assert "[hotline-trunk]" in ext


def test_route_variables_of_an_external_decision() -> None:
    decision = Decision(
        Route(RouteKind.EXTERNAL, "+8613700000009@carrier"), "repairs", 3, False, "repairs",
        120, 20, RouteKind.CALLBACK, ("route: external +8613700000009@carrier",),
    )  # fmt: skip
    values = dict(route_variables(decision, "zh-CN"))
    assert values["HOTLINE_ROUTE_KIND"] == "external"
    assert values["HOTLINE_ROUTE_TARGET"] == "+8613700000009@carrier"
    assert values["HOTLINE_QUEUE"] == "repairs"  # the overflow's branch


def test_the_answered_outside_leg_goes_on_the_callers_record() -> None:
    event = {
        "Uniqueid": "1732330800.7",
        "Linkedid": "1732330800.7",
        "DestChannel": "PJSIP/trunk-carrier-0000002a",
        "DialStatus": "ANSWER",
        "Context": "hotline-route-external",
    }
    assert translate("DialEnd", event, AT) == [CallAnswered("1732330800.7", AT, "trunk-carrier")]
