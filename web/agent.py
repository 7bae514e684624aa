"""The agent's page: sign in and out (attendance), work status, my calls, my callbacks."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from web import board_data, messages, params, presence, queries
from web.context import ctx, db
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
    return render_template(
        "agent.html",
        agent=c.runtime.config.roster.agent(user.agent_id),
        state=state,
        active=queries.agent_active_call(s, user.agent_id, now),
        calls=calls,
        callbacks=queries.callbacks_due(s, user.agent_id, now),
        reasons=presence.AWAY_REASONS,
        mask=mask_number,
        tz=c.runtime.config.site.tz,
        mode=c.settings.away_approval,
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
    reason = params.choice_param("reason", presence.AWAY_REASONS, "", source=request.form)
    try:
        r = presence.set_status(c.runtime, c.settings, user, state, reason)
        flash(messages.status(r), "ok" if r.done else "error")
    except presence.PresenceError as e:
        flash(messages.presence_error(e), "error")
    return redirect(url_for("agent.page"))
