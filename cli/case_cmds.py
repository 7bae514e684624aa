"""`hotline cases open | list | show | update | close | sweep`.

Every read of a case's text (`show`) and every change is written to the audit log
with the OS user (REQUIREMENTS §7), like `hotline calls --full-numbers`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import datetime
from typing import Any

from cli.callback_cmds import request_json
from cli.common import (
    MAX_LIMIT,
    AddCommand,
    agent_id,
    audit_cli,
    day,
    int_range,
    known_agent,
    nonempty,
    phone_number,
    runtime,
    text_arg,
)

KINDS = ("complaint", "request", "follow_up")
STATES = ("open", "in_progress", "waiting_customer", "resolved", "closed", "reopened")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def case_json(case: Any, tz: Any) -> dict[str, Any]:
    """A case as JSON-ready data; instants in the hotline's time zone."""
    return {
        "case_no": case.case_no,
        "kind": case.kind.value,
        "class": case.case_class,
        "state": case.state.value,
        "number": case.number,
        "matter": case.matter,
        "owner": case.owner,
        "branch": case.branch,
        "term": case.term,
        "opened_at": _iso(case.opened_at.astimezone(tz)),
        "opened_by": case.opened_by,
        "deadline": _iso(case.deadline.astimezone(tz)),
        "escalation": case.escalation.value,
        "summary": case.summary,
        "done_at": _iso(case.done_at.astimezone(tz) if case.done_at else None),
        "calls": list(case.calls),
    }


def _case_no(text: str) -> str:
    """An argparse type: a case number YYYYMM-NNNN."""
    from ivr.domain.cases import CaseNumberError, format_case_no, parse_case_no

    try:
        return format_case_no(*parse_case_no(text))
    except CaseNumberError as e:
        raise argparse.ArgumentTypeError(f"{text[:30]!r}: {e}") from None


def _who() -> str:
    return f"cli:{getpass.getuser()}"


def cmd_cases(args: argparse.Namespace) -> int:
    from ivr.app.cases import CaseInputError, CaseNotFoundError
    from ivr.bootstrap import case_parts
    from ivr.domain.cases import CaseTransitionError

    rt = runtime(args)
    try:
        parts = case_parts(rt)
        handler = {
            "open": _open,
            "list": _list,
            "show": _show,
            "update": _update,
            "close": _close,
            "sweep": _sweep,
        }[args.action]
        try:
            return handler(args, rt, parts)
        except CaseInputError as e:
            print(f"error: argument --{e.item.replace('_', '-')}: {e.reason}", file=sys.stderr)
            return 2
        except CaseNotFoundError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        except CaseTransitionError as e:
            print(f"refused: {e}", file=sys.stderr)
            return 3
    finally:
        rt.close()


def _open(args: argparse.Namespace, rt: Any, parts: Any) -> int:
    from ivr.domain.cases import CaseKind

    if not known_agent(rt.config, args.agent, "--agent"):  # the class: the use case's own check
        return 2
    number = phone_number(args.number, "--number", rt.config.site.region) if args.number else ""
    opened = parts.service.open(
        number,
        args.matter,
        args.case_class,
        CaseKind(args.kind),
        by=_who(),
        call_uid=args.call,
        owner=args.agent,
        term=args.term,
        summary=args.summary,
        visitor=args.visitor,
        contract_start=args.contract_start,
        language=rt.config.site.default_language,
    )
    case, tz = opened.case, rt.config.site.tz
    audit_cli(rt, "case_open", case.case_no, f"{case.kind.value} {case.case_class}")
    out = {
        "case_no": case.case_no,
        "deadline": _iso(case.deadline.astimezone(tz)),
        "callbacks": [request_json(r) for r in opened.callbacks],
        "refused_callbacks": list(opened.refused),
        "case": case_json(case, tz),
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print(f"case {case.case_no} opened, due {out['deadline']}, owner {case.owner or '-'}")
        for r in opened.callbacks:
            print(f"  callback {r.id}: {r.matter} due {_iso(r.due_at)}")
    return 0


def _known_class(case_class: str, rt: Any) -> bool:
    """Whether `case_class` is one of cases.yaml's classes; if not, says so (exit 2)."""
    classes = tuple(rt.config.cases.rules.classes)
    if case_class in classes:
        return True
    print(f"error: argument --class: one of {', '.join(classes)}", file=sys.stderr)
    return False


def _list(args: argparse.Namespace, rt: Any, parts: Any) -> int:
    from ivr.adapters.db.cases import CaseFilter
    from ivr.domain.cases import CaseState

    if args.case_class is not None and not _known_class(args.case_class, rt):
        return 2
    now = rt.clock()
    f = CaseFilter(
        owners=frozenset({args.owner}) if args.owner else None,
        states=frozenset({CaseState(args.state)}) if args.state else None,
        case_class=args.case_class,
        branch=args.branch,
        overdue_at=now if args.overdue else None,
    )
    cases = parts.repo.search(f, limit=args.limit)
    tz = rt.config.site.tz
    if args.json:
        print(json.dumps([_listed(c, tz) for c in cases], ensure_ascii=False, indent=2))
        return 0
    print(f"{'case':<13} {'state':<17} {'class':<10} {'owner':<8} {'deadline':<17} matter")
    for c in cases:
        due = c.deadline.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        print(f"{c.case_no:<13} {c.state.value:<17} {c.case_class:<10} {c.owner or '-':<8} "
              f"{due:<17} {c.matter[:40]}")  # fmt: skip
    print(f"{len(cases)} case(s)")
    return 0


def _listed(case: Any, tz: Any) -> dict[str, Any]:
    """A case in a listing: no free text (the summary is read with `show`, audited)."""
    out = case_json(case, tz)
    out.pop("summary")
    return out


def _show(args: argparse.Namespace, rt: Any, parts: Any) -> int:
    case = parts.service.get(args.case_no)
    tz = rt.config.site.tz
    audit_cli(rt, "case_read", case.case_no, "show")
    out = case_json(case, tz)
    out["events"] = [
        {
            "at": _iso(e.at.astimezone(tz)),
            "who": e.who,
            "action": e.action,
            "from": e.from_state,
            "to": e.to_state,
            "detail": e.detail,
        }
        for e in parts.repo.events(case.case_no)
    ]
    out["callbacks"] = [request_json(r) for r in parts_callbacks(rt).repo.for_case(case.case_no)]
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def parts_callbacks(rt: Any) -> Any:
    from ivr.bootstrap import callback_parts

    return callback_parts(rt)


def _update(args: argparse.Namespace, rt: Any, parts: Any) -> int:
    from ivr.domain.cases import CaseState

    if not known_agent(rt.config, args.owner, "--owner"):
        return 2
    given = {f"--{k}": getattr(args, k) for k in ("state", "note", "summary", "owner", "call")}
    if all(v is None or not v.strip() for v in given.values()):
        # as the web app: no event, and no audit line of a change that was not made
        print(f"error: nothing to change: give {', '.join(given)}", file=sys.stderr)
        return 2
    case = parts.service.update(
        args.case_no,
        by=_who(),
        state=CaseState(args.state) if args.state else None,
        note=args.note,
        summary=args.summary,
        owner=args.owner,
        call_uid=args.call,
    )
    audit_cli(rt, "case_change", case.case_no, _changed(args))
    return _print_case(args, rt, case)


def _changed(args: argparse.Namespace) -> str:
    keys = ("state", "note", "summary", "owner", "call")
    return ", ".join(k for k in keys if getattr(args, k, None) is not None) or "close"


def _close(args: argparse.Namespace, rt: Any, parts: Any) -> int:
    case = parts.service.close(args.case_no, by=_who(), note=args.note or "")
    audit_cli(rt, "case_change", case.case_no, "close")
    return _print_case(args, rt, case)


def _print_case(args: argparse.Namespace, rt: Any, case: Any) -> int:
    if args.json:
        print(json.dumps(case_json(case, rt.config.site.tz), ensure_ascii=False, indent=2))
    else:
        print(f"case {case.case_no}: {case.state.value}")
    return 0


def _sweep(args: argparse.Namespace, rt: Any, parts: Any) -> int:
    done = parts.service.sweep()
    print(json.dumps([{"case_no": n, "escalation": e.value} for n, e in done]))
    return 0


# --- registration -----------------------------------------------------------------------


def _action(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    from cli.common import common_options

    p: argparse.ArgumentParser = sub.add_parser(name, help=help, parents=[common_options(False)])
    p.add_argument("--config", type=nonempty, default=argparse.SUPPRESS, help="config directory")
    return p


def register(add: AddCommand) -> None:
    cs = add("cases", cmd_cases, "complaint, request and follow-up cases").add_subparsers(
        dest="action", required=True
    )
    p = _action(cs, "open", "open a case (prints its number, deadline and callbacks)")
    p.add_argument("--number", default="", help="caller's number (default: the call's caller)")
    p.add_argument("--matter", required=True, type=text_arg(200), help="what it is about")
    p.add_argument("--class", dest="case_class", required=True, help="major | important | minor")
    p.add_argument("--kind", choices=KINDS, default="complaint")
    p.add_argument(
        "--call", type=text_arg(64), help="the call's unique id (links it; owner default)"
    )
    p.add_argument("--agent", type=agent_id, help="the owner (first-contact agent)")
    p.add_argument("--term", type=text_arg(64), help="a deadline term of cases.yaml")
    p.add_argument("--summary", type=text_arg(4000, lines=True), default="")
    p.add_argument("--visitor", action="store_true", help="book the visitor's next-day callback")
    p.add_argument("--contract-start", type=day, help="YYYY-MM-DD: the contract callback series")
    p.add_argument("--json", action="store_true")
    p = _action(cs, "list", "cases, soonest first (no free text: see show)")
    p.add_argument("--owner", type=agent_id)
    p.add_argument("--state", choices=STATES)
    p.add_argument("--class", dest="case_class", type=text_arg(32))
    p.add_argument("--branch", type=text_arg(64))
    p.add_argument("--overdue", action="store_true", help="only active cases past their deadline")
    p.add_argument("--limit", type=int_range(1, MAX_LIMIT), default=100)
    p.add_argument("--json", action="store_true")
    p = _action(cs, "show", "one case with its events and callbacks (audited)")
    p.add_argument("case_no", type=_case_no)
    p = _action(cs, "update", "move a case, add a note, change its text or owner, link a call")
    p.add_argument("case_no", type=_case_no)
    p.add_argument("--state", choices=STATES)
    p.add_argument("--note", type=text_arg(4000, lines=True))
    p.add_argument("--summary", type=text_arg(4000, lines=True))
    p.add_argument("--owner", type=agent_id)
    p.add_argument("--call", type=text_arg(64))
    p.add_argument("--json", action="store_true")
    p = _action(cs, "close", "close a case")
    p.add_argument("case_no", type=_case_no)
    p.add_argument("--note", type=text_arg(4000, lines=True))
    p.add_argument("--json", action="store_true")
    _action(cs, "sweep", "record the escalations now due (the service does it every minute)")
