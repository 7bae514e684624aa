"""Agent status changes and attendance, as the web app performs them.

Every change goes through `PresenceRepo.set_agent_state` (the router reads it)
and is also written to the state history (for time-away reports); sign-in and
sign-out are also attendance events. Only the agent behind the account acts:
nobody signs in or out for someone else.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.bootstrap import Runtime
from ivr.domain.metrics import away_refusal
from web import board_data, store
from web.security import CurrentUser
from web.settings import WebSettings

STATUSES = ("available", "wrap_up", "away")
AWAY_REASONS = ("break", "meal", "training", "meeting", "other")
ATTENDANCE = ("sign_in", "sign_out")
DECISIONS = ("approve", "refuse")
AWAY_STATUSES = ("pending", "approved", "refused", "cancelled")


class PresenceError(ValueError):
    """A status change that is not allowed as asked."""


@dataclass(frozen=True)
class StatusResult:
    done: bool  # the state was changed
    message: str
    request_id: int | None = None  # a request waiting for the lead's approval


def _apply(rt: Runtime, user: CurrentUser, agent_id: str, state: str, reason: str) -> None:
    now = rt.clock()
    rt.presence_repo.set_agent_state(agent_id, state, reason, now)
    rt.presence.invalidate()
    with rt.sessions.begin() as s:
        store.record_state(s, agent_id, state, reason, now, user.id)


def sign(rt: Runtime, user: CurrentUser, kind: str) -> StatusResult:
    """Sign the user's own agent in (available) or out (signed_out)."""
    if user.agent_id is None or rt.config.roster.agent(user.agent_id) is None:
        raise PresenceError(f"user {user.username} is not an agent of the roster")
    if kind not in ("sign_in", "sign_out"):
        raise PresenceError(f"unknown attendance event {kind!r}")
    now = rt.clock()
    with rt.sessions.begin() as s:
        store.record_clocking(s, user.agent_id, kind, now, user.id)
    _apply(rt, user, user.agent_id, "available" if kind == "sign_in" else "signed_out", "")
    return StatusResult(True, "Signed in." if kind == "sign_in" else "Signed out.")


def set_status(
    rt: Runtime, settings: WebSettings, user: CurrentUser, state: str, reason: str
) -> StatusResult:
    """Set the user's own work status; going away is checked against the staffing rules."""
    agent_id = user.agent_id
    if agent_id is None or rt.config.roster.agent(agent_id) is None:
        raise PresenceError(f"user {user.username} is not an agent of the roster")
    if state not in STATUSES:
        raise PresenceError(f"status {state!r} is not one of {', '.join(STATUSES)}")
    now = rt.clock()
    states = {k: v[0] for k, v in board_data.effective_states(rt, now).items()}
    if states.get(agent_id) == "signed_out":
        raise PresenceError("sign in first")
    if state != "away":
        _apply(rt, user, agent_id, state, "")
        return StatusResult(True, f"Status: {state}.")
    if reason not in AWAY_REASONS:
        raise PresenceError(f"reason {reason!r} is not one of {', '.join(AWAY_REASONS)}")
    why = away_refusal(rt.config.roster, rt.config.staffing, states, agent_id, now, "signed_out")
    if why is None:
        _apply(rt, user, agent_id, "away", reason)
        return StatusResult(True, f"Away ({reason}).")
    if settings.away_approval == "refuse":
        return StatusResult(False, f"Refused: {why}.")
    with rt.sessions.begin() as s:
        rid = store.add_away_request(s, agent_id, reason, why, now)
    return StatusResult(False, f"Waiting for the lead's approval: {why}.", rid)


def decide(rt: Runtime, user: CurrentUser, request_id: int, approve: bool) -> StatusResult:
    """A supervisor approves or refuses a pending away request."""
    now = rt.clock()
    with rt.sessions.begin() as s:
        row = store.decide_away_request(s, request_id, approve, user.username, now)
        if row is None:
            raise PresenceError(f"no pending away request {request_id}")
        store.audit(
            s, "away_" + row.status, user=user, target=row.agent_id, detail=row.reason, at=now
        )
    if approve:
        _apply(rt, user, row.agent_id, "away", row.reason)
    return StatusResult(approve, f"Request of {row.agent_id} {row.status}.")
