"""Cases on the web: the agent's cases and opening one from the call in progress, the
supervisors' case board (overdue, near deadline, by class and branch), one case with
its events, the weekly review export; the JSON API's functions (web/api.py) are here.

Roles (REQUIREMENTS §7): an agent sees and changes the cases they own; a supervisor
those of the team (the roster's agents, and unowned ones); managers and admins all.
Every read of a case's text and every change is written to the audit log.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from ivr.adapters.db.cases import CaseFilter
from ivr.app.cases import CaseInputError, CaseNotFoundError
from ivr.bootstrap import CaseParts, callback_parts, case_parts
from ivr.domain.cases import (
    CASE_SOURCE,
    Case,
    CaseKind,
    CaseState,
    CaseTransitionError,
    Urgency,
    parse_case_no,
    urgency,
)
from web import messages, params, store
from web.calls import visible as call_visible
from web.context import ctx
from web.security import CurrentUser, csv_safe, current_user, require

bp = Blueprint("cases", __name__)

KINDS = tuple(k.value for k in CaseKind)
STATES = tuple(s.value for s in CaseState)
MAX_LIMIT = 500
_WORD = re.compile(r"[A-Za-z0-9_-]{1,64}")
_UID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # an Asterisk UNIQUEID: 1732330800.2
_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})")


class CaseWebError(Exception):
    """A refusal to show to the user: `status` 403, 404 or 409, `message` translated."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _parts() -> CaseParts:
    return case_parts(ctx().runtime)


def _me() -> CurrentUser:
    user = current_user()
    assert user is not None
    return user


def _team() -> frozenset[str]:
    return frozenset(a.id for a in ctx().runtime.config.roster.agents) | {""}


def owners_for(user: CurrentUser) -> frozenset[str] | None:
    """Whose cases `user` may see: None for everybody's."""
    if user.role in ("manager", "admin"):
        return None
    if user.role == "supervisor":
        return _team()
    return frozenset({user.agent_id or "\0"})


def may_see(user: CurrentUser, case: Case) -> bool:
    owners = owners_for(user)
    return owners is None or case.owner in owners


def _audit(action: str, target: str, detail: str = "") -> None:
    c = ctx()
    with c.runtime.sessions.begin() as s:
        store.audit(
            s, action, user=_me(), target=target, detail=detail,
            addr=request.remote_addr or "", at=c.now(),
        )  # fmt: skip


def _iso(at: datetime | None, tz: ZoneInfo) -> str | None:
    return at.astimezone(tz).isoformat() if at is not None else None


def case_json(case: Case, now: datetime, full: bool = False) -> dict[str, Any]:
    """A case as JSON; the free text (summary) only when `full` (an audited read)."""
    rules = ctx().runtime.config.cases.rules
    tz = ctx().runtime.config.site.tz
    out: dict[str, Any] = {
        "case_no": case.case_no,
        "kind": case.kind.value,
        "class": case.case_class,
        "state": case.state.value,
        "number": case.number,
        "matter": case.matter,
        "owner": case.owner,
        "branch": case.branch,
        "term": case.term,
        "opened_at": _iso(case.opened_at, tz),
        "opened_by": case.opened_by,
        "deadline": _iso(case.deadline, tz),
        "done_at": _iso(case.done_at, tz),
        "escalation": case.escalation.value,
        "urgency": urgency(case.state, case.deadline, now, rules.near).value,
        "calls": list(case.calls),
    }
    if full:
        out["summary"] = case.summary
    return out


# --- what the pages and the API share ------------------------------------------------


def _case_no(value: str) -> str:
    """A case number in a path, as written: /cases/%20202611-0001 names no case (the
    use case strips what is typed; a path is not typed), as /x/+1 names no row."""
    try:
        parse_case_no(value)
        if value != value.strip():
            raise ValueError(value)
    except ValueError:
        raise params.ParamError("case_no", gettext("is not a case number (YYYYMM-NNNN)")) from None
    return value


def _visible(case_no: str) -> Case:
    try:
        case = _parts().service.get(_case_no(case_no))
    except CaseNotFoundError:
        raise CaseWebError(404, gettext("There is no such case.")) from None
    if not may_see(_me(), case):
        raise CaseWebError(403, gettext("This case is not yours to see."))
    return case


def _linkable(user: CurrentUser, call: str | None) -> str | None:
    """A call `user` may link to a case: an agent only one they answered (the call log's
    rule, web.calls.visible), or its caller's full number would be theirs through the
    case. A call not in the log is the use case's to refuse (400 naming `call`)."""
    if call is not None and not user.is_staff:
        rec = ctx().runtime.calls.get_call(call)
        if rec is not None and not call_visible(user, rec):
            raise CaseWebError(403, gettext("An agent links only calls they answered."))
    return call


def listing(source: Any = None) -> dict[str, Any]:
    """Cases the user may see, filtered (`state`, `class`, `branch`, `kind`, `q`, `view`)."""
    user, c = _me(), ctx()
    now = c.now()
    src = request.args if source is None else source
    classes = tuple(c.runtime.config.cases.rules.classes)
    state = params.choice_param("state", (*STATES, "active", "all"), "active", source=src)
    view = params.choice_param("view", ("all", "overdue", "near"), "all", source=src)
    rules = c.runtime.config.cases.rules
    near = now + rules.near
    f = CaseFilter(
        owners=owners_for(user),
        states=_states(state),
        case_class=params.choice_param("class", classes, "", source=src) or None,
        branch=params.text_param("branch", 64, source=src, pattern=_WORD) or None,
        kind=_kind(params.choice_param("kind", (*KINDS, "all"), "all", source=src)),
        text=params.text_param("q", 64, source=src) or None,
        overdue_at=now if view == "overdue" else None,
        due_before=near if view == "near" else None,
    )
    limit = params.int_param("limit", 1, MAX_LIMIT, 100, source=src)
    cases = _parts().repo.search(f, limit=limit)
    if view == "near":
        cases = [x for x in cases if x.deadline > now]
    return {
        "at": _iso(now, c.runtime.config.site.tz),
        "count": len(cases),
        "cases": [case_json(x, now) for x in cases],
    }


def _kind(word: str) -> CaseKind | None:
    return None if word == "all" else CaseKind(word)


def _states(word: str) -> frozenset[CaseState] | None:
    from ivr.domain.cases import ACTIVE_STATES

    if word == "all":
        return None
    if word == "active":
        return frozenset(ACTIVE_STATES)
    return frozenset({CaseState(word)})


def board() -> dict[str, Any]:
    """The supervisors' board: active cases by class and branch, overdue, near deadline."""
    user, c = _me(), ctx()
    now = c.now()
    near = now + c.runtime.config.cases.rules.near
    f = CaseFilter(owners=owners_for(user))
    counts = _parts().repo.board(f, now, near)
    overdue = _parts().repo.search(CaseFilter(owners=f.owners, overdue_at=now), limit=50)
    soon = [
        x
        for x in _parts().repo.search(CaseFilter(owners=f.owners, due_before=near), limit=100)
        if x.deadline > now
    ][:50]
    return {
        "at": _iso(now, c.runtime.config.site.tz),
        "near_until": _iso(near, c.runtime.config.site.tz),
        **counts,
        "overdue": [case_json(x, now) for x in overdue],
        "near": [case_json(x, now) for x in soon],
    }


def detail(case_no: str) -> dict[str, Any]:
    """One case with its events and callbacks: an audited read of its text."""
    case = _visible(case_no)
    c = ctx()
    tz = c.runtime.config.site.tz
    _audit("case_read", case.case_no)
    events = _parts().repo.events(case.case_no)
    callbacks = callback_parts(c.runtime).repo.for_case(case.case_no)
    return {
        **case_json(case, c.now(), full=True),
        "events": [
            {
                "at": _iso(e.at, tz),
                "who": e.who,
                "action": e.action,
                "from": e.from_state,
                "to": e.to_state,
                "detail": e.detail,
            }
            for e in events
        ],
        "callbacks": [
            {
                "id": r.id,
                "matter": r.matter,
                "state": r.state.value,
                "due_at": _iso(r.due_at, tz),
                "deadline": _iso(r.deadline, tz),
            }
            for r in callbacks
        ],
    }


def open_case(source: Any) -> dict[str, Any]:
    """Open a case (an agent: from their call, owned by them; staff: for any agent)."""
    user, c = _me(), ctx()
    rules = c.runtime.config.cases.rules
    call = _linkable(user, params.text_param("call", 64, source=source, pattern=_UID) or None)
    agent = params.text_param("agent", 64, source=source, pattern=_WORD) or None
    if user.role == "agent":
        if agent not in (None, user.agent_id):
            raise CaseWebError(403, gettext("An agent opens cases for themself only."))
        agent = user.agent_id
    if agent is not None and agent not in {a.id for a in c.runtime.config.roster.agents}:
        raise params.ParamError("agent", gettext("is not an agent of the roster"))
    number = params.text_param("number", 32, source=source)
    if not number and call is None:
        raise params.ParamError("number", gettext("is required without a call"))
    contract = params.date_param("contract_start", source=source)
    try:
        opened = _parts().service.open(
            number,
            params.text_param("matter", 200, source=source),
            params.choice_param("class", tuple(rules.classes), None, source=source),
            CaseKind(params.choice_param("kind", KINDS, "complaint", source=source)),
            by=user.username,
            call_uid=call,
            owner=agent,
            term=params.choice_param("term", tuple(rules.terms), "", source=source) or None,
            summary=params.text_param("summary", 4000, source=source, lines=True),
            visitor=params.choice_param("visitor", ("0", "1", "true", "false"), "0", source=source)
            in ("1", "true"),
            contract_start=contract,
        )
    except CaseInputError as e:  # its reason is the CLI's English: worded from its code
        raise params.ParamError(e.item, messages.case_input(e)) from None
    case = opened.case
    _audit("case_open", case.case_no, f"{case.kind.value} {case.case_class}")
    tz = c.runtime.config.site.tz
    return {
        "case_no": case.case_no,
        "deadline": _iso(case.deadline, tz),
        "callbacks": [
            {
                "id": r.id,
                "matter": r.matter,
                "due_at": _iso(r.due_at, tz),
                "deadline": _iso(r.deadline, tz),
            }
            for r in opened.callbacks
        ],  # fmt: skip
        "case": case_json(case, c.now(), full=True),
    }


def change_case(case_no: str, source: Any) -> dict[str, Any]:
    """Move a case, add a note, change its text or owner (owner: staff only). A request
    with none of them (or only blank ones) is a 400 naming the fields: nothing is written,
    not even an audit line of a change that was not made."""
    user = _me()
    case = _visible(case_no)
    state = params.choice_param("state", STATES, "", source=source) or None
    owner = params.text_param("owner", 64, source=source, pattern=_WORD) or None
    if owner is not None and user.role == "agent":
        raise CaseWebError(403, gettext("Only a supervisor hands a case to another agent."))
    if owner is not None and owner not in {a.id for a in ctx().runtime.config.roster.agents}:
        raise params.ParamError("owner", gettext("is not an agent of the roster"))
    call = _linkable(user, params.text_param("call", 64, source=source, pattern=_UID) or None)
    # absent, empty or blank (text_param strips): the summary stays as it is
    summary = params.text_param("summary", 4000, source=source, lines=True) or None
    note = params.text_param("note", 4000, source=source, lines=True) or None
    given = {"state": state, "note": note, "summary": summary, "owner": owner, "call": call}
    if all(v is None for v in given.values()):
        raise params.ParamError(
            "body", gettext("nothing to change: give %(fields)s", fields=", ".join(given))
        )
    try:
        changed = _parts().service.update(
            case.case_no,
            by=user.username,
            state=CaseState(state) if state else None,
            note=note,
            summary=summary,
            owner=owner,
            call_uid=call,
        )
    except CaseTransitionError:
        raise CaseWebError(
            409, gettext("The case cannot go to that state from where it is.")
        ) from None
    except CaseInputError as e:  # its reason is the CLI's English: worded from its code
        raise params.ParamError(e.item, messages.case_input(e)) from None
    _audit("case_change", case.case_no, ", ".join(k for k, v in given.items() if v is not None))
    return case_json(changed, ctx().now(), full=True)


def callback_done(case_no: str, callback_id: int, source: Any) -> int:
    """An agent reached the customer of one of the case's callbacks themselves: the
    ledger completes it and the case is told (`CallbackRepo.complete`)."""
    from ivr.adapters.db.callbacks import CallbackClosedError

    user = _me()
    case = _visible(case_no)
    outcome = params.text_param("outcome", 200, source=source)
    repo = callback_parts(ctx().runtime).repo
    req = repo.get(callback_id)
    if req is None or req.source != CASE_SOURCE or req.note != case.case_no:
        raise CaseWebError(404, gettext("The case has no such callback."))
    try:
        repo.complete(req.id, ctx().now(), user.agent_id or user.username, outcome)
    except CallbackClosedError:
        raise CaseWebError(409, gettext("That callback can no longer be marked done.")) from None
    _audit("case_change", case.case_no, f"callback #{req.id} done")
    return req.id


# --- pages --------------------------------------------------------------------------------


@bp.get("/cases")
@require()
def page() -> ResponseReturnValue:
    user = _me()
    data = listing()
    board_data = board() if user.role != "agent" else None
    c = ctx()
    return render_template(
        "cases.html",
        data=data,
        board=board_data,
        classes=tuple(c.runtime.config.cases.rules.classes),
        states=STATES,
        kinds=KINDS,
        args=request.args,
        cw=WORDS,
    )


@bp.get("/cases/<case_no>")
@require()
def case_page(case_no: str) -> ResponseReturnValue:
    try:
        data = detail(case_no)
    except CaseWebError as e:
        abort(e.status, e.message)
    return render_template(
        "case.html", case=data, states=STATES, staff=_me().role != "agent", cw=WORDS
    )


@bp.post("/cases")
@require()
def open_page() -> ResponseReturnValue:
    try:
        out = open_case(request.form)
    except CaseWebError as e:
        abort(e.status, e.message)
    flash(
        gettext(
            "Case %(no)s opened, due %(due)s.",
            no=out["case_no"],
            due=out["deadline"][:16].replace("T", " "),
        ),
        "ok",
    )
    return redirect(url_for("cases.case_page", case_no=out["case_no"]))


@bp.post("/cases/<case_no>")
@require()
def change_page(case_no: str) -> ResponseReturnValue:
    try:
        change_case(case_no, request.form)
    except CaseWebError as e:
        if e.status == 409:
            flash(e.message, "error")
            return redirect(url_for("cases.case_page", case_no=case_no))
        abort(e.status, e.message)
    flash(gettext("Case updated."), "ok")
    return redirect(url_for("cases.case_page", case_no=case_no))


@bp.post("/cases/<case_no>/callbacks/<int(max=2147483647):callback_id>/done")
@require()
def callback_done_page(case_no: str, callback_id: int) -> ResponseReturnValue:
    try:
        callback_done(case_no, callback_id, request.form)
    except CaseWebError as e:
        if e.status == 409:
            flash(e.message, "error")
            return redirect(url_for("cases.case_page", case_no=case_no))
        abort(e.status, e.message)
    flash(gettext("Callback marked done."), "ok")
    return redirect(url_for("cases.case_page", case_no=case_no))


@bp.get("/cases/review.csv")
@require("supervisor", "manager", "admin")
def review_export() -> ResponseReturnValue:
    """The weekly review (complaints reviewed weekly by category): the week's complaint
    cases with class, branch, state, deadline and whether done on time."""
    c = ctx()
    tz = c.runtime.config.site.tz
    since, until, label = week_bounds(params.one("week"), c.now(), tz)
    cases = _parts().repo.complaints(since, until, CaseFilter(owners=owners_for(_me())))
    _audit("case_review_export", label, f"{len(cases)} case(s)")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["case_no", "class", "branch", "state", "owner", "matter", "opened_at",
                "deadline", "done_at", "on_time", "escalation"])  # fmt: skip
    for x in cases:
        on_time = "" if x.done_at is None else ("yes" if x.done_at <= x.deadline else "no")
        w.writerow(
            csv_safe(v)
            for v in (
                x.case_no, x.case_class, x.branch, x.state.value, x.owner, x.matter,
                _iso(x.opened_at, tz), _iso(x.deadline, tz), _iso(x.done_at, tz), on_time,
                x.escalation.value,
            )
        )  # fmt: skip
    return Response(
        buf.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=cases-review-{label}.csv"},
    )


def week_bounds(text: str | None, now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime, str]:
    """[Monday 00:00, next Monday 00:00) of ISO week `YYYY-Www` in the hotline's zone
    (default: the week before the current one: the one to review)."""
    if text:
        m = _WEEK.fullmatch(text.strip())
        if m is None:
            raise params.ParamError("week", gettext("is not an ISO week (YYYY-Www)"))
        try:
            monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        except ValueError:
            raise params.ParamError("week", gettext("is not an ISO week (YYYY-Www)")) from None
        if not 1970 <= monday.year <= 9998:
            raise params.ParamError("week", gettext("is not an ISO week (YYYY-Www)"))
    else:
        today = now.astimezone(tz).date()
        monday = today - timedelta(days=today.weekday() + 7)
    start = datetime.combine(monday, time(0), tzinfo=tz)
    year, week, _ = monday.isocalendar()
    return start, start + timedelta(days=7), f"{year}-W{week:02d}"


def urgency_word(value: str) -> str:
    words = {
        Urgency.ON_TRACK.value: gettext("on track"),
        Urgency.NEAR.value: gettext("near deadline"),
        Urgency.OVERDUE.value: gettext("overdue"),
        Urgency.DONE.value: gettext("done"),
    }
    return words.get(value, value)


def state_word(value: str) -> str:
    words = {
        CaseState.OPEN.value: gettext("open"),
        CaseState.IN_PROGRESS.value: gettext("in progress"),
        CaseState.WAITING_CUSTOMER.value: gettext("waiting for the customer"),
        CaseState.RESOLVED.value: gettext("resolved"),
        CaseState.CLOSED.value: gettext("closed"),
        CaseState.REOPENED.value: gettext("reopened"),
    }
    return words.get(value, value)


def kind_word(value: str) -> str:
    words = {
        CaseKind.COMPLAINT.value: gettext("complaint"),
        CaseKind.REQUEST.value: gettext("request"),
        CaseKind.FOLLOW_UP.value: gettext("follow-up"),
    }
    return words.get(value, value)


def escalation_word(value: str) -> str:
    words = {"none": gettext("none"), "lead": gettext("team lead"), "manager": gettext("manager")}
    return words.get(value, value)


WORDS = {
    "state": state_word,
    "kind": kind_word,
    "urgency": urgency_word,
    "escalation": escalation_word,
}
