"""The call log: filtered list, call detail (IVR path + routing trace), CSV export.

Agents see only calls they answered; supervisors (the whole roster is the
lead's team), managers and admins see every call. Lists show masked numbers;
the full number is shown in the call detail to whom may see it, and that read
is audited, as is every export.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from ivr import phone
from ivr.adapters.db.calllog import CallRecord
from ivr.domain.calllog import Outcome
from web import messages, params, queries, store
from web.context import ctx
from web.heavy import heavy, heavy_db, heavy_sessions, take_slot
from web.security import CurrentUser, csv_safe, current_user, mask_number, require

bp = Blueprint("calls", __name__)

EXPORT_FULL_NUMBERS = ("manager", "admin")


MAX_PAGE = 1_000_000
MAX_PER_PAGE = 200
FILTER_ARGS = ("from", "to", "number", "agent", "branch", "outcome")
UID_RE = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
NAME_RE = re.compile(r"[\w.@-]{0,64}")


def day_start(day: date | None, tz: ZoneInfo, days_after: int = 0) -> datetime | None:
    if day is None:
        return None
    return datetime.combine(day + timedelta(days=days_after), time(0), tz)


def call_filter(
    args: Any, user: CurrentUser, tz: ZoneInfo, region: str = ""
) -> tuple[queries.CallFilter, str | None]:
    """The filter from query arguments and the agent the user is limited to (None: all).

    `number` is a whole or partial number in any form (national in `region`, '+' or
    '00' international, Unicode digits); it matches the stored E.164 numbers.
    Raises ParamError for a malformed argument, PermissionError when an agent asks
    for another agent's calls.
    """
    agent = params.text_param("agent", 64, source=args, pattern=NAME_RE)
    only: str | None = None
    if not user.is_staff:
        only = user.agent_id or ""
        if agent and agent != user.agent_id:
            raise PermissionError(
                gettext(
                    "agent %(me)s may not read calls of %(agent)s", me=user.agent_id, agent=agent
                )
            )
    outcome = params.choice_param("outcome", [o.value for o in Outcome], "", source=args)
    first = params.date_param("from", source=args)
    last = params.date_param("to", source=args)
    if first is not None and last is not None and first > last:
        raise params.ParamError(
            "from", gettext("from %(start)s is after to %(end)s", start=first, end=last)
        )
    f = queries.CallFilter(
        start=day_start(first, tz),
        end=day_start(last, tz, days_after=1),
        numbers=number_prefixes(params.text_param("number", 64, source=args), region),
        agent=agent,
        branch=params.text_param("branch", 64, source=args, pattern=NAME_RE),
        outcome=outcome,
    )
    return f, only


def number_prefixes(text: str, region: str) -> tuple[str, ...]:
    """The stored prefixes the `number` filter stands for; ParamError naming it."""
    if not text.strip():
        return ()
    try:
        return phone.prefix_forms(text, region or None)
    except phone.NumberError as e:  # its reason is the CLI's English: worded from its code
        raise params.ParamError("number", messages.number_error(e)) from None


def _filter_or_abort(user: CurrentUser) -> tuple[queries.CallFilter, str | None]:
    site = ctx().runtime.config.site
    try:
        return call_filter(request.args, user, site.tz, site.region)
    except PermissionError as e:
        abort(403, str(e))


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
    uid = call_uid(uid)
    rec = c.runtime.calls.get_call(uid)
    if not visible(user, rec):
        abort(404)
    assert rec is not None
    with c.runtime.sessions.begin() as s:
        store.audit(
            s, "call_read", user=user, target=uid, addr=request.remote_addr or "", at=c.now()
        )
    return user, rec


def page_number() -> int:
    return params.int_param("page", 1, MAX_PAGE, 1)


def call_uid(uid: str) -> str:
    """The path parameter naming a call."""
    return params.check_text("uid", uid, 128, UID_RE)


@bp.get("/calls")
@require()
@heavy
def page() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    f, only = _filter_or_abort(user)
    c = ctx()
    n = page_number()
    rows, more = queries.list_calls(heavy_db(), f, only, n, c.settings.page_size)
    args = {k: v for k, v in request.args.items() if k in FILTER_ARGS}
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
@heavy
def export() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    f, only = _filter_or_abort(user)
    c = ctx()
    full = user.role in EXPORT_FULL_NUMBERS
    with c.runtime.sessions.begin() as s:
        store.audit(
            s, "calls_export", user=user,
            target=params.printable(request.query_string.decode("utf-8", "replace"), 500),
            detail="full numbers" if full else "masked numbers",
            addr=request.remote_addr or "", at=c.now(),
        )  # fmt: skip
    tz = c.runtime.config.site.tz
    sessions = heavy_sessions()
    done = take_slot()  # the slot stays taken while the file streams

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
            for r in queries.iter_calls(sessions, f, only, c.settings.export_limit):
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
            done()

    resp = Response(
        generate(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=calls.csv"},
    )
    # A HEAD request closes the stream without ever starting it, so without its `finally`:
    # the slot is freed when the response closes too (once: _Slot.free), or it would be
    # lost for good, and after `heavy_slots` of them every report and export a 503.
    resp.call_on_close(done)
    return resp
