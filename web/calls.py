"""The call log: filtered list, call detail (IVR path + routing trace), CSV export.

Agents see only calls they answered; supervisors (the whole roster is the
lead's team), managers and admins see every call. Lists show masked numbers;
the full number is shown in the call detail to whom may see it, and that read
is audited, as is every export.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from ivr.adapters.db.calllog import CallRecord
from ivr.domain.calllog import Outcome
from web import queries, store
from web.app import ctx, db
from web.security import CurrentUser, csv_safe, current_user, mask_number, require

bp = Blueprint("calls", __name__)

EXPORT_FULL_NUMBERS = ("manager", "admin")


class FilterError(ValueError):
    pass


def parse_day(text: str, tz: ZoneInfo) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time(0), tz)
    except ValueError:
        raise FilterError(gettext("%(text)s is not a date (YYYY-MM-DD)", text=repr(text))) from None


def call_filter(
    args: Any, user: CurrentUser, tz: ZoneInfo
) -> tuple[queries.CallFilter, str | None]:
    """The filter from query arguments and the agent the user is limited to (None: all).

    Raises PermissionError when an agent asks for another agent's calls.
    """
    agent = args.get("agent", "").strip()
    only: str | None = None
    if not user.is_staff:
        only = user.agent_id or "\x00"
        if agent and agent != user.agent_id:
            raise PermissionError(
                gettext(
                    "agent %(me)s may not read calls of %(agent)s", me=user.agent_id, agent=agent
                )
            )
    outcome = args.get("outcome", "").strip()
    if outcome and outcome not in {o.value for o in Outcome}:
        raise FilterError(gettext("unknown outcome %(outcome)s", outcome=repr(outcome)))
    start = parse_day(args.get("from", ""), tz)
    until = parse_day(args.get("to", ""), tz)
    f = queries.CallFilter(
        start=start,
        end=until + timedelta(days=1) if until else None,
        number=args.get("number", "").strip()[:32],
        agent=agent,
        branch=args.get("branch", "").strip(),
        outcome=outcome,
    )
    return f, only


def _filter_or_abort(user: CurrentUser) -> tuple[queries.CallFilter, str | None]:
    try:
        return call_filter(request.args, user, ctx().runtime.config.site.tz)
    except PermissionError as e:
        abort(403, str(e))
    except FilterError as e:
        abort(400, str(e))


def row_json(r: queries.CallRow, tz: ZoneInfo) -> dict[str, Any]:
    d = asdict(r)
    d["caller"] = mask_number(r.caller)
    d["started_at"] = r.started_at.astimezone(tz).isoformat()
    return d


def visible(user: CurrentUser, rec: CallRecord | None) -> bool:
    return rec is not None and (user.is_staff or rec.answered_agent == user.agent_id)


def read_detail(uid: str) -> tuple[CurrentUser, CallRecord]:
    """The call, if this user may see it; the read is audited."""
    user = current_user()
    assert user is not None
    c = ctx()
    rec = c.runtime.calls.get_call(uid)
    if not visible(user, rec):
        abort(404)
    assert rec is not None
    with c.runtime.sessions.begin() as s:
        store.audit(s, user, "call_read", uid, "", request.remote_addr or "", c.now())
    return user, rec


def page_number() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        abort(400, gettext("page must be a number"))


@bp.get("/calls")
@require()
def page() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    f, only = _filter_or_abort(user)
    c = ctx()
    n = page_number()
    rows, more = queries.list_calls(db(), f, only, n, c.settings.page_size)
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "calls.html",
        rows=rows,
        more=more,
        page=n,
        args=args,
        mask=mask_number,
        tz=c.runtime.config.site.tz,
        branches=c.runtime.config.queues,
        outcomes=[o.value for o in Outcome],
        agents=c.runtime.config.roster.agents,
    )


@bp.get("/calls/<uid>")
@require()
def detail(uid: str) -> ResponseReturnValue:
    user, rec = read_detail(uid)
    return render_template(
        "call.html",
        call=rec,
        tz=ctx().runtime.config.site.tz,
        number=rec.caller
        if user.may_see_full_number(rec.answered_agent, rec.ended_at is None)
        else mask_number(rec.caller),
    )


@bp.get("/calls/export.csv")
@require()
def export() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    f, only = _filter_or_abort(user)
    c = ctx()
    full = user.role in EXPORT_FULL_NUMBERS
    with c.runtime.sessions.begin() as s:
        store.audit(
            s,
            user,
            "calls_export",
            request.query_string.decode()[:500],
            "full numbers" if full else "masked numbers",
            request.remote_addr or "",
            c.now(),
        )
    tz = c.runtime.config.site.tz
    sess = c.runtime.sessions()

    def generate() -> Iterator[str]:
        try:
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(
                [
                    "uid",
                    "started_at",
                    "caller",
                    "branch",
                    "route",
                    "outcome",
                    "agent",
                    "seat",
                    "wait_s",
                    "talk_s",
                    "vip",
                ]
            )
            for r in queries.iter_calls(sess, f, only, c.settings.export_limit):
                w.writerow(
                    [
                        csv_safe(x)
                        for x in (
                            r.uid,
                            r.started_at.astimezone(tz).isoformat(),
                            r.caller if full else mask_number(r.caller),
                            r.branch,
                            r.route_kind,
                            r.outcome,
                            r.agent,
                            r.seat,
                            "" if r.wait_seconds is None else f"{r.wait_seconds:.1f}",
                            "" if r.talk_seconds is None else f"{r.talk_seconds:.1f}",
                            int(r.vip),
                        )
                    ]
                )
                if buf.tell() > 65536:
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
            yield buf.getvalue()
        finally:
            sess.close()

    return Response(
        generate(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=calls.csv"},
    )
