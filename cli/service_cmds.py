"""`hotline up | serve | reload | speech | asterisk | agent | calls | call`: the running hotline.

`up`, `asterisk` and `call` drive the lab's sandbox Asterisk and SIPp phones;
`serve` runs the service against an Asterisk elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.common import (
    MAX_LIMIT,
    AddCommand,
    agent_id,
    audit_cli,
    config,
    dtmf_keys,
    float_range,
    int_range,
    known_agent,
    nonempty,
    plain,
    runtime,
    text_arg,
)
from ivr.domain.text import shown

if TYPE_CHECKING:  # imported when used: the CLI starts without them
    from ivr.bootstrap import Runtime
    from ivr.config import HotlineConfig
    from lab.sandbox import SandboxStatus
    from web.server import WebServer

SURVEY_MARGIN_MS = 1500  # after the seat's hang-up, for the survey's question to start


def _sandbox_up(rt: Runtime) -> SandboxStatus:
    from lab.provision import provision_sandbox

    return provision_sandbox(rt)


def cmd_asterisk(args: argparse.Namespace) -> int:
    from lab.sandbox import cmd_down, cmd_status

    config(args)  # --config is checked for every action, never silently ignored
    if args.action == "up":
        rt = runtime(args)
        try:
            status = _sandbox_up(rt)
        finally:
            rt.close()
    elif args.action == "down":
        status = cmd_down()
    else:
        status = cmd_status()
    print(status.summary())
    return 0


RELOAD_WAIT_SECONDS = 120.0  # a reload may speak new prompts before it answers


def cmd_serve(args: argparse.Namespace) -> int:
    """FastAGI + AMI listener + queue sync, until Ctrl-C; SIGHUP or `hotline reload`
    applies a changed configuration."""
    from ivr.adapters.asterisk.conf_dir import AsteriskConfDir
    from ivr.bootstrap import build_service
    from ivr.service import run_forever

    target = AsteriskConfDir(Path(args.asterisk_dir)) if args.asterisk_dir else None
    if target is not None and not target.directory.is_dir():
        print(f"error: --asterisk-dir {args.asterisk_dir}: not a directory", file=sys.stderr)
        return 2
    rt = runtime(args)
    try:
        asyncio.run(run_forever(build_service(rt, asterisk=target)))
    finally:
        rt.close()
    return 0


def cmd_speech(args: argparse.Namespace) -> int:
    """The recognition service (vosk, AudioSocket in, results to FastAGI), until Ctrl-C."""
    from ivr.adapters.speech.service import serve_forever
    from ivr.bootstrap import recognition_service

    cfg = config(args)
    if not cfg.speech.languages(cfg.directory):
        raise ValueError("speech: no language has a model (hotline check-config says why)")
    service = recognition_service(cfg)
    print(
        f"speech: languages {', '.join(service.models.languages)}; audio "
        f"{cfg.speech.host}:{cfg.speech.audio_port}, control {cfg.speech.control_port}",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(service))
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """Everything on the embedded default: sandbox Asterisk, FastAGI, AMI listener,
    the web app, and the callback dialer. Ctrl-C stops them all."""
    from lab.sandbox import Sandbox
    from web.app import create_app
    from web.server import WebServer

    # Before the sandbox is touched: a refused configuration exits 2, and the web app's
    # port is bound (one in use is said at once, not by a web thread dying later).
    rt = runtime(args)
    try:
        web = WebServer(create_app(rt), rt.config.web.host, rt.config.web.port)
    except BaseException:
        rt.close()
        raise
    try:
        with Sandbox().exclusive(timeout_s=5):
            return _up(rt, web)
    finally:
        web.stop()
        rt.close()


def cmd_reload(args: argparse.Namespace) -> int:
    """Check the configuration as check-config does, then ask the running service to
    apply it (over its control socket). Exit 0 applied, 1 no service answers, 2 refused
    (the running configuration stays)."""
    from ivr.bootstrap import config_dir, control_socket

    cfg = config(args)  # a refused configuration exits 2 here, naming file and item
    directory = config_dir(getattr(args, "config", None), os.environ).resolve()
    path = control_socket(cfg)
    request = json.dumps({"command": "reload", "config": str(directory)}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(RELOAD_WAIT_SECONDS)
            sock.connect(str(path))
            sock.sendall(request)
            reply = json.loads(sock.makefile("rb").readline() or b"null")
    except (OSError, ValueError) as e:
        print(
            f"error: no hotline service answers at {path} ({e}); is `hotline up` or "
            "`hotline serve` running with this data directory? (SIGHUP to its process "
            "reloads too)",
            file=sys.stderr,
        )
        return 1
    if not isinstance(reply, dict):
        print(f"error: the service at {path} gave no answer", file=sys.stderr)
        return 1
    for line in reply.get("asterisk", []):
        print(f"  asterisk: {line}")
    if reply.get("ok"):
        print(reply.get("message", "reloaded"))
        return 0
    print(
        f"reload refused: {reply.get('message')}; the running configuration stays",
        file=sys.stderr,
    )
    return 2


def _up(rt: Runtime, web: WebServer) -> int:
    import threading

    from ivr.adapters.asterisk.conf_dir import AsteriskConfDir
    from ivr.bootstrap import build_service, start_dialer_threads
    from ivr.service import interrupts_ignored, run_forever
    from lab.sandbox import Sandbox, cmd_down

    cfg = rt.config
    dialers: list[tuple[Any, threading.Thread]] = []
    speech = _speech_process(cfg)
    try:
        status = _sandbox_up(rt)
        print(status.summary())
        web.start()
        print(
            f"hotline up: dial {cfg.site.hotline_extension} at sip:{cfg.sip.host}:{cfg.sip.port}; "
            f"FastAGI {cfg.fastagi.host}:{cfg.fastagi.port}; web http://{cfg.web.host}:"
            f"{cfg.web.port}/ ; database {cfg.database_url}. Ctrl-C stops everything.",
            flush=True,
        )
        box = Sandbox()  # a reload rewrites its files and prompts, then reloads it
        service = build_service(rt, asterisk=AsteriskConfDir(box.config_dir, box.sounds_dir))
        asyncio.run(
            run_forever(service, on_started=lambda: dialers.extend(start_dialer_threads(rt)))
        )
    finally:
        with interrupts_ignored():  # a second Ctrl-C must not leave Asterisk running
            print("stopping ...", flush=True)
            for dialer, thread in dialers:
                dialer.stop()
                thread.join(10)
            if speech is not None:
                speech.terminate()
                speech.wait(10)
            cmd_down()
    return 0


def _speech_process(cfg: HotlineConfig) -> subprocess.Popen[bytes] | None:
    """`hotline speech` as a child process when a language has a model (its own
    process: decoding never competes with FastAGI for the interpreter)."""
    if not cfg.speech.languages(cfg.directory):
        return None
    command = [sys.executable, "-m", "cli.main", "speech", "--config", str(cfg.directory)]
    print(f"speech recognition: {', '.join(cfg.speech.languages(cfg.directory))}", flush=True)
    return subprocess.Popen(command)


def cmd_agent(args: argparse.Namespace) -> int:
    """Set an agent's state (sign in/out, away with a reason) from the command line."""
    rt = runtime(args)
    try:
        if not known_agent(rt.config, args.agent, "agent"):
            return 2
        rt.presence_repo.set_agent_state(args.agent, args.state, args.reason, rt.clock())
        print(f"{args.agent}: {args.state}" + (f" ({args.reason})" if args.reason else ""))
    finally:
        rt.close()
    return 0


def cmd_calls(args: argparse.Namespace) -> int:
    """Show one call record (by uid) or the latest calls, as JSON; numbers masked
    unless --full-numbers, which is audited (REQUIREMENTS §7)."""
    rt = runtime(args)
    try:
        if args.uid:
            rec = rt.calls.get_call(args.uid)
            records = [rec] if rec else []
        else:
            from sqlalchemy import select

            from ivr.adapters.db.models import Call

            with rt.sessions() as s:
                uids = s.scalars(select(Call.uid).order_by(Call.id.desc()).limit(args.limit)).all()
            records = [r for r in map(rt.calls.get_call, uids) if r is not None]
        if args.full_numbers:
            _audit_full_numbers(rt, args.uid or f"latest {args.limit}", len(records))
        rows = [_shown(r, args.full_numbers) for r in records]
        out = (rows[0] if rows else None) if args.uid else rows
        print(json.dumps(out, ensure_ascii=False, indent=2, default=str))
        return 1 if args.uid and not rows else 0
    finally:
        rt.close()


def _shown(rec: Any, full: bool) -> Any:
    from ivr.domain.privacy import mask_in
    from ivr.phone import mask  # E.164-aware: +86 138****0001

    record = plain(rec)
    return record if full else mask_in(record, rec.caller, mask)


def _audit_full_numbers(rt: Any, target: str, count: int) -> None:
    """The OS user read full caller numbers: the same audit log the web app keeps."""
    audit_cli(rt, "calls_read", target, f"full numbers, {count} call(s)")


def cmd_call(args: argparse.Namespace) -> int:
    """Place a real SIP call (SIPp, RFC 2833 DTMF) into the running hotline."""
    import random
    import time

    from ivr.bootstrap import asterisk_settings
    from lab.sandbox import Sandbox
    from lab.sipp import SeatPool, place_call

    rt = runtime(args)
    try:
        if not Sandbox().is_running():
            print(
                "error: the sandbox Asterisk is not running: start `hotline up` first",
                file=sys.stderr,
            )
            return 2
        number = args.from_number or f"1380000{random.randint(0, 9999):04d}"
        # The newest record before the call: clock-independent (the service may
        # run with HOTLINE_NOW pinned while this command does not).
        watermark = rt.calls.last_id()
        # With --survey the seats hang up after --talk-ms and the caller stays on the
        # line: its survey keys follow the menu keys by the ring, the talk and a margin.
        talk_ms = args.talk_ms if args.survey else None
        hold_ms = args.hold_ms if args.hold_ms is not None else (20000 if args.survey else 3000)
        pool = SeatPool(asterisk_settings(rt.config), ring_ms=args.ring_ms, hold_ms=talk_ms)
        with pool:
            result = place_call(
                args.keys,
                number,
                hold_ms=hold_ms,
                timeout_s=args.timeout,
                key_gap_ms=args.key_gap_ms,
                sip_target=f"{rt.config.sip.host}:{rt.config.sip.port}",
                extension=rt.config.site.hotline_extension,
                survey=args.survey,
                survey_delay_ms=args.ring_ms + (talk_ms or 0) + SURVEY_MARGIN_MS,
            )
            record = _wait_for_record(rt, number, watermark, time.monotonic() + 15)
        survey = _wait_for_survey(rt, record.uid, time.monotonic() + 5) if record else None
        out = {
            "caller": number,
            "keys": args.keys,
            "sip": {
                "call_id": result.call_id,
                "final_status": result.final_status,
                "hung_up_by": result.hung_up_by,
                "ok": result.ok,
            },
            "call_id": record.uid if record else None,
            "route": {"kind": record.route_kind, "target": record.route_target} if record else None,
            "answered_by": {"seat": record.answered_seat, "agent": record.answered_agent}
            if record and record.answered_seat
            else None,
            "outcome": record.outcome.value if record else None,
            "wait_seconds": record.wait_seconds if record else None,
            "talk_seconds": record.talk_seconds if record else None,
            "trace": list(record.decision.trace) if record and record.decision else [],
            "survey": {
                "outcome": survey.outcome.value,
                "score": survey.score,
                "keys": survey.keys,
                "agent": survey.agent_id,
                "branch": survey.branch,
            }
            if survey
            else None,
        }
        if args.json:
            print(json.dumps(out, ensure_ascii=False, indent=2, default=str))
        else:
            print(f"{number}: {out['outcome']} via {out['route']} answered by {out['answered_by']}")
        return 0 if record is not None else 1
    finally:
        rt.close()


def _wait_for_survey(rt: Any, uid: str, deadline: float) -> Any:
    """The call's stored survey (written as the survey ends), or None: no survey."""
    import time

    while True:
        found = rt.surveys.get(uid)
        if found is not None or time.monotonic() >= deadline:
            return found
        time.sleep(0.2)


def _wait_for_record(rt: Any, number: str, after_id: int, deadline: float) -> Any:
    """The call log's record of the call just placed, once it has ended."""
    import time

    record = None
    while time.monotonic() < deadline:
        record = rt.calls.latest_from(number, after_id)
        if record is not None and record.ended_at is not None:
            return record
        time.sleep(0.2)
    return record


CALLER_NUMBER = re.compile(r"\+?[0-9]{1,20}")


def caller_number(text: str) -> str:
    """An argparse type: the number a test call sends as its caller ID (digits, an
    optional leading +). Hostile caller IDs are sent by the e2e tests through lab.sipp."""
    if not CALLER_NUMBER.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{shown(text)}: digits with an optional leading +")
    return text


def register(add: AddCommand) -> None:
    p = add("asterisk", cmd_asterisk, "build/start/stop the sandbox Asterisk")
    p.add_argument("action", choices=("up", "down", "status"))
    p = add("serve", cmd_serve, "run FastAGI, the AMI listener and queue sync (Asterisk elsewhere)")
    p.add_argument(
        "--asterisk-dir",
        type=nonempty,
        help="Asterisk's config directory: a reload writes the changed rendered files "
        "there and reloads them over AMI (default: the service's side only)",
    )
    add("reload", cmd_reload, "apply a changed configuration to the running service")
    add("speech", cmd_speech, "run the speech recognition service (vosk) for spoken options")
    add("up", cmd_up, "run the whole hotline: sandbox Asterisk, FastAGI, AMI listener")
    p = add("agent", cmd_agent, "set an agent's state")
    p.add_argument("agent", type=agent_id)
    p.add_argument("state", choices=("available", "away", "wrap_up", "signed_out"))
    p.add_argument("--reason", default="", type=text_arg(200), help="e.g. why away (one line)")
    p = add("call", cmd_call, "place a real SIP call (SIPp) into the running hotline")
    p.add_argument("--keys", default="", type=dtmf_keys(64), help="DTMF keys to press (RFC 2833)")
    p.add_argument(
        "--from", dest="from_number", type=caller_number, help="caller number (default: random)"
    )
    p.add_argument(
        "--hold-ms",
        type=int_range(0, 3_600_000),
        default=None,
        help="how long the caller stays after its last key (default 3000; 20000 with --survey)",
    )
    p.add_argument(
        "--survey",
        type=dtmf_keys(8),
        default="",
        help="keys for the satisfaction survey after the seat hangs up (0-9, * and #)",
    )
    p.add_argument(
        "--talk-ms",
        type=int_range(500, 600_000),
        default=2500,
        help="with --survey: the seats hang up this long after answering",
    )
    p.add_argument("--key-gap-ms", type=int_range(100, 60_000), default=1200)
    p.add_argument(
        "--ring-ms", type=int_range(0, 120_000), default=500, help="how long the SIPp seats ring"
    )
    p.add_argument("--timeout", type=float_range(1, 3600), default=60.0)
    p.add_argument("--json", action="store_true")
    p = add("calls", cmd_calls, "print call records as JSON")
    p.add_argument("--uid", type=text_arg(64, blank=False), help="one call by its unique id")
    p.add_argument("--limit", type=int_range(1, MAX_LIMIT), default=10)
    p.add_argument("--full-numbers", action="store_true", help="show full caller numbers (audited)")
