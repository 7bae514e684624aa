"""`hotline dialer` and `hotline callbacks list | add | cancel | show | report`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from cli.common import (
    MAX_LIMIT,
    AddCommand,
    common_options,
    day,
    instant,
    int_range,
    nonempty,
    phone_number,
    runtime,
    text_arg,
)

if TYPE_CHECKING:
    from ivr.dialer.twilio_worker import TwilioDialer
    from ivr.dialer.worker import Dialer


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def request_json(req: Any) -> dict[str, Any]:
    """A callback request as JSON-ready data, with the due time in the customer's zone."""
    out = asdict(req)
    out["state"] = req.state.value
    for key in ("arrived_at", "due_at", "deadline", "expires_at", "created_at", "updated_at",
                "completed_at"):  # fmt: skip
        out[key] = _iso(getattr(req, key))
    out["due_local"] = _iso(req.due_at.astimezone(ZoneInfo(req.tz))) if req.due_at else None
    return out


# --- dialer ---------------------------------------------------------------------


def cmd_dialer(args: argparse.Namespace) -> int:
    """Run the callback dialer until SIGINT/SIGTERM: over AMI, or over Twilio's REST API."""
    from ivr.bootstrap import build_dialer, build_twilio_dialer

    rt = runtime(args)
    dialer: Dialer | TwilioDialer
    if args.backend == "twilio":
        dialer = build_twilio_dialer(rt)
        where = f"Twilio Calls API (refusing {', '.join(dialer.calls.settings.refuse_prefixes)})"
    else:
        dialer = build_dialer(rt)
        where = f"AMI {rt.config.ami.host}:{rt.config.ami.port}"

    def stop(_sig: int, _frame: object) -> None:
        dialer.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    s = dialer.deps.settings.dialer
    print(
        f"dialer {dialer.name}: {where}, "
        f"{s.originate_rate:g} originates/s, database {rt.config.database_url}",
        flush=True,
    )
    try:
        dialer.run()
    finally:
        rt.close()
    return 0


# --- callbacks --------------------------------------------------------------------


def cmd_callbacks(args: argparse.Namespace) -> int:
    from ivr.bootstrap import callback_parts

    rt = runtime(args)
    try:
        parts = callback_parts(rt)
        handler = {
            "list": _list,
            "add": _add,
            "cancel": _cancel,
            "done": _done,
            "show": _show,
            "report": _report,
        }[args.action]
        return handler(args, rt, parts)
    finally:
        rt.close()


def _list(args: argparse.Namespace, rt: Any, parts: Any) -> int:
    from ivr.domain.callbacks import CallbackState

    states = list(CallbackState) if args.all else None
    rows = parts.repo.listing(states, limit=args.limit)
    if args.json:
        print(json.dumps([request_json(r) for r in rows], ensure_ascii=False, indent=2))
        return 0
    print(f"{'id':>6}  {'state':<10} {'number':<16} {'matter':<24} {'due (customer)':<22} tries")
    for r in rows:
        due = r.due_at.astimezone(ZoneInfo(r.tz)).strftime("%Y-%m-%d %H:%M %Z") if r.due_at else "-"
        print(
            f"{r.id:>6}  {r.state.value:<10} {r.number:<16} {r.matter:<24} {due:<22} {r.attempts}"
        )
    print(f"{len(rows)} request(s)")
    return 0


def _add(args: argparse.Namespace, rt: Any, parts: Any) -> int:
    from ivr.app.callbacks import CallbackRefusedError

    number = phone_number(args.number, "--number", rt.config.site.region)
    languages, branches = rt.config.site.languages, tuple(rt.config.policy.branches)
    if args.language and args.language not in languages:
        print(f"error: argument --language: one of {', '.join(languages)}", file=sys.stderr)
        return 2
    if args.branch is not None and args.branch not in branches:
        print(f"error: argument --branch: one of {', '.join(branches)}", file=sys.stderr)
        return 2
    due = _aware(args.due, rt) if args.due else None
    event = _aware(args.event_at, rt) if args.event_at else None
    if event is not None and event > rt.clock() + EVENT_AHEAD:
        print("error: argument --event-at: later than now: the matter has not arisen yet",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        added = parts.intake.request(
            number,
            args.matter,
            source="cli",
            due_at=due,
            event_at=event,
            contract_start=args.contract_start,
            language=args.language or rt.config.site.default_language,
            branch=args.branch,
            note=args.note,
        )
    except CallbackRefusedError as e:
        print(f"refused: {e}", file=sys.stderr)
        return 3
    out = request_json(added.request) | {"created": added.created}
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        verb = "added" if added.created else "already open"
        print(f"callback {out['id']} {verb}: {out['number']} due {out['due_local']}")
    return 0


EVENT_AHEAD = timedelta(minutes=5)  # clocks of two machines may differ that much


def _aware(value: datetime, rt: Any) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=rt.config.site.tz)


def _cancel(args: argparse.Namespace, rt: Any, parts: Any) -> int:
    from ivr.adapters.db.callbacks import CallbackClosedError, CallbackNotFoundError

    try:
        req = parts.repo.cancel(args.id, rt.clock(), args.reason)
    except (CallbackNotFoundError, CallbackClosedError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(request_json(req), ensure_ascii=False) if args.json else f"cancelled {req.id}")
    return 0


def _done(args: argparse.Namespace, rt: Any, parts: Any) -> int:
    """An agent reached the customer by hand: the request is completed, its case told."""
    from ivr.adapters.db.callbacks import CallbackClosedError, CallbackNotFoundError

    try:
        req = parts.repo.complete(args.id, rt.clock(), args.by, args.outcome)
    except (CallbackNotFoundError, CallbackClosedError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(request_json(req), ensure_ascii=False) if args.json else f"done {req.id}")
    return 0


def _show(args: argparse.Namespace, rt: Any, parts: Any) -> int:
    req = parts.repo.get(args.id)
    if req is None:
        print(f"error: no callback request {args.id}", file=sys.stderr)
        return 1
    out = request_json(req)
    out["attempts_detail"] = [
        {k: (_iso(v) if isinstance(v, datetime) else v) for k, v in asdict(a).items()}
        for a in parts.repo.attempts(req.id)
    ]
    out["history"] = [
        {"at": _iso(e.at), "from": e.from_state, "to": e.to_state, "reason": e.reason}
        for e in parts.repo.history(req.id)
    ]
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def _report(args: argparse.Namespace, rt: Any, parts: Any) -> int:
    """Callback rate per service rule against its deadline, and the ledger by state."""
    from ivr.domain.callbacks import callback_rate

    now = rt.clock()
    since = now - timedelta(days=args.days)
    rules = {}
    for name, rule in parts.settings.rules.items():
        rate = callback_rate(parts.repo.rate_items(name, since), now)
        rules[name] = asdict(rate) | {"target_rate": rule.target_rate, "kind": rule.kind.value}
    out = {
        "at": now.isoformat(),
        "since": since.isoformat(),
        "by_state": parts.repo.count_by_state(),
        "rules": rules,
    }
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


# --- registration -----------------------------------------------------------------------


def _word(value: str) -> str:
    v = value.strip()
    if not v or len(v) > 64 or not v.isprintable():
        raise argparse.ArgumentTypeError("1 to 64 printable characters")
    return v


def _matter(value: str) -> str:
    """A callback's matter: typed text, and a rule and a reference on both sides of
    a ':' (ivr.domain.callbacks.callback_matter)."""
    from ivr.domain.callbacks import MatterError, callback_matter

    try:
        return callback_matter(_matter_text(value))
    except MatterError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


_matter_text = text_arg(200, blank=False)


def _line(value: str) -> str:
    v = value.strip()
    if len(v) > 200 or not v.isprintable():
        raise argparse.ArgumentTypeError("one line of at most 200 printable characters")
    return v


def _sub(parent: argparse.ArgumentParser, dest: str) -> Any:
    return parent.add_subparsers(dest=dest, required=True)


def _action(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help, parents=[common_options(False)])
    p.add_argument("--config", type=nonempty, default=argparse.SUPPRESS, help="config directory")
    return p


def register(add: AddCommand) -> None:
    d = add("dialer", cmd_dialer, "run the callback dialer (paced, agent first, restart-safe)")
    d.add_argument(
        "--backend",
        choices=("asterisk", "twilio"),
        default="asterisk",
        help="asterisk: AMI Originate (default); twilio: Twilio's Calls API (twilio: section)",
    )
    cb = _sub(
        add("callbacks", cmd_callbacks, "list, add, cancel, mark done, show callbacks"),
        "action",
    )
    p = _action(cb, "list", "pending callbacks with numbers and due times")
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="closed ones too")
    p.add_argument("--limit", type=int_range(1, MAX_LIMIT), default=200)
    p = _action(cb, "add", "request a callback")
    p.add_argument(
        "--number", required=True,
        help="E.164 (+8613800000002) or national in site.region (13800000002)",
    )  # fmt: skip
    p.add_argument(
        "--matter", default="cli", type=_matter,
        help="e.g. complaint:202611-0001 (rule: complaint)",
    )  # fmt: skip
    p.add_argument("--due", type=instant, help="ISO 8601 (an agreed reply time)")
    p.add_argument("--event-at", type=instant, help="ISO 8601: when the matter arose (default now)")
    p.add_argument("--contract-start", type=day, help="YYYY-MM-DD, for contract:* matters")
    p.add_argument("--language", default="", type=text_arg(16), help="default: site's default")
    p.add_argument("--branch", default=None, type=text_arg(64), help="default: the rule's")
    p.add_argument("--note", default="", type=text_arg(4000, lines=True))
    p.add_argument("--json", action="store_true")
    p = _action(cb, "cancel", "cancel an open callback")
    p.add_argument("id", type=int_range(1, 2**63 - 1))
    p.add_argument("--reason", default="cancelled by operator", type=text_arg(200, blank=False))
    p.add_argument("--json", action="store_true")
    p = _action(cb, "done", "mark an open callback done: the agent reached the customer")
    p.add_argument("id", type=int_range(1, 2**63 - 1))
    p.add_argument("--by", required=True, type=_word, help="the agent who made the call")
    p.add_argument("--outcome", default="", type=_line, help="what came of it (one line)")
    p.add_argument("--json", action="store_true")
    p = _action(cb, "show", "one request with its attempts and history")
    p.add_argument("id", type=int_range(1, 2**63 - 1))
    p = _action(cb, "report", "callback rate against the service rules")
    p.add_argument("--days", type=int_range(1, 3660), default=30)
