"""The live supervisor board: a page, its server-sent event stream, away approvals."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from web import messages, presence
from web.app import ctx
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
    once = request.args.get("once") == "1"
    gen = c.hub.stream(c.settings.sse_heartbeat_seconds, max_events=1 if once else None)
    return Response(
        gen,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@bp.post("/board/requests/<int:request_id>")
@require("supervisor", "admin")
def decide(request_id: int) -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    try:
        result = presence.decide(
            ctx().runtime, user, request_id, request.form.get("decision") == "approve"
        )
        flash(messages.status(result), "ok")
    except presence.PresenceError as e:
        flash(messages.presence_error(e), "error")
    return redirect(url_for("board.page"))
