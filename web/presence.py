"""Agent status changes and attendance, as the web app performs them.

Every change goes through `PresenceRepo.set_agent_state` (the router reads it)
and is also written to the state history (for time-away reports); sign-in and
sign-out are also attendance events. Only the agent behind the account acts:
nobody signs in or out for someone else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ivr.adapters.db.presence import AgentStateChange
from ivr.bootstrap import Runtime
from ivr.domain.metrics import StaffingProblem, away_refusal
from web import board_data, store
from web.security import CurrentUser
from web.settings import WebSettings

STATUSES = ("available", "wrap_up", "away")
AWAY_REASONS = ("break", "meal", "training", "meeting", "other")
ATTENDANCE = ("sign_in", "sign_out")
DECISIONS = ("approve", "refuse")
AWAY_STATUSES = ("pending", "approved", "refused", "cancelled")


class Problem(StrEnum):
    """Why a status change was not accepted (web.messages words it in the user's language)."""

    NOT_AN_AGENT = "not_an_agent"  # subject: the user name
    UNKNOWN_EVENT = "unknown_event"  # subject: the attendance event asked for
    UNKNOWN_STATUS = "unknown_status"  # subject: the status asked for
    SIGNED_OUT = "signed_out"  # sign in first
    UNKNOWN_REASON = "unknown_reason"  # subject: the away reason asked for
    NO_PENDING_REQUEST = "no_pending_request"  # subject: the request id


class PresenceError(ValueError):
    """A status change that is not allowed as asked: a code and the item it is about."""

    def __init__(self, code: Problem, subject: str = "") -> None:
        super().__init__(f"{code.value}: {subject}" if subject else code.value)
        self.code, self.subject = code, subject


class Outcome(StrEnum):
    """What a status change did (web.messages words it)."""

    SIGNED_IN = "signed_in"
    SIGNED_OUT = "signed_out"
    STATUS_SET = "status_set"  # subject: the new status
    AWAY = "away"  # subject: the away reason
    REFUSED = "refused"  # problem: the staffing rule it would break
    WAITING = "waiting"  # problem: likewise; the request waits for the lead
    APPROVED = "approved"  # subject: the agent of the request
    REQUEST_REFUSED = "request_refused"  # subject: the agent of the request


@dataclass(frozen=True)
class StatusResult:
    done: bool  # the state was changed
    outcome: Outcome
    subject: str = ""
    problem: StaffingProblem | None = None
    request_id: int | None = None  # a request waiting for the lead's approval


def _apply(
    change: AgentStateChange, user: CurrentUser, agent_id: str, state: str, reason: str,
    now: datetime,
) -> None:  # fmt: skip
    change.set(agent_id, state, reason, now)
    store.record_state(change.session, agent_id, state, reason, now, user.id)


def sign(rt: Runtime, user: CurrentUser, kind: str) -> StatusResult:
    """Sign the user's own agent in (available) or out (signed_out)."""
    if user.agent_id is None or rt.config.roster.agent(user.agent_id) is None:
        raise PresenceError(Problem.NOT_AN_AGENT, user.username)
    if kind not in ("sign_in", "sign_out"):
        raise PresenceError(Problem.UNKNOWN_EVENT, kind)
    now = rt.clock()
    with rt.presence_repo.state_change() as change:
        store.record_clocking(change.session, user.agent_id, kind, now, user.id)
        if kind == "sign_out":
            store.cancel_away_requests(change.session, user.agent_id, now)
        state = "available" if kind == "sign_in" else "signed_out"
        _apply(change, user, user.agent_id, state, "", now)
    rt.presence.invalidate()
    return StatusResult(True, Outcome.SIGNED_IN if kind == "sign_in" else Outcome.SIGNED_OUT)


def set_status(
    rt: Runtime, settings: WebSettings, user: CurrentUser, state: str, reason: str
) -> StatusResult:
    """Set the user's own work status; going away is checked against the staffing rules."""
    agent_id = user.agent_id
    if agent_id is None or rt.config.roster.agent(agent_id) is None:
        raise PresenceError(Problem.NOT_AN_AGENT, user.username)
    if state not in STATUSES:
        raise PresenceError(Problem.UNKNOWN_STATUS, state)
    # One change at a time, in every web process: two agents going away at once would
    # each be checked against the states before the other's change, and together break
    # the rule each kept. The check and the change hold the database's lock on the states.
    with rt.presence_repo.state_change() as change:
        now = rt.clock()
        records = change.states()
        states = {k: v[0] for k, v in board_data.effective_states(rt, now, records).items()}
        if states.get(agent_id) == "signed_out":
            raise PresenceError(Problem.SIGNED_OUT)
        why = None
        if state == "away":
            if reason not in AWAY_REASONS:
                raise PresenceError(Problem.UNKNOWN_REASON, reason)
            roster, staffing = rt.config.roster, rt.config.staffing
            why = away_refusal(roster, staffing, states, agent_id, now, "signed_out")
        if why is None:
            _apply(change, user, agent_id, state, reason if state == "away" else "", now)
    if why is None:
        rt.presence.invalidate()
        if state == "away":
            return StatusResult(True, Outcome.AWAY, reason)
        return StatusResult(True, Outcome.STATUS_SET, state)
    if settings.away_approval == "refuse":
        return StatusResult(False, Outcome.REFUSED, reason, why)
    with rt.sessions.begin() as s:
        rid = store.add_away_request(s, agent_id, reason, why.key(), now)
    return StatusResult(False, Outcome.WAITING, reason, why, rid)


def decide(rt: Runtime, user: CurrentUser, request_id: int, approve: bool) -> StatusResult:
    """A supervisor approves or refuses a pending away request (the decision and the
    agent going away are one change of the states, as set_status's)."""
    now = rt.clock()
    with rt.presence_repo.state_change() as change:
        # an agent signed out since asking (`hotline agent A signed_out` too) is away from nothing
        gone = frozenset(
            a for a, (state, _, _) in board_data.effective_states(rt, now, change.states()).items()
            if state == "signed_out"
        )  # fmt: skip
        s = change.session
        row = store.decide_away_request(s, request_id, approve, user.username, now, gone)
        if row is not None:
            store.audit(
                s, "away_" + row.status, user=user, target=row.agent_id, detail=row.reason, at=now
            )
            if approve:
                _apply(change, user, row.agent_id, "away", row.reason, now)
    if row is None:
        raise PresenceError(Problem.NO_PENDING_REQUEST, str(request_id))
    rt.presence.invalidate()
    return StatusResult(
        approve, Outcome.APPROVED if approve else Outcome.REQUEST_REFUSED, row.agent_id
    )
