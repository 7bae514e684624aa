"""`hotline` subcommands that start or drive real parts (Asterisk, SIPp, services).

Kept apart from ivr/cli.py so that `check-config` and `simulate` import
nothing heavy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

AddCommand = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def _runtime(args: argparse.Namespace) -> Any:
    from ivr.bootstrap import build_runtime

    return build_runtime(args.config)


def _sandbox_up(rt: Any) -> Any:
    from ivr.adapters.asterisk.prompts import build_prompts
    from ivr.adapters.asterisk.sandbox import Sandbox, cmd_up
    from ivr.bootstrap import asterisk_settings

    sandbox = Sandbox()
    sandbox.build()
    build_prompts(rt.config.prompts, sandbox.sounds_dir)
    return cmd_up(asterisk_settings(rt.config), sandbox)


def cmd_asterisk(args: argparse.Namespace) -> int:
    from ivr.adapters.asterisk.sandbox import cmd_down, cmd_status

    if args.action == "up":
        rt = _runtime(args)
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


def cmd_serve(args: argparse.Namespace) -> int:
    """FastAGI + AMI listener + queue sync, until Ctrl-C."""
    from ivr.service import HotlineService, run_forever

    rt = _runtime(args)
    try:
        asyncio.run(run_forever(HotlineService(rt)))
    finally:
        rt.close()
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """Everything on the embedded default: sandbox Asterisk, FastAGI, AMI listener."""
    from ivr.adapters.asterisk.sandbox import cmd_down
    from ivr.service import HotlineService, run_forever

    rt = _runtime(args)
    cfg = rt.config
    try:
        status = _sandbox_up(rt)
        print(status.summary())
        print(
            f"hotline up: dial {cfg.site.hotline_extension} at sip:{cfg.sip.host}:{cfg.sip.port}; "
            f"FastAGI {cfg.fastagi.host}:{cfg.fastagi.port}; database {cfg.database_url}. "
            "Ctrl-C stops everything.",
            flush=True,
        )
        asyncio.run(run_forever(HotlineService(rt)))
    finally:
        print("stopping Asterisk ...", flush=True)
        cmd_down()
        rt.close()
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    """Set an agent's state (sign in/out, away with a reason) from the command line."""
    rt = _runtime(args)
    try:
        if rt.config.roster.agent(args.agent) is None:
            print(f"error: no agent {args.agent!r} in seats.yaml", file=sys.stderr)
            return 2
        rt.presence_repo.set_agent_state(args.agent, args.state, args.reason, rt.clock())
        print(f"{args.agent}: {args.state}" + (f" ({args.reason})" if args.reason else ""))
    finally:
        rt.close()
    return 0


def cmd_calls(args: argparse.Namespace) -> int:
    """Show one call record (by uid) or the latest calls, as JSON."""
    rt = _runtime(args)
    try:
        if args.uid:
            rec = rt.calls.get_call(args.uid)
            print(json.dumps(_plain(rec), ensure_ascii=False, indent=2, default=str))
            return 0 if rec else 1
        from sqlalchemy import select

        from ivr.adapters.db.models import Call

        with rt.sessions() as s:
            uids = s.scalars(select(Call.uid).order_by(Call.id.desc()).limit(args.limit)).all()
        rows = [_plain(rt.calls.get_call(u)) for u in uids]
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
    finally:
        rt.close()
    return 0


def _plain(obj: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    return asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else obj


def register(add: AddCommand) -> None:
    p = add("asterisk", cmd_asterisk, "build/start/stop the sandbox Asterisk")
    p.add_argument("action", choices=("up", "down", "status"))
    add("serve", cmd_serve, "run FastAGI, the AMI listener and queue sync (Asterisk elsewhere)")
    add("up", cmd_up, "run the whole hotline: sandbox Asterisk, FastAGI, AMI listener")
    p = add("agent", cmd_agent, "set an agent's state")
    p.add_argument("agent")
    p.add_argument("state", choices=("available", "away", "wrap_up", "signed_out"))
    p.add_argument("--reason", default="")
    p = add("calls", cmd_calls, "print call records as JSON")
    p.add_argument("--uid")
    p.add_argument("--limit", type=int, default=10)
