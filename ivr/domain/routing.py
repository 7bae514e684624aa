"""Where a call goes, and why: the routing decision with its trace.

Precedence: a holiday that closes the branch (`open_branches` without it),
then the branch's first matching routing rule (`ivr.domain.rules`; the
operator has rules of its own), then emergency (the on-call rota, 24 h), then
VIP priority, then the repeat caller's previous agent (first-contact
responsibility) when that agent is on duty and free, then the branch's skill
queue. When nobody can take the call the caller is offered a callback or
voicemail, never silence.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from ivr.domain.rules import Rule, TargetKind, first_match
from ivr.domain.shifts import DEFAULT_ROTA, Agent, Roster


class RouteKind(StrEnum):
    SEAT = "seat"
    QUEUE = "queue"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    EMERGENCY = "emergency"
    ROTA = "rota"  # a named on-call rota, waiting in the branch's queue
    EXTERNAL = "external"  # a number outside the PBX; target "<number>@<trunk>"
    HANGUP = "hangup"


# Route kinds whose caller waits for an agent of the branch (a seat or its queue).
WAITING_ROUTE_KINDS: tuple[str, ...] = (
    RouteKind.QUEUE.value,
    RouteKind.SEAT.value,
    RouteKind.EMERGENCY.value,
    RouteKind.ROTA.value,
)


class AgentState(StrEnum):
    AVAILABLE = "available"
    WRAP_UP = "wrap_up"
    AWAY = "away"
    SIGNED_OUT = "signed_out"


# Asterisk device states in which a seat cannot take another call.
BUSY_DEVICE_STATES = frozenset(
    {"INUSE", "BUSY", "RINGING", "RINGINUSE", "ONHOLD", "UNAVAILABLE", "INVALID"}
)

OPERATOR_BRANCH = "operator"
VOICEMAIL_BOX = "hotline"


def normalise_number(number: str) -> str:
    """Digits with an optional leading '+': how numbers are compared.

    Any Unicode decimal digit counts as its ASCII digit (fullwidth, Arabic-Indic...);
    other characters are dropped. The canonical E.164 form is made at the edge
    (`ivr.phone`); this keeps two forms of an already canonical number equal.

    >>> normalise_number(" +86 138-0000-0001 ")
    '+8613800000001'
    >>> normalise_number("＋８６ １３８"), normalise_number("١٣٨²")
    ('+86138', '138')
    """
    s = number.strip()
    digits = "".join(str(d) for d in map(_decimal, s) if d is not None)
    return ("+" + digits) if s[:1] in ("+", "\uff0b") else digits


def has_number(caller: str) -> bool:
    """Whether `caller` holds a number at all: a withheld one ("", "anonymous",
    "Restricted", "<unknown>", "+") is no one's, never a repeat caller nor a callback.

    >>> has_number("+86 138"), has_number("anonymous"), has_number("+")
    (True, False, False)
    """
    return bool(normalise_number(caller).lstrip("+"))


def _decimal(ch: str) -> int | None:
    return unicodedata.decimal(ch, None)


@dataclass(frozen=True)
class Branch:
    name: str
    skill: str
    priority: int
    oncall: bool = False  # served by the on-call rota around the clock
    rota: str = DEFAULT_ROTA  # the rota an `oncall` branch uses
    rules: tuple[Rule, ...] = ()  # first match wins; none: the default route


@dataclass(frozen=True)
class RoutingPolicy:
    branches: Mapping[str, Branch]
    vip_numbers: frozenset[str] = frozenset()
    vip_boost: int = 5
    repeat_within: timedelta = timedelta(days=7)
    max_wait_seconds: int = 120
    ring_seconds: int = 20
    when_closed: RouteKind = RouteKind.CALLBACK
    when_no_agent: RouteKind = RouteKind.CALLBACK
    assume_signed_in: bool = True
    operator_rules: tuple[Rule, ...] = ()  # the operator fallback by time of day
    # How a number is compared with vip_numbers: the config loader gives the
    # canonical form for the site's region (ivr.phone.match_key).
    number_key: Callable[[str], str] = normalise_number

    def is_vip(self, number: str) -> bool:
        return self.number_key(number) in self.vip_numbers


@dataclass(frozen=True)
class Presence:
    """What the seats are doing now: agent states and Asterisk device states."""

    agent_states: Mapping[str, AgentState] = field(default_factory=dict)
    device_states: Mapping[str, str] = field(default_factory=dict)  # seat -> device state


@dataclass(frozen=True)
class CallContext:
    caller: str
    branch: str  # a branch name or OPERATOR_BRANCH
    previous_agent: str | None = None  # who answered this caller within the repeat window
    language: str = ""


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    target: str


@dataclass(frozen=True)
class Decision:
    route: Route
    branch: str
    priority: int
    vip: bool
    queue: str  # the queue to wait in (also after a chosen seat does not answer)
    max_wait_seconds: int
    ring_seconds: int
    overflow: RouteKind  # what happens after max_wait_seconds
    trace: tuple[str, ...]


def is_free(agent: Agent, presence: Presence, policy: RoutingPolicy) -> bool:
    default = AgentState.AVAILABLE if policy.assume_signed_in else AgentState.SIGNED_OUT
    state = presence.agent_states.get(agent.id, default)
    if state is not AgentState.AVAILABLE:
        return False
    return presence.device_states.get(agent.seat, "NOT_INUSE") not in BUSY_DEVICE_STATES


def is_signed_in(agent: Agent, presence: Presence, policy: RoutingPolicy) -> bool:
    default = AgentState.AVAILABLE if policy.assume_signed_in else AgentState.SIGNED_OUT
    return presence.agent_states.get(agent.id, default) is not AgentState.SIGNED_OUT


MAX_BRANCH_HOPS = 8  # {branch: other} rules chained; the config loader refuses cycles


def decide(
    call: CallContext, at: datetime, roster: Roster, policy: RoutingPolicy, presence: Presence
) -> Decision:
    """Decide where `call` goes at `at`. Pure: every input is an argument."""
    return _decide(call, at, roster, policy, presence, [], 0)


def _decide(
    call: CallContext,
    at: datetime,
    roster: Roster,
    policy: RoutingPolicy,
    presence: Presence,
    trace: list[str],
    hops: int,
) -> Decision:
    calendar = roster.calendar
    status = calendar.branch_status(at, call.branch)
    if not trace:
        trace.append(f"{status.local_time:%Y-%m-%d %H:%M %Z}: {status.reason}")
    else:  # a {branch: ...} rule led here
        trace.append(f"as branch {call.branch}: {status.reason}")
    branch = _branch(call.branch, policy)
    vip = policy.is_vip(call.caller)
    priority = branch.priority + (policy.vip_boost if vip else 0)
    if vip:
        trace.append(f"VIP caller: priority {branch.priority} + {policy.vip_boost} = {priority}")

    def done(route: Route, overflow: RouteKind) -> Decision:
        trace.append(f"route: {route.kind.value} {route.target}".rstrip())
        return Decision(
            route=route,
            branch=branch.name,
            priority=priority,
            vip=vip,
            queue=branch.name,
            max_wait_seconds=policy.max_wait_seconds,
            ring_seconds=policy.ring_seconds,
            overflow=overflow,
            trace=tuple(trace),
        )

    def nobody(fallback: RouteKind) -> Decision:
        route = _overflow_route(fallback, call.caller)
        if route.kind is not fallback:
            trace.append("no caller number to call back: voicemail")
        return done(route, route.kind)

    closing = calendar.holiday_closes(at, branch.name)
    if closing is not None:
        listed = ", ".join(sorted(closing.open_branches or ())) or "none"
        trace.append(
            f"holiday {closing.name}: open only for {listed}; {branch.name} closed: "
            f"{policy.when_closed.value}"
        )
        return nobody(policy.when_closed)

    rules = policy.operator_rules if branch.name == OPERATOR_BRANCH else branch.rules
    match = first_match(rules, at, calendar)
    if match is not None:
        trace.append(f"rule {match.index} of {branch.name}: {match.reason} -> {match.rule.target}")
        target = match.rule.target
        if target.kind is TargetKind.BRANCH:
            if hops >= MAX_BRANCH_HOPS:
                trace.append(f"more than {MAX_BRANCH_HOPS} branch hops: voicemail")
                return nobody(RouteKind.VOICEMAIL)
            nxt = replace(call, branch=target.arg)
            return _decide(nxt, at, roster, policy, presence, trace, hops + 1)
        if target.kind in (TargetKind.VOICEMAIL, TargetKind.CALLBACK):
            return nobody(RouteKind(target.kind.value))
        if target.kind is TargetKind.NUMBER:
            route = Route(RouteKind.EXTERNAL, f"{target.arg}@{target.trunk}")
            return done(route, policy.when_no_agent)
        if target.kind is TargetKind.ROTA:
            rota, caller, is_open = target.arg, call.caller, status.open
            return _rota(rota, caller, at, roster, policy, presence, is_open, trace, done)
        branch = replace(branch, skill=target.arg, oncall=False)
    elif rules:
        trace.append(f"no rule of {branch.name} holds: its default route")

    if branch.oncall:
        return done(*_emergency(branch, at, roster, policy, presence, call, trace))

    on_duty = [a for a in roster.on_duty(at) if is_signed_in(a, presence, policy)]
    previous = _previous_agent(call, on_duty, presence, policy, trace)
    if previous is not None:
        trace.append(f"first-contact: back to {previous.id} at {previous.seat}")
        return done(Route(RouteKind.SEAT, f"PJSIP/{previous.seat}"), policy.when_no_agent)

    everyone = branch.name == OPERATOR_BRANCH and match is None
    skilled = [a for a in on_duty if everyone or branch.skill in a.skills]
    if not skilled:
        fallback = policy.when_closed if not status.open else policy.when_no_agent
        why = "closed" if not status.open else "open"
        trace.append(f"no agent with skill {branch.skill!r} on duty ({why}): {fallback.value}")
        if branch.name == OPERATOR_BRANCH:
            fallback = RouteKind.VOICEMAIL
            trace.append("operator requested with nobody on duty: voicemail")
        return nobody(fallback)

    free = [a for a in skilled if is_free(a, presence, policy)]
    names = ", ".join(a.id for a in free) or "none"
    trace.append(f"skill {branch.skill!r}: {len(skilled)} on duty, free: {names}")
    if not free:
        trace.append(f"all busy: wait in queue up to {policy.max_wait_seconds}s")
    overflow = policy.when_no_agent
    return done(Route(RouteKind.QUEUE, branch.name), overflow)


def _rota(
    rota: str,
    caller: str,
    at: datetime,
    roster: Roster,
    policy: RoutingPolicy,
    presence: Presence,
    is_open: bool,
    trace: list[str],
    done: Callable[[Route, RouteKind], Decision],
) -> Decision:
    """A rule sent the call to a named rota: it waits in the branch's queue, whose
    members are the rota's agents on call (`queue_members`)."""
    team = [a for a in roster.on_call(at, rota) if is_signed_in(a, presence, policy)]
    fallback = policy.when_no_agent if is_open else policy.when_closed
    if not team:
        trace.append(f"nobody on rota {rota!r} now: {fallback.value}")
        route = _overflow_route(fallback, caller)
        if route.kind is not fallback:
            trace.append("no caller number to call back: voicemail")
        return done(route, route.kind)
    free = ", ".join(a.id for a in team if is_free(a, presence, policy)) or "none"
    trace.append(f"rota {rota!r}: {', '.join(a.id for a in team)}; free: {free}")
    return done(Route(RouteKind.ROTA, rota), fallback)


def _branch(name: str, policy: RoutingPolicy) -> Branch:
    if name == OPERATOR_BRANCH:
        top = max((b.priority for b in policy.branches.values() if not b.oncall), default=0)
        return Branch(OPERATOR_BRANCH, OPERATOR_BRANCH, top)
    try:
        return policy.branches[name]
    except KeyError:
        raise ValueError(f"unknown routing branch {name!r}") from None


def _previous_agent(
    call: CallContext,
    on_duty: list[Agent],
    presence: Presence,
    policy: RoutingPolicy,
    trace: list[str],
) -> Agent | None:
    if not call.previous_agent:
        return None
    agent = next((a for a in on_duty if a.id == call.previous_agent), None)
    if agent is None:
        trace.append(f"repeat caller: previous agent {call.previous_agent} not on duty")
        return None
    if not is_free(agent, presence, policy):
        trace.append(f"repeat caller: previous agent {agent.id} busy or away")
        return None
    return agent


def _emergency(
    branch: Branch,
    at: datetime,
    roster: Roster,
    policy: RoutingPolicy,
    presence: Presence,
    call: CallContext,
    trace: list[str],
) -> tuple[Route, RouteKind]:
    trace.append("emergency: outranks every other call")
    oncall = [a for a in roster.on_call(at, branch.rota) if is_signed_in(a, presence, policy)]
    skilled = [a for a in roster.on_duty(at) if branch.skill in a.skills and a not in oncall]
    team = oncall + [a for a in skilled if is_signed_in(a, presence, policy)]
    if not team:
        trace.append("nobody on the on-call rota or with the emergency skill: voicemail")
        return _overflow_route(RouteKind.VOICEMAIL, call.caller), RouteKind.VOICEMAIL
    free = ", ".join(a.id for a in team if is_free(a, presence, policy)) or "none"
    trace.append(f"on call: {', '.join(a.id for a in team)}; free: {free}")
    return Route(RouteKind.EMERGENCY, branch.name), RouteKind.VOICEMAIL


def _overflow_route(kind: RouteKind, caller: str) -> Route:
    """Callback to the caller's number, or voicemail (also when the number is withheld)."""
    if kind is RouteKind.CALLBACK and has_number(caller):
        return Route(RouteKind.CALLBACK, normalise_number(caller))
    return Route(RouteKind.VOICEMAIL, VOICEMAIL_BOX)


def callback_not_taken(
    decision_branch: str, caller: str, policy: RoutingPolicy, why: str
) -> Decision:
    """The caller was offered a callback and the ledger did not take it (a number
    refused, or not a number; no ledger): voicemail, where the dialplan sends them."""
    route = Route(RouteKind.VOICEMAIL, VOICEMAIL_BOX)
    return _unqueued(
        route, decision_branch, caller, policy, f"callback not taken: {why}: voicemail"
    )


def _unqueued(route: Route, branch: str, caller: str, policy: RoutingPolicy, why: str) -> Decision:
    """A decision that waits in no queue: `route` alone, traced `why` and then the route."""
    trace = (why, f"route: {route.kind.value} {route.target}")
    return Decision(route, branch, 0, policy.is_vip(caller), branch, 0, 0, route.kind, trace)


def caller_choice(kind: RouteKind, caller: str, policy: RoutingPolicy, why: str) -> Decision:
    """The caller chose callback, voicemail or hang-up in the menu."""
    if kind is RouteKind.HANGUP:
        route = Route(RouteKind.HANGUP, "")
    else:
        route = _overflow_route(kind, caller)
    trace = [why]
    if route.kind is not kind:
        trace.append("no caller number to call back: voicemail")
    trace.append(f"route: {route.kind.value} {route.target}".rstrip())
    return Decision(
        route, "menu", 0, policy.is_vip(caller), OPERATOR_BRANCH, 0, 0, route.kind, tuple(trace)
    )


def overflow(decision_branch: str, caller: str, policy: RoutingPolicy, waited: str) -> Decision:
    """The caller waited too long or nobody answered: the configured overflow."""
    route = _overflow_route(policy.when_no_agent, caller)
    why = f"overflow after {waited}: {route.kind.value}"
    return _unqueued(route, decision_branch, caller, policy, why)


def queue_members(
    at: datetime, roster: Roster, policy: RoutingPolicy, presence: Presence
) -> dict[str, dict[str, bool]]:
    """Which seats each queue should hold now, and whether each is paused.

    A seat is a member while its agent is on duty (the on-call rota for
    emergency queues) and signed in; it is paused while the agent is away or in
    wrap-up. A routing rule holding now changes who that is: `queue: <skill>`
    the agents on duty with that skill, `rota: <name>` that rota's agents on
    call, `branch: <other>` the other branch's people. The AMI adapter makes
    Asterisk's queues follow this; whether the phone is busy is left to Asterisk
    itself (ringinuse=no).
    """
    on_duty = roster.on_duty(at)

    def members(pool: list[Agent]) -> dict[str, bool]:
        default = AgentState.AVAILABLE if policy.assume_signed_in else AgentState.SIGNED_OUT
        out: dict[str, bool] = {}
        for a in pool:
            state = presence.agent_states.get(a.id, default)
            if state is not AgentState.SIGNED_OUT:
                out[a.seat] = state is not AgentState.AVAILABLE
        return out

    def pool(name: str, hops: int = 0) -> list[Agent]:
        """Who answers `name`'s queue now; a {branch: other} rule: other's people
        (the dialplan's fallback queues the operator without asking the rules)."""
        operator = name == OPERATOR_BRANCH
        rules = policy.operator_rules if operator else policy.branches[name].rules
        match = first_match(rules, at, roster.calendar)
        target = match.rule.target if match is not None else None
        if target is not None and target.kind is TargetKind.QUEUE:
            return [a for a in on_duty if target.arg in a.skills]
        if target is not None and target.kind is TargetKind.ROTA:
            return list(roster.on_call(at, target.arg))
        if target is not None and target.kind is TargetKind.BRANCH and hops < MAX_BRANCH_HOPS:
            return pool(target.arg, hops + 1)
        if operator:
            return list(on_duty)
        b = policy.branches[name]
        skilled = [a for a in on_duty if b.skill in a.skills]
        oncall = roster.on_call(at, b.rota) if b.oncall else ()
        return list(oncall) + [a for a in skilled if a not in oncall]

    result = {name: members(pool(name)) for name in policy.branches}
    result[OPERATOR_BRANCH] = members(pool(OPERATOR_BRANCH))
    return result
