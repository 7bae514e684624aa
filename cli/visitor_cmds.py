"""`hotline visitors check-in | check-out | show`: visitor files numbered by check-in
day and serial (`YYYYMMDD-NNNN`, REQUIREMENTS §4); the check-out books the visitor's
next-day callback (§5). Every read and change is audited like the cases'."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from cli.callback_cmds import request_json
from cli.common import (
    AddCommand,
    audit_cli,
    common_options,
    day,
    nonempty,
    phone_number,
    runtime,
)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def visitor_json(v: Any, tz: Any) -> dict[str, Any]:
    return {
        "file_no": v.file_no,
        "number": v.number,
        "name": v.name,
        "check_in": _iso(v.check_in),
        "check_out": _iso(v.check_out),
        "note": v.note,
        "created_by": v.created_by,
        "created_at": _iso(v.created_at.astimezone(tz)),
        "checked_out_at": _iso(v.checked_out_at.astimezone(tz) if v.checked_out_at else None),
    }


def _who() -> str:
    return f"cli:{getpass.getuser()}"


def cmd_visitors(args: argparse.Namespace) -> int:
    from ivr.app.visitors import VisitorInputError, VisitorNotFoundError
    from ivr.bootstrap import visitor_parts

    rt = runtime(args)
    try:
        service = visitor_parts(rt)
        handler = {"check-in": _check_in, "check-out": _check_out, "show": _show}[args.action]
        try:
            return handler(args, rt, service)
        except VisitorInputError as e:
            print(f"error: argument --{e.item}: {e.reason}", file=sys.stderr)
            return 2
        except VisitorNotFoundError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    finally:
        rt.close()


def _check_in(args: argparse.Namespace, rt: Any, service: Any) -> int:
    number = phone_number(args.number, "--number", rt.config.site.region)
    v = service.check_in(number, by=_who(), name=args.name, day=args.date, note=args.note)
    audit_cli(rt, "visitor_check_in", v.file_no, "check-in")
    out = visitor_json(v, rt.config.site.tz)
    print(json.dumps(out, ensure_ascii=False) if args.json else f"visitor file {v.file_no}")
    return 0


def _check_out(args: argparse.Namespace, rt: Any, service: Any) -> int:
    done = service.check_out(args.file_no, by=_who())
    audit_cli(rt, "visitor_check_out", done.visitor.file_no, "check-out")
    out = visitor_json(done.visitor, rt.config.site.tz) | {
        "callback": request_json(done.callback) if done.callback else None,
        "refused_callback": done.refused or None,
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        when = out["callback"]["due_local"] if done.callback else f"none ({done.refused})"
        print(f"visitor {done.visitor.file_no} checked out; callback {when}")
    return 0


def _show(args: argparse.Namespace, rt: Any, service: Any) -> int:
    v = service.get(args.file_no)
    audit_cli(rt, "visitor_read", v.file_no, "show")
    print(json.dumps(visitor_json(v, rt.config.site.tz), ensure_ascii=False, indent=2))
    return 0


# --- registration -----------------------------------------------------------------------


def _file_no(text: str) -> str:
    from ivr.domain.visitors import VisitorNumberError, format_visitor_no, parse_visitor_no

    try:
        return format_visitor_no(*parse_visitor_no(text))
    except VisitorNumberError as e:
        raise argparse.ArgumentTypeError(f"{text[:30]!r}: {e}") from None


def _line(most: int) -> Any:
    def parse(text: str) -> str:
        if len(text) > most or not text.isprintable():
            raise argparse.ArgumentTypeError(f"one line of at most {most} printable characters")
        return text

    parse.__name__ = "line"
    return parse


def _action(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help, parents=[common_options(False)])
    p.add_argument("--config", type=nonempty, default=argparse.SUPPRESS, help="config directory")
    return p


def register(add: AddCommand) -> None:
    vs = add("visitors", cmd_visitors, "visitor files by check-in day: check-in, check-out, show")
    sub = vs.add_subparsers(dest="action", required=True)
    p = _action(sub, "check-in", "open a visitor file (prints its number YYYYMMDD-NNNN)")
    p.add_argument("--number", required=True, help="E.164 or national in site.region")
    p.add_argument("--name", default="", type=_line(100))
    p.add_argument("--date", type=day, help="YYYY-MM-DD: the check-in day (default today)")
    p.add_argument("--note", default="", type=_line(500))
    p.add_argument("--json", action="store_true")
    p = _action(sub, "check-out", "the guest left today: book the visitor's next-day callback")
    p.add_argument("file_no", type=_file_no)
    p.add_argument("--json", action="store_true")
    p = _action(sub, "show", "one visitor file (audited)")
    p.add_argument("file_no", type=_file_no)
