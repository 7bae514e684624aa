"""`hotline web`, `hotline users add`, `hotline demo`, `hotline bench calllog`.

`register(add)` is wired into the `hotline` parser by ivr/cli_runtime.py.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import threading
from collections.abc import Callable
from typing import Any

AddCommand = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def _runtime(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from ivr.bootstrap import build_runtime

    return build_runtime(args.config)


def web_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "sl_seconds": args.sl_seconds,
        "sl_level": args.sl_target / 100,
        "away_approval": args.away_approval,
        "secure_cookies": not args.insecure_cookies,
    }


def add_web_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sl-seconds", type=float, default=20.0, help="service level: within Y s")
    p.add_argument("--sl-target", type=float, default=80.0, help="service level target X %%")
    p.add_argument(
        "--away-approval",
        choices=("refuse", "lead"),
        default="refuse",
        help="an away request that breaks a staffing rule is refused or waits for the lead",
    )
    p.add_argument(
        "--insecure-cookies",
        action="store_true",
        help="send the session cookie over plain http (not only https / localhost)",
    )


def cmd_web(args: argparse.Namespace) -> int:
    from web.app import serve

    rt = _runtime(args)
    host = args.host or rt.config.web.host
    port = args.port or rt.config.web.port
    stop = threading.Event()
    print(f"hotline web on http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    try:
        serve(rt, host, port, stop, **web_options(args))
    except KeyboardInterrupt:
        stop.set()
    finally:
        rt.close()
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    from web import store

    rt = _runtime(args)
    try:
        if args.agent and rt.config.roster.agent(args.agent) is None:
            print(f"error: no agent {args.agent!r} in seats.yaml", file=sys.stderr)
            return 2
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = getpass.getpass(f"password for {args.username}: ")
        try:
            with rt.sessions.begin() as s:
                uid = store.add_user(s, args.username, password, args.role, args.agent, rt.clock())
                store.audit(
                    s, None, "user_add", args.username, f"{args.role} (cli)", "", rt.clock()
                )
        except store.UserError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"user {args.username} ({args.role}) added, id {uid}")
    finally:
        rt.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from web.demo import run_demo

    return int(run_demo(args))


def cmd_bench(args: argparse.Namespace) -> int:
    from web.bench_calllog import run

    result = run(args.calls, args.config, pg_url=args.pg_url, queries=args.queries, keep=args.keep)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


def register(add: AddCommand) -> None:
    p = add("web", cmd_web, "run the web side-app (board, agent page, call log, reports, API)")
    p.add_argument("--port", type=int, help="default: web.port of hotline.yaml")
    p.add_argument("--host", help="default: web.host of hotline.yaml")
    add_web_options(p)
    p = add("users", cmd_users, "manage web users")
    p.add_argument("action", choices=("add",))
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=("agent", "supervisor", "manager", "admin"))
    p.add_argument("--agent", help="roster agent id (required for --role agent)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p = add("demo", cmd_demo, "synthetic traffic through the sandbox Asterisk, board included")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=6.0, help="calls per minute")
    p.add_argument("--port", type=int, help="web port (default: web.port of hotline.yaml)")
    add_web_options(p)


def add_bench_calllog_options(p: argparse.ArgumentParser) -> None:
    """Options of `hotline bench calllog`, for the `bench` command of ivr.cli_runtime
    (which already has --json and --config)."""
    p.add_argument("--calls", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=200, help="timed runs of each query")
    p.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="admin URL of the PostgreSQL server ('' to skip PostgreSQL)",
    )
    p.add_argument("--keep", action="store_true", help="keep the generated databases")
