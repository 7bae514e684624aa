"""Admission control (issue 14): the limit from config, the dialplan gate that
enforces it, and the record of a call turned away (outcome shed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from config_files import SAMPLE_CONFIG_DIR, edit

from ivr.adapters.asterisk import names
from ivr.adapters.asterisk.ami import translate
from ivr.adapters.asterisk.errors import TemplateError
from ivr.adapters.asterisk.templates import AsteriskSettings, SeatSpec, render_all
from ivr.config import ConfigError, load_config
from ivr.domain.calllog import CallEnded, CallStarted, Outcome

AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def settings(**kw: object) -> AsteriskSettings:
    base: dict[str, object] = dict(
        hotline_extension="4000",
        seats=(SeatSpec("seat1", 1),),
        queues=("enquiries", "operator"),
        seat_password="pw",
        ami_secret="secret",
    )
    return AsteriskSettings(**{**base, **kw})  # type: ignore[arg-type]


def test_the_sample_config_admits_200_callers_at_once() -> None:
    assert load_config(SAMPLE_CONFIG_DIR).admission.max_in_ivr == 200


def test_the_limit_is_read_from_config(config_dir: Path) -> None:
    edit(config_dir, "hotline.yaml", "max_in_ivr: 200", "max_in_ivr: 35")
    assert load_config(config_dir).admission.max_in_ivr == 35


@pytest.mark.parametrize(
    "value, reason",
    [
        ("0", "at least 1"),
        ("-3", "at least 1"),
        ("100001", "at most 100000"),
        ("many", "whole number"),
        ("2.5", "whole number"),
        ("true", "whole number"),
    ],
)
def test_a_bad_limit_is_refused_naming_the_item(config_dir: Path, value: str, reason: str) -> None:
    edit(config_dir, "hotline.yaml", "max_in_ivr: 200", f"max_in_ivr: {value}")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir)
    assert e.value.file == "hotline.yaml" and e.value.item == "admission.max_in_ivr"
    assert reason in e.value.reason


def test_a_misspelt_admission_key_is_refused(config_dir: Path) -> None:
    edit(config_dir, "hotline.yaml", "max_in_ivr: 200", "max_in_iv: 200")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir)
    assert e.value.item == "admission.max_in_iv" and "max_in_ivr" in e.value.reason


def test_by_default_fifty_callers_turned_away_may_hear_the_busy_prompt_at_once() -> None:
    assert load_config(SAMPLE_CONFIG_DIR).admission.max_told_busy == 50


@pytest.mark.parametrize("value", [0, 7, 100_000])
def test_the_told_busy_limit_is_read_from_config(config_dir: Path, value: int) -> None:
    edit(config_dir, "hotline.yaml", "max_told_busy: 50", f"max_told_busy: {value}")
    assert load_config(config_dir).admission.max_told_busy == value


@pytest.mark.parametrize(
    "value, reason",
    [
        ("-1", "at least 0"),
        ("100001", "at most 100000"),
        ("few", "whole number"),
        ("2.5", "whole number"),
        ("true", "whole number"),
        ("", "whole number"),
    ],
)
def test_a_bad_told_busy_limit_is_refused_naming_the_item(
    config_dir: Path, value: str, reason: str
) -> None:
    edit(config_dir, "hotline.yaml", "max_told_busy: 50", f"max_told_busy: {value}")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir)
    assert e.value.file == "hotline.yaml" and e.value.item == "admission.max_told_busy"
    assert reason in e.value.reason, e.value.reason


def test_past_the_told_busy_limit_a_caller_is_refused_before_answer() -> None:
    conf = render_all(settings(max_told_busy=3))["extensions.conf"]
    assert f"{names.GLOBAL_MAX_TOLD_BUSY}=3" in conf
    shed = conf[conf.index("[hotline-shed]") :].split("\n\n")[0].splitlines()
    join = shed.index(" same => n,Set(GROUP(hotline)=shed)")
    gate = shed[join + 1]
    assert gate == (
        " same => n,GotoIf($[${GROUP_COUNT(shed@hotline)} > ${HOTLINE_MAX_TOLD_BUSY}]?refuse)"
    )
    assert shed.index(" same => n,Answer()") > join + 1  # refused: never answered
    assert shed[-1] == " same => n(refuse),Hangup(34)"  # congestion: SIP 503
    assert shed[1] == "exten => s,1,Set(CHANNEL(accountcode)=hotline-shed)"  # recorded as shed


@pytest.mark.parametrize("limit", [-1, 100_001])
def test_the_renderer_refuses_a_told_busy_limit_out_of_range(limit: int) -> None:
    with pytest.raises(TemplateError, match="max_told_busy"):
        render_all(settings(max_told_busy=limit))


def test_the_busy_prompt_is_required(config_dir: Path) -> None:
    edit(config_dir, "prompts.yaml", "  busy:\n", "  busy_unused:\n")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir)
    assert e.value.item == "prompts.busy"


def test_the_gate_counts_callers_into_the_ivr_and_out_once_decided() -> None:
    conf = render_all(settings(max_in_ivr=7))["extensions.conf"]
    assert f"{names.GLOBAL_MAX_IN_IVR}=7" in conf
    inbound = conf[conf.index("[hotline-inbound]") : conf.index("; Baseline")]
    lines = inbound.splitlines()
    join = lines.index(" same => n,Set(GROUP(hotline)=ivr)")
    gate = lines[join + 1]
    assert gate.startswith(
        " same => n,GotoIf($[${GROUP_COUNT(ivr@hotline)} > ${HOTLINE_MAX_IN_IVR}]"
    )
    assert gate.endswith("?hotline-shed,s,1)")
    answer = lines.index(" same => n,Answer()")
    assert join < answer  # a caller turned away costs no AGI, nor the menu's media
    assert " same => n(decide),Set(GROUP(hotline)=routed)" in lines
    shed = conf[conf.index("[hotline-shed]") :].split("\n\n")[0]
    assert "Set(CHANNEL(accountcode)=hotline-shed)" in shed
    assert "Playback(hotline/zh-CN/busy&hotline/en/busy)" in shed
    assert "AGI(" not in shed


def test_asterisk_loads_the_group_functions_the_gate_uses() -> None:
    modules = render_all(settings())["modules.conf"]
    assert "load = func_groupcount.so" in modules


def test_the_agi_script_extension_has_the_same_gate() -> None:
    from ivr.adapters.asterisk.templates import AgiScriptExtension

    conf = render_all(settings(agi_script=AgiScriptExtension("4001", ("/bin/agi",))))[
        "extensions.conf"
    ]
    script = conf[conf.index("exten => 4001,1") :].split("\n\n")[0]
    assert "GotoIf($[${GROUP_COUNT(ivr@hotline)} > ${HOTLINE_MAX_IN_IVR}]" in script
    assert script.index("GROUP_COUNT") < script.index("Answer()")


@pytest.mark.parametrize("limit", [0, -1, 100_001])
def test_the_renderer_refuses_a_limit_out_of_range(limit: int) -> None:
    with pytest.raises(TemplateError, match="max_in_ivr"):
        render_all(settings(max_in_ivr=limit))


def shed_hangup(context: str = "hotline-shed", accountcode: str = "hotline-shed") -> dict[str, str]:
    return {
        "Uniqueid": "1.7",
        "Linkedid": "1.7",
        "Channel": "PJSIP/anonymous-00000007",
        "CallerIDNum": "13800000001",
        "CallerIDName": "",
        "Context": context,
        "Exten": "s",
        "AccountCode": accountcode,
        "Cause": "16",
        "Cause-txt": "Normal Clearing",
    }


def test_the_hangup_of_a_shed_call_makes_its_record_with_outcome_shed() -> None:
    started, ended = translate("Hangup", shed_hangup(), AT)
    assert isinstance(started, CallStarted) and started.source == "ami"
    assert started.caller == "13800000001" and started.uid == "1.7"
    assert ended == CallEnded("1.7", AT, "16 Normal Clearing", Outcome.SHED)


def test_a_shed_account_code_outside_the_hotline_makes_no_record() -> None:
    assert translate("Hangup", shed_hangup(context="default"), AT) == []


def test_an_admitted_call_states_no_outcome_of_its_own() -> None:
    events = translate("Hangup", shed_hangup("hotline-inbound", "hotline-in"), AT)
    assert isinstance(events[1], CallEnded) and events[1].outcome is None


# --- priority across queues (issue 10): a queue's weight is its branch's priority ---


def test_each_branch_queue_weighs_its_branch_priority() -> None:
    from ivr.bootstrap import asterisk_settings

    cfg = load_config(SAMPLE_CONFIG_DIR)
    queues = render_all(asterisk_settings(cfg))["queues.conf"]
    sections = {
        block.split("]", 1)[0].lstrip("["): block
        for block in queues.split("\n[")[1:]
        if "(hotline-queue)" in block
    }
    assert "weight = 10" in sections["emergency"] and "weight = 1\n" in sections["enquiries"]
    assert "weight = 3" in sections["repairs"] and "weight" not in sections["operator"]


def test_a_priority_out_of_range_is_refused(config_dir: Path) -> None:
    edit(config_dir, "routing.yaml", "priority: 10,", "priority: 5000,")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir)
    assert e.value.item == "branches.emergency.priority" and "at most 1000" in e.value.reason


def test_the_renderer_refuses_a_weight_for_no_queue() -> None:
    with pytest.raises(TemplateError, match="weight"):
        render_all(settings(queue_weights={"nowhere": 3}))
