"""The Asterisk sandbox and its rendered configuration.

Unit tests render the templates; e2e tests (marked) run the real Asterisk 22 in
the sandbox and place SIPp calls into it.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.adapters.asterisk import names
from ivr.adapters.asterisk.errors import TemplateError
from ivr.adapters.asterisk.prompts import load_prompts_yaml
from ivr.adapters.asterisk.templates import (
    AgiScriptExtension,
    AsteriskSettings,
    ConfTemplate,
    SeatSpec,
    render_all,
    settings_from_yaml_dir,
)
from lab.sandbox import Sandbox
from lab.sipp import place_call
from lab.testing import AmiEvents, free_tcp_port, running_sandbox

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def sample_settings(**changes: object) -> AsteriskSettings:
    return dataclasses.replace(settings_from_yaml_dir(CONFIG_DIR), **changes)  # type: ignore[arg-type]


# --- rendering (no Asterisk needed) ---------------------------------------------


def test_pjsip_has_one_authenticated_endpoint_per_seat() -> None:
    cfg = sample_settings()
    pjsip = render_all(cfg)["pjsip.conf"]
    for seat in cfg.seats:
        port = cfg.seat_port_base + seat.position
        assert f"[{seat.name}]\ntype=endpoint\ncontext={names.CONTEXT_SEATS}\n" in pjsip
        assert f"auth={seat.name}-auth" in pjsip
        assert f"contact=sip:{seat.name}@{cfg.sip_host}:{port}" in pjsip
    assert f"context = {names.CONTEXT_INBOUND}" in pjsip
    assert pjsip.count("direct_media") == len(cfg.seats) + 1


def test_register_seats_have_no_static_contact() -> None:
    pjsip = render_all(sample_settings(seat_contacts="register"))["pjsip.conf"]
    assert "contact=" not in pjsip
    assert pjsip.count("max_contacts=1") == 6


def test_dialplan_uses_the_shared_names() -> None:
    text = render_all(sample_settings(fastagi_port=4599))["extensions.conf"]
    assert f"[{names.CONTEXT_INBOUND}]" in text
    assert f"[{names.CONTEXT_FALLBACK}]" in text
    assert f"AGI(agi://127.0.0.1:4599/{names.ROUTE_HOTLINE})" in text
    assert f"AGI(agi://127.0.0.1:4599/{names.ROUTE_OVERFLOW})" in text
    assert f"UserEvent({names.USEREVENT_FALLBACK}," in text
    assert f"Queue({names.QUEUE_OPERATOR}," in text
    for kind in ("seat", "queue", "emergency", "overflow", "voicemail", "callback", "hangup"):
        assert f"[{names.CONTEXT_ROUTE_PREFIX}{kind}]" in text
    assert not re.search(r"@\{[a-z_]+\}", text)
    assert "include => hotline-selftest" not in text


def test_a_hotline_call_is_marked_before_it_is_answered() -> None:
    """Account code and entry time come first: a caller gone during Answer's media
    wait still has them on the Hangup, which then makes the record."""
    text = render_all(sample_settings())["extensions.conf"]
    # then admission control counts the caller in (issue 14), still before Answer
    assert (
        f"exten => 4000,1,Set(CHANNEL(accountcode)={names.ACCOUNTCODE_INBOUND})\n"
        f" same => n,Set({names.VAR_ENTERED}=${{STRFTIME(,,%s.%6q)}})\n"
        f" same => n,Set(GROUP({names.GROUP_CATEGORY})={names.GROUP_IN_IVR})\n"
    ) in text
    inbound = text[text.index("exten => 4000,1") :]
    assert inbound.index("GROUP_COUNT(") < inbound.index(" same => n,Answer()\n")
    manager = render_all(sample_settings())["manager.conf"]
    assert "timestampevents = yes" in manager
    assert f"channelvars = {names.VAR_ENTERED}" in manager


def test_one_queue_per_branch_plus_operator() -> None:
    queues = render_all(sample_settings())["queues.conf"]
    sections = re.findall(r"^\[([a-z]+)\]\(hotline-queue\)", queues, re.M)
    assert sections == ["enquiries", "complaints", "repairs", "emergency", "operator"]
    assert "joinempty = strict" in queues and "leavewhenempty = strict" in queues


def test_manager_is_loopback_only() -> None:
    manager = render_all(sample_settings())["manager.conf"]
    assert "bindaddr = 127.0.0.1" in manager
    assert "deny = 0.0.0.0/0.0.0.0" in manager
    assert "permit = 127.0.0.1/255.255.255.255" in manager


def test_values_with_line_breaks_are_refused() -> None:
    with pytest.raises(TemplateError, match="seat_password"):
        render_all(sample_settings(seat_password="x\n[evil]"))
    with pytest.raises(TemplateError, match="seat"):
        render_all(sample_settings(seats=(SeatSpec("seat 1", 1),)))
    with pytest.raises(TemplateError, match="seat"):  # the whole name: not a line end after it
        render_all(sample_settings(seats=(SeatSpec("seat1\n", 1),)))


def test_template_leaves_asterisk_variables_alone() -> None:
    text = ConfTemplate("${X} @{a} hotline@default @@").substitute(a="1")
    assert text == "${X} 1 hotline@default @"


# --- the real Asterisk -------------------------------------------------------------


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root (chroot)")


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[Sandbox, AsteriskSettings]]:
    """The sandbox running the sample config, FastAGI on a port nobody listens on."""
    cfg = sample_settings(selftest_extensions=True, fastagi_port=free_tcp_port())
    prompts = load_prompts_yaml(CONFIG_DIR / "prompts.yaml")
    with running_sandbox(cfg, restore=sample_settings(), prompts=prompts) as box:
        yield box, cfg


@pytest.mark.e2e
@needs_root
def test_status_and_rx(live: tuple[Sandbox, AsteriskSettings]) -> None:
    box, cfg = live
    status = box.status()
    assert status.running and status.version and "Asterisk 22" in status.version
    endpoints = box.rx("pjsip show endpoints")
    for seat in cfg.seats:
        assert f"Endpoint:  {seat.name} " in endpoints


@pytest.mark.e2e
@needs_root
def test_cdr_engine_is_off(live: tuple[Sandbox, AsteriskSettings]) -> None:
    """The hotline keeps its own call log; Asterisk's CDR engine would work for nothing."""
    box, _ = live
    status = box.rx("cdr show status")
    assert re.search(r"Logging:\s+Disabled", status), status


# An application at a priority (`exten => 4000,1,Answer()`, `same => n(x),Set(`) and
# a function anywhere (`${FILTER(`, `Set(CHANNEL(accountcode)=`).
_APPLICATION = re.compile(r"^\s*(?:exten\s*=>\s*[^,]+|same\s*=>)\s*[^,]*,\s*([A-Za-z]\w*)\(", re.M)
_FUNCTION = re.compile(r"(?:\$\{|\bSet\(|\bExecIf\()([A-Z][A-Z0-9_]*)\(")


def _dialplans(cfg: AsteriskSettings) -> str:
    """Every dialplan the hotline renders, with every optional part on: the self-test
    seats, the process-per-call AGI script, Twilio's legs, trunks and the callbacks'."""
    from ivr.config.hotline import load_config
    from ivr.dialer.asterisk_conf import render as render_callbacks

    full = dataclasses.replace(
        cfg,
        agi_script=AgiScriptExtension("4001", ("/usr/bin/true",)),
        twilio_sources=("127.0.0.2/32",),
        trunks={"carrier": ("127.0.0.1", 5070)},
    )
    files = render_all(full) | render_callbacks(load_config(CONFIG_DIR, env={}).callbacks.dialer)
    return "\n".join(text for name, text in files.items() if name.startswith("extensions"))


def test_the_rendered_dialplans_name_their_applications_and_functions() -> None:
    text = _dialplans(sample_settings(selftest_extensions=True))
    apps, functions = set(_APPLICATION.findall(text)), set(_FUNCTION.findall(text))
    # the parse finds what the dialplan is made of (else the live check checks nothing)
    assert {"Answer", "AGI", "Queue", "Read", "SayUnixTime", "VoiceMail"} <= apps
    assert {"FILTER", "CHANNEL", "GROUP", "IF", "STRFTIME", "FILE"} <= functions


@pytest.mark.e2e
@needs_root
def test_every_application_and_function_of_the_dialplans_is_loaded(
    live: tuple[Sandbox, AsteriskSettings],
) -> None:
    """modules.conf loads an explicit list (autoload=no): an application missing from it
    is found only when a caller reaches it, and the call ends there (SayUnixTime, the
    callback's due time, was missing, and the caller never heard it or goodbye)."""
    box, cfg = live
    text = _dialplans(cfg)
    loaded_apps = set(re.findall(r"^\s*(\w+):", box.rx("core show applications"), re.M))
    loaded_functions = set(re.findall(r"^\s*([A-Z]\w*)\s", box.rx("core show functions"), re.M))
    assert set(_APPLICATION.findall(text)) - loaded_apps == set()
    assert set(_FUNCTION.findall(text)) - loaded_functions == set()


@pytest.mark.e2e
@needs_root
def test_start_when_running_reloads(live: tuple[Sandbox, AsteriskSettings]) -> None:
    box, _ = live
    pid = box.status().pid
    box.start()
    assert box.status().pid == pid


@pytest.mark.e2e
@needs_root
def test_ami_login_from_loopback(live: tuple[Sandbox, AsteriskSettings]) -> None:
    _, cfg = live
    with AmiEvents(cfg) as ami:
        assert "Success" in ami.login_response
    wrong = dataclasses.replace(cfg, ami_secret="wrong")
    with pytest.raises(Exception, match="refused"), AmiEvents(wrong):
        pass


@pytest.mark.e2e
@needs_root
def test_baseline_call_completes(live: tuple[Sandbox, AsteriskSettings]) -> None:
    _, cfg = live
    result = place_call("", "13800000000", extension=cfg.baseline_extension, hold_ms=8000)
    assert result.ok, result.stderr
    assert result.hung_up_by == "asterisk"  # Answer, Wait(3), Hangup
    assert result.duration_s is not None and 2.5 < result.duration_s < 4.5


@pytest.mark.e2e
@needs_root
def test_fastagi_down_sends_caller_to_fallback(live: tuple[Sandbox, AsteriskSettings]) -> None:
    _, cfg = live
    caller = "13800000042"
    with AmiEvents(cfg) as ami:
        result = place_call("", caller, extension=cfg.hotline_extension, hold_ms=5000)
        event = ami.wait_for(
            "UserEvent",
            lambda f: f.get("UserEvent") == names.USEREVENT_FALLBACK and f.get("Caller") == caller,
        )
        channel = event.fields["Channel"]
        ami.wait_for(  # the operator queue is empty (joinempty): on to voicemail
            "Hangup",
            lambda f: (
                f.get("Channel") == channel
                and f.get("Context") == f"{names.CONTEXT_ROUTE_PREFIX}voicemail"
            ),
            timeout_s=10,
        )
    assert result.ok, result.stderr
    # SIPp sends no audio: VoiceMail gives up ~4 s after it starts ("No audio
    # available"), so who hangs up first depends on timing; the caller was
    # answered, logged over AMI and reached voicemail.
