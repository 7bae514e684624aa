"""JSON API over the same data as the pages. Anonymous requests get 401; unsafe
requests need the session's CSRF token in the X-CSRF-Token header (see /api/me)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from web import (
    board_data,
    callbacks,
    calls,
    cases,
    messages,
    params,
    planner,
    presence,
    queries,
    reports,
    store,
)
from web.context import ctx, db
from web.heavy import heavy, heavy_db
from web.openapi import document
from web.security import STAFF, csrf_token, current_user, mask_number, require

bp = Blueprint("api", __name__, url_prefix="/api")


FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class _TwiceGiven(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once ({"state": "a", "state": "b"} is
    refused as a form field sent twice is: json would keep the last silently)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _TwiceGiven(key)
        out[key] = value
    return out


def _body() -> Mapping[str, Any]:
    """The JSON object sent, or the form fields when the body is a form. A JSON body that
    does not parse, is not an object or nests deeper than the parser's stack is a 400
    naming `body`, and so is a body of another type (text/plain, a multipart without its
    boundary): werkzeug reads no field from it, and "kind is required" would hide what
    was wrong. A request without a body or a Content-Type has no fields. A key given
    twice, in the JSON object or the form, is a 400 naming it (web.params.one)."""
    if not request.is_json:
        form = request.mimetype in FORMS and (
            request.mimetype != "multipart/form-data"
            or bool(request.mimetype_params.get("boundary"))
        )
        if form or (not request.mimetype and not request.content_length):
            return request.form
        raise params.ParamError("body", gettext("must be a JSON object"))
    try:
        data = json.loads(request.get_data(cache=True), object_pairs_hook=_pairs)
    except _TwiceGiven as e:
        twice = params.printable(e.key, 64)
        raise params.ParamError(twice, gettext("is given more than once")) from None
    except (ValueError, RecursionError):  # not JSON; [[[[... 64 kB deep: not a 500
        data = None
    if not isinstance(data, dict):
        raise params.ParamError("body", gettext("must be a JSON object"))
    return data


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(document())


@bp.get("/me")
@require()
def me() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    return jsonify(
        username=user.username,
        role=user.role,
        agent=user.agent_id,
        locale=user.locale,
        csrf_token=csrf_token(),
    )


@bp.get("/seats")
@require(*STAFF)
def seats() -> ResponseReturnValue:
    _, snap = ctx().hub.current()
    return jsonify(snap)


@bp.get("/calls")
@require()
@heavy
def call_list() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    c = ctx()
    tz = c.runtime.config.site.tz
    try:
        f, only = calls.call_filter(request.args, user, tz, c.runtime.config.site.region)
    except PermissionError as e:
        return jsonify(error=str(e)), 403
    per_page = params.int_param("per_page", 1, calls.MAX_PER_PAGE, c.settings.page_size)
    n = calls.page_number()
    rows, more = queries.list_calls(heavy_db(), f, only, n, per_page)
    return jsonify(
        page=n, per_page=per_page, has_next=more, calls=[calls.row_json(r, tz) for r in rows]
    )


@bp.get("/calls/<uid>")
@require()
def call_detail(uid: str) -> ResponseReturnValue:
    user, rec = calls.read_detail(uid)
    d = asdict(rec)
    if not user.may_see_full_number(rec.answered_agent, rec.ended_at is None):
        d["caller"] = mask_number(rec.caller)
    d["outcome"] = rec.outcome.value
    return jsonify(d)


@bp.get("/reports")
@require(*STAFF)
@heavy
def report() -> ResponseReturnValue:
    return jsonify(reports.load_report())


@bp.get("/callbacks")
@require(*STAFF)
def callback_list() -> ResponseReturnValue:
    return jsonify(callbacks.pending())


@bp.get("/callbacks/rate")
@require(*STAFF)
def callback_rate() -> ResponseReturnValue:
    return jsonify(callbacks.rates())


@bp.get("/planner")
@require(*STAFF)
@heavy
def plan() -> ResponseReturnValue:
    return jsonify(planner.plan_from_request())


@bp.get("/agent/status")
@require("agent")
def agent_status() -> ResponseReturnValue:
    user = current_user()
    assert user is not None and user.agent_id is not None
    c = ctx()
    state, reason, since = board_data.effective_states(c.runtime, c.now()).get(
        user.agent_id, ("signed_out", "", None)
    )
    return jsonify(
        agent=user.agent_id, state=state, reason=reason, since=since.isoformat() if since else None
    )


@bp.post("/agent/status")
@require("agent")
def agent_set_status() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    body = _body()
    c = ctx()
    state = params.choice_param("state", presence.STATUSES, None, source=body)
    required = None if state == "away" else ""  # going away says why
    reason = params.choice_param("reason", presence.AWAY_REASONS, required, source=body)
    try:
        r = presence.set_status(c.runtime, c.settings, user, state, reason)
    except presence.PresenceError as e:
        return jsonify(error=messages.presence_error(e), code=e.code.value), 400
    code = 200 if r.done else (202 if r.request_id else 409)
    return jsonify(
        done=r.done,
        outcome=r.outcome.value,
        message=messages.status(r),
        request_id=r.request_id,
    ), code


@bp.post("/agent/attendance")
@require("agent")
def agent_attendance() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    kind = params.choice_param("kind", presence.ATTENDANCE, None, source=_body())
    try:
        r = presence.sign(ctx().runtime, user, kind)
    except presence.PresenceError as e:
        return jsonify(error=messages.presence_error(e), code=e.code.value), 400
    return jsonify(done=r.done, outcome=r.outcome.value, message=messages.status(r))


@bp.get("/away-requests")
@require("supervisor", "admin")
def away_list() -> ResponseReturnValue:
    status = params.choice_param("status", (*presence.AWAY_STATUSES, "all"), "pending")
    return jsonify(
        requests=[
            {**asdict(r), "requested_at": r.requested_at.isoformat()}
            for r in store.away_requests(db(), None if status == "all" else status)
        ]
    )


@bp.post("/away-requests/<request_id>")
@require("supervisor", "admin")
def away_decide(request_id: str) -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    rid = params.id_param("request_id", request_id)
    decision = params.choice_param("decision", presence.DECISIONS, None, source=_body())
    try:
        r = presence.decide(ctx().runtime, user, rid, decision == "approve")
    except presence.PresenceError as e:
        return jsonify(error=messages.presence_error(e), code=e.code.value), 404
    return jsonify(done=r.done, outcome=r.outcome.value, message=messages.status(r))


# --- cases -------------------------------------------------------------------------------


def _case_error(e: cases.CaseWebError) -> ResponseReturnValue:
    return jsonify(error=e.message), e.status


@bp.get("/cases")
@require()
def case_list() -> ResponseReturnValue:
    return jsonify(cases.listing())


@bp.post("/cases")
@require()
def case_open() -> ResponseReturnValue:
    try:
        return jsonify(cases.open_case(_body())), 201
    except cases.CaseWebError as e:
        return _case_error(e)


@bp.get("/cases/board")
@require(*STAFF)
def case_board() -> ResponseReturnValue:
    return jsonify(cases.board())


@bp.get("/cases/<case_no>")
@require()
def case_detail(case_no: str) -> ResponseReturnValue:
    try:
        return jsonify(cases.detail(case_no))
    except cases.CaseWebError as e:
        return _case_error(e)


@bp.post("/cases/<case_no>")
@require()
def case_change(case_no: str) -> ResponseReturnValue:
    try:
        return jsonify(cases.change_case(case_no, _body()))
    except cases.CaseWebError as e:
        return _case_error(e)
