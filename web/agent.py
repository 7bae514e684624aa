"""The agent's page: sign in and out (attendance), work status, my calls, my callbacks."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ivr.adapters.db.cases import CaseFilter
from ivr.bootstrap import case_parts
from ivr.domain.cases import ACTIVE_STATES
from web import board_data, case_live, cases, live, messages, params, presence, queries
from web.context import ctx, db, session_alive
from web.security import current_user, mask_number, require

bp = Blueprint("agent", __name__)


@bp.get("/agent")
@require("agent")
def page() -> ResponseReturnValue:
    c = ctx()
    user = current_user()
    assert user is not None and user.agent_id is not None
    now = c.now()
    state = board_data.effective_states(c.runtime, now).get(user.agent_id, ("signed_out", "", None))
    s = db()
    calls, _ = queries.list_calls(s, queries.CallFilter(), user.agent_id, 1, 20)
    active = queries.agent_active_call(s, user.agent_id, now)
    mine = case_parts(c.runtime).repo.search(
        CaseFilter(owners=frozenset({user.agent_id}), states=ACTIVE_STATES), limit=20
    )
    return render_template(
        "agent.html",
        agent=c.runtime.config.roster.agent(user.agent_id),
        state=state,
        active=active,
        active_case=case_parts(c.runtime).repo.by_call(active.uid) if active else None,
        my_cases=[cases.case_json(x, now) for x in mine],
        case_kinds=cases.KINDS,
        case_classes=tuple(c.runtime.config.cases.rules.classes),
        cw=cases.WORDS,
        calls=calls,
        callbacks=queries.callbacks_due(s, user.agent_id, now),
        reasons=presence.AWAY_REASONS,
        mask=mask_number,
        tz=c.runtime.config.site.tz,
        mode=c.settings.away_approval,
        case_labels=messages.case_live_labels(),
    )


@bp.get("/agent/stream")
@require("agent")
def stream() -> ResponseReturnValue:
    """text/event-stream of `cases` events: the agent's own active cases (ladder step,
    urgency) and their latest escalations; ?once=1 sends the current one and closes."""
    c = ctx()
    user = current_user()
    assert user is not None and user.agent_id is not None
    rt, agent_id = c.runtime, user.agent_id
    once = params.choice_param("once", ("0", "1"), "0") == "1"

    def compute() -> dict[str, Any]:
        return case_live.agent_snapshot(rt, agent_id, rt.clock())

    gen = live.watch(
        compute,
        "cases",
        c.settings.agent_poll_seconds,
        c.settings.sse_heartbeat_seconds,
        c.hub.stopping,
        max_events=1 if once else None,
        first=compute(),  # here, not in the stream: the database away is this view's 503
        alive=session_alive(),
        alive_every=c.settings.sse_session_seconds,
    )
    return Response(
        gen,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@bp.post("/agent/attendance")
@require("agent")
def attendance() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    try:
        kind = params.choice_param("kind", presence.ATTENDANCE, None, source=request.form)
        flash(messages.status(presence.sign(ctx().runtime, user, kind)), "ok")
    except presence.PresenceError as e:
        flash(messages.presence_error(e), "error")
    return redirect(url_for("agent.page"))


@bp.post("/agent/status")
@require("agent")
def status() -> ResponseReturnValue:
    c = ctx()
    user = current_user()
    assert user is not None
    state = params.choice_param("state", presence.STATUSES, None, source=request.form)
    required = None if state == "away" else ""  # going away says why
    reason = params.choice_param("reason", presence.AWAY_REASONS, required, source=request.form)
    try:
        r = presence.set_status(c.runtime, c.settings, user, state, reason)
        flash(messages.status(r), "ok" if r.done else "error")
    except presence.PresenceError as e:
        flash(messages.presence_error(e), "error")
    return redirect(url_for("agent.page"))
