"""What the dialer decides for each due request, from the domain's rules.

`Chooser` is called inside the claiming transaction for each due request, in
dial order (first arrived first): close it (do-not-call, expired), defer it
to the customer's next calling window, leave it (an earlier caller is still
waiting, or no agent with the skill is free), or dial it through a free seat.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.domain.callbacks import (
    AttemptOutcome,
    CallbackRequest,
    CallbackState,
    CallingRules,
    Chooser,
    ClaimDecision,
    Close,
    Defer,
    Dial,
    Plan,
    Planner,
    RetryPolicy,
    Skip,
    after_attempt,
    eligibility,
    may_dial_before_waiting,
    next_allowed,
)
from ivr.domain.routing import OPERATOR_BRANCH, Presence, RoutingPolicy, is_free
from ivr.domain.shifts import Roster


@dataclass(frozen=True)
class FreeSeat:
    seat: str
    agent_id: str
    skills: frozenset[str]


def free_seats(
    at: datetime,
    roster: Roster,
    policy: RoutingPolicy,
    presence: Presence,
    busy_seats: Iterable[str] = (),
) -> list[FreeSeat]:
    """Agents on duty now, available, with an idle phone, not already in a callback."""
    busy = set(busy_seats)
    return [
        FreeSeat(a.seat, a.id, a.skills)
        for a in roster.on_duty(at)
        if a.seat not in busy and is_free(a, presence, policy)
    ]


def skill_for(branch: str, policy: RoutingPolicy) -> str | None:
    """The skill a callback on `branch` needs; None: any agent (menu, operator, unknown)."""
    b = policy.branches.get(branch)
    return b.skill if b is not None and branch != OPERATOR_BRANCH else None


def customer_zone(request: CallbackRequest, rules: CallingRules) -> ZoneInfo:
    try:
        return ZoneInfo(request.tz)
    except (ZoneInfoNotFoundError, ValueError):
        return rules.customer_tz(request.number)


def make_chooser(
    at: datetime,
    rules: CallingRules,
    policy: RoutingPolicy,
    free: Sequence[FreeSeat],
    waiting: Sequence[tuple[str, datetime]],
) -> Chooser:
    """A chooser that hands each free seat to at most one request."""
    seats = list(free)

    def choose(req: CallbackRequest) -> ClaimDecision:
        if req.expires_at is not None and req.expires_at <= at:
            return Close(CallbackState.EXPIRED, "expired before it could be completed")
        tz = customer_zone(req, rules)
        verdict = eligibility(req.number, at, tz, rules)
        if rules.blocked(req.number):
            return Close(CallbackState.CANCELLED, verdict.reason)
        if not verdict.allowed:
            nxt = next_allowed(req.number, at, tz, rules)
            if nxt is None:
                return Close(CallbackState.FAILED, f"{verdict.reason}; no calling time ahead")
            if req.expires_at is not None and nxt > req.expires_at:
                return Close(CallbackState.EXPIRED, f"{verdict.reason}; next window too late")
            return Defer(nxt, verdict.reason)
        skill = skill_for(req.branch, policy)
        earlier = [t for b, t in waiting if skill is None or b == req.branch]
        if not may_dial_before_waiting(req.arrived_at, earlier):
            return Skip("a caller who arrived earlier is still waiting")
        seat = next((s for s in seats if skill is None or skill in s.skills), None)
        if seat is None:
            return Skip(f"no free agent with skill {skill or 'any'}")
        seats.remove(seat)
        return Dial(seat.seat, seat.agent_id)

    return choose


def make_planner(at: datetime, rules: CallingRules, retry: RetryPolicy) -> Planner:
    def plan(req: CallbackRequest, outcome: AttemptOutcome, attempts_made: int) -> Plan:
        zone = customer_zone(req, rules)
        expires = req.expires_at
        return after_attempt(outcome, attempts_made, at, expires, req.number, zone, rules, retry)

    return plan
