"""`hotline web | users | demo`: the staff's web side-app and its accounts."""

from __future__ import annotations

import argparse
import getpass
import sys
import threading
from typing import Any

from cli.common import (
    AddCommand,
    agent_id,
    config,
    float_range,
    int_range,
    known_agent,
    nonempty,
    runtime,
    text_arg,
)


def web_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "sl_seconds": args.sl_seconds,
        "sl_level": args.sl_target / 100,
        "away_approval": args.away_approval,
        "secure_cookies": not args.insecure_cookies,
        "heavy_slots": args.heavy_slots,
        "heavy_wait_seconds": args.heavy_wait,
        "heavy_timeout_seconds": args.heavy_timeout,
    }


def add_web_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sl-seconds", type=float_range(1, 3600), default=20.0, help="service level: within Y s"
    )
    p.add_argument(  # below 100: Erlang C never reaches 100 %, the planner would need no end
        "--sl-target",
        type=float_range(1, 99.9),
        default=80.0,
        help="service level target X %% (1 to 99.9)",
    )
    p.add_argument(
        "--away-approval",
        choices=("refuse", "lead"),
        default="refuse",
        help="an away request that breaks a staffing rule is refused or waits for the lead",
    )
    p.add_argument(
        "--heavy-slots",
        type=int_range(1, 64),
        default=2,
        help="reports, exports and call-list scans at once (more wait, then 503)",
    )
    p.add_argument(
        "--heavy-wait",
        type=float_range(0, 60),
        default=2.0,
        help="seconds a heavy request waits for a slot before 503",
    )
    p.add_argument(
        "--heavy-timeout",
        type=float_range(0.1, 3600),
        default=15.0,
        help="seconds a heavy database statement may run (then 503)",
    )
    p.add_argument(
        "--insecure-cookies",
        action="store_true",
        help="send the session cookie over plain http (not only https / localhost)",
    )


def cmd_web(args: argparse.Namespace) -> int:
    from web.server import serve

    rt = runtime(args)
    host = args.host or rt.config.web.host
    port = args.port or rt.config.web.port
    stop = threading.Event()
    server = "werkzeug (debug)" if args.debug else "cheroot"
    print(f"hotline web on http://{host}:{port}/ ({server}; Ctrl-C stops)", flush=True)
    try:
        serve(rt, host, port, stop, debug=args.debug, **web_options(args))
    except KeyboardInterrupt:
        stop.set()
    finally:
        rt.close()
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    from web import store

    rt = runtime(args)
    try:
        if not known_agent(rt.config, args.agent or None, "--agent"):
            return 2
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = getpass.getpass(f"password for {args.username}: ")
        try:
            with rt.sessions.begin() as s:
                uid = store.add_user(s, args.username, password, args.role, args.agent, rt.clock())
                store.audit(
                    s, "user_add", target=args.username, detail=f"{args.role} (cli)",
                    at=rt.clock(),
                )  # fmt: skip
        except store.UserError as e:
            print(f"error: argument {_USER_ITEM.get(e.code, 'username')}: {e}", file=sys.stderr)
            return 2
        print(f"user {args.username} ({args.role}) added, id {uid}")
    finally:
        rt.close()
    return 0


# Which argument a refused account names (the password comes from stdin or a prompt).
_USER_ITEM = {
    "bad_role": "--role",
    "agent_needs_id": "--agent",
    "short_password": "password",
    "bad_password": "password",
}


def cmd_rollups(args: argparse.Namespace) -> int:
    """Compute the reports' daily rollups ahead (after migrating a full database), so the
    first long report does not do it; days already current are skipped."""
    import time
    from datetime import timedelta

    from ivr.adapters.db import rollups

    rt = runtime(args)
    try:
        tz = rt.config.site.tz
        last = rt.clock().astimezone(tz).date()
        first = last - timedelta(days=args.days - 1)
        started = time.perf_counter()
        n = rollups.refresh(rt.sessions, tz, args.sl_seconds, first, last)
        took = time.perf_counter() - started
        target = f"target {args.sl_seconds:g} s"
        print(f"rollups {first}..{last} ({target}): {n} days computed in {took:.1f} s")
    finally:
        rt.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from lab.demo import run_demo

    config(args)  # a refused configuration exits 2 before the sandbox is touched
    return run_demo(args.config, args.minutes, args.rate, args.port, web_options(args))


def register(add: AddCommand) -> None:
    p = add("web", cmd_web, "run the web side-app (board, agent page, call log, reports, API)")
    p.add_argument("--port", type=int_range(1, 65535), help="default: web.port of hotline.yaml")
    p.add_argument("--host", type=nonempty, help="default: web.host of hotline.yaml")
    p.add_argument(
        "--debug", action="store_true", help="werkzeug's development server instead of cheroot"
    )
    add_web_options(p)
    p = add("users", cmd_users, "manage web users")
    p.add_argument("action", choices=("add",))
    p.add_argument("username", type=text_arg(64, blank=False))
    p.add_argument("--role", required=True, choices=("agent", "supervisor", "manager", "admin"))
    p.add_argument("--agent", type=agent_id, help="roster agent id (required for --role agent)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p = add("rollups", cmd_rollups, "compute the reports' daily rollups ahead (backfill)")
    p.add_argument(
        "--days", type=int_range(1, 3660), default=400, help="days up to today (default 400)"
    )
    p.add_argument(
        "--sl-seconds",
        type=float_range(1, 3600),
        default=20.0,
        help="the service-level target of `hotline web --sl-seconds` (rollups are per target)",
    )
    p = add("demo", cmd_demo, "synthetic traffic through the sandbox Asterisk, board included")
    p.add_argument("--minutes", type=float_range(0.1, 24 * 60), default=10.0)
    p.add_argument("--rate", type=float_range(0.1, 600), default=6.0, help="calls per minute")
    p.add_argument(
        "--port", type=int_range(1, 65535), help="web port (default: web.port of hotline.yaml)"
    )
    add_web_options(p)
