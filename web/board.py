"""The live supervisor board: a page, its server-sent event stream, away approvals."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from web import messages, params, presence
from web.context import ctx, session_alive
from web.security import STAFF, current_user, require

bp = Blueprint("board", __name__)


@bp.get("/board")
@require(*STAFF)
def page() -> ResponseReturnValue:
    _, snap = ctx().hub.current()
    return render_template("board.html", snap=snap, labels=messages.board_labels())


@bp.get("/board/stream")
@require(*STAFF)
def stream() -> ResponseReturnValue:
    """text/event-stream of `board` events; ?once=1 sends the current one and closes."""
    c = ctx()
    once = params.choice_param("once", ("0", "1"), "0") == "1"
    c.hub.current()  # here, not in the stream: the database away is this view's 503
    gen = c.hub.stream(
        c.settings.sse_heartbeat_seconds,
        max_events=1 if once else None,
        alive=session_alive(),
        alive_every=c.settings.sse_session_seconds,
    )
    return Response(
        gen,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@bp.post("/board/requests/<request_id>")
@require("supervisor", "admin")
def decide(request_id: str) -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    rid = params.id_param("request_id", request_id)
    decision = params.choice_param("decision", presence.DECISIONS, None, source=request.form)
    try:
        result = presence.decide(ctx().runtime, user, rid, decision == "approve")
        flash(messages.status(result), "ok")
    except presence.PresenceError as e:
        flash(messages.presence_error(e), "error")
    return redirect(url_for("board.page"))
