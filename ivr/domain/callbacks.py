"""Callbacks (回访): the ledger's state machine and the rules that drive it.

A callback request is a small persisted state machine::

    requested -> scheduled -> dialing -> connected -> completed
                     ^  ^         |
                     |  +-- retry <+  (no answer, busy, failed: back-off)
                     +------------+   (agent leg failed: customer never rung)
    any open state -> cancelled | expired;  dialing/retry -> failed (attempts used up)
    requested/scheduled/retry -> completed   (an agent reached the customer by hand)

Everything here is pure: the instant is an argument (`at`, aware), the
customer's time zone is an argument, and the repository and dialer apply what
these functions decide. Calling hours are wall-clock windows in the
*customer's* time zone; a window whose end is not after its start crosses
midnight and belongs to the day it starts on (as in `calendar.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.domain.calendar import WEEKDAYS, TimeWindow
from ivr.domain.routing import normalise_number


class CallbackError(Exception):
    """Base of the callback domain's errors."""


class TransitionError(CallbackError):
    """A state change the ledger does not allow."""


class CallbackNumberError(CallbackError, ValueError):
    """Not a number we can call back. The message describes it, never repeats it."""


CALLBACK_DIGITS = (3, 20)  # fewest and most digits of a callback number


def callback_number(raw: str) -> str:
    """The callback number in `raw`, if it has the structure of one: ASCII digits,
    3 to 20 of them, with an optional leading '+'. Raises CallbackNumberError.

    Structural only, for values read back from a channel (what a caller keyed)
    and entered anywhere else: full E.164 canonicalisation (the phonenumbers
    library, the configured region) is meant to replace this one function.

    >>> callback_number("13800000009")
    '13800000009'
    >>> callback_number("+8613800000009")
    '+8613800000009'
    >>> callback_number('138"; DROP')
    Traceback (most recent call last):
    ...
    ivr.domain.callbacks.CallbackNumberError: 10 characters, not all digits
    >>> callback_number("1" * 300)
    Traceback (most recent call last):
    ...
    ivr.domain.callbacks.CallbackNumberError: 300 digits: at most 20
    """
    digits = raw[1:] if raw.startswith("+") else raw
    if not digits:
        raise CallbackNumberError("empty")
    if not (digits.isascii() and digits.isdigit()):
        raise CallbackNumberError(f"{len(raw)} characters, not all digits")
    low, high = CALLBACK_DIGITS
    if not low <= len(digits) <= high:
        bound = f"at least {low}" if len(digits) < low else f"at most {high}"
        raise CallbackNumberError(f"{len(digits)} digits: {bound}")
    return raw


class CallbackState(StrEnum):
    REQUESTED = "requested"
    SCHEDULED = "scheduled"
    DIALING = "dialing"
    CONNECTED = "connected"
    COMPLETED = "completed"
    RETRY = "retry"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


S = CallbackState
TRANSITIONS: Mapping[CallbackState, frozenset[CallbackState]] = {
    S.REQUESTED: frozenset({S.SCHEDULED, S.CANCELLED, S.EXPIRED, S.COMPLETED}),
    S.SCHEDULED: frozenset({S.SCHEDULED, S.DIALING, S.CANCELLED, S.EXPIRED, S.COMPLETED}),
    S.DIALING: frozenset({S.CONNECTED, S.RETRY, S.SCHEDULED, S.FAILED, S.CANCELLED, S.COMPLETED}),
    S.CONNECTED: frozenset({S.COMPLETED}),
    S.RETRY: frozenset({S.DIALING, S.SCHEDULED, S.CANCELLED, S.EXPIRED, S.COMPLETED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.EXPIRED: frozenset(),
    S.CANCELLED: frozenset(),
}
INITIAL_STATE = S.REQUESTED
FINAL_STATES = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
OPEN_STATES = frozenset(CallbackState) - FINAL_STATES
DUE_STATES = frozenset({S.SCHEDULED, S.RETRY})  # what the dialer may claim
IN_FLIGHT_STATES = frozenset({S.DIALING, S.CONNECTED})
BY_HAND_STATES = frozenset({S.REQUESTED, S.SCHEDULED, S.RETRY})
"""An agent may mark these done (they called the customer themselves); a request the
dialer holds (dialing, connected) finishes through the dialer."""
CANCELLABLE_STATES = OPEN_STATES - {S.CONNECTED}
"""A connected call is under way with the customer: it completes, it is not cancelled."""


def validate_machine(
    transitions: Mapping[CallbackState, frozenset[CallbackState]], initial: CallbackState
) -> None:
    """Refuse a machine with a missing state, an unreachable state or no way to end."""
    missing = set(CallbackState) - set(transitions)
    if missing:
        raise TransitionError(f"states without a transition entry: {sorted(missing)}")
    seen, todo = {initial}, [initial]
    while todo:
        for nxt in transitions[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    unreachable = set(CallbackState) - seen
    if unreachable:
        raise TransitionError(f"unreachable states: {sorted(unreachable)}")
    if not any(not t for t in transitions.values()):
        raise TransitionError("no final state")


validate_machine(TRANSITIONS, INITIAL_STATE)


def check_transition(current: CallbackState, target: CallbackState) -> None:
    if target not in TRANSITIONS[current]:
        raise TransitionError(f"callback cannot go from {current.value} to {target.value}")


# --- attempts and their outcomes ----------------------------------------------------


class AttemptOutcome(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the customer declined the callback
    AGENT_UNAVAILABLE = "agent_unavailable"  # agent leg not answered: customer never rung
    UNKNOWN = "unknown"  # the dialer lost track (restart) and no evidence of a connection


# Asterisk ${DIALSTATUS} of the customer leg -> outcome.
_DIAL_STATUS = {
    "ANSWER": AttemptOutcome.ANSWERED,
    "NOANSWER": AttemptOutcome.NO_ANSWER,
    "BUSY": AttemptOutcome.BUSY,
    "CONGESTION": AttemptOutcome.FAILED,
    "CHANUNAVAIL": AttemptOutcome.FAILED,
    "DONTCALL": AttemptOutcome.CANCELLED,
    "TORTURE": AttemptOutcome.CANCELLED,
    "INVALIDARGS": AttemptOutcome.FAILED,
    "CANCEL": AttemptOutcome.NO_ANSWER,  # the agent gave up while the customer rang
    "NODIAL": AttemptOutcome.AGENT_UNAVAILABLE,  # the agent leg ended before the customer rang
}


def outcome_of_dial_status(status: str) -> AttemptOutcome:
    """The outcome for the customer leg's DIALSTATUS; unknown words are failures.

    >>> outcome_of_dial_status("BUSY")
    <AttemptOutcome.BUSY: 'busy'>
    """
    return _DIAL_STATUS.get(status.strip().upper(), AttemptOutcome.FAILED)


COUNTED_OUTCOMES = frozenset(AttemptOutcome) - {AttemptOutcome.AGENT_UNAVAILABLE}
"""Outcomes that use up one of the customer's attempts (the agent's failures do not)."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff: tuple[timedelta, ...] = (
        timedelta(minutes=10),
        timedelta(minutes=30),
        timedelta(hours=2),
    )
    busy_backoff: timedelta | None = timedelta(minutes=5)
    agent_retry: timedelta = timedelta(seconds=30)
    expire_after: timedelta = timedelta(days=7)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not self.backoff:
            raise ValueError("backoff needs at least one delay")

    def delay(self, attempts_made: int, outcome: AttemptOutcome) -> timedelta:
        """Wait before the next try after `attempts_made` counted attempts."""
        if outcome is AttemptOutcome.AGENT_UNAVAILABLE:
            return self.agent_retry
        if outcome is AttemptOutcome.BUSY and self.busy_backoff is not None:
            return self.busy_backoff
        index = min(max(attempts_made, 1), len(self.backoff)) - 1
        return self.backoff[index]


# --- calling hours, holidays, do-not-call ------------------------------------------


def _no_zone(number: str) -> str | None:
    return None


@dataclass(frozen=True)
class CallingRules:
    """When and whom the dialer may call, judged in the customer's time zone."""

    weekly: Mapping[str, tuple[TimeWindow, ...]]
    default_tz: ZoneInfo
    tz_by_prefix: Mapping[str, ZoneInfo] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    dial_on_holidays: bool = False
    do_not_call: frozenset[str] = frozenset()
    # How a number is compared with do_not_call and the prefixes: the config loader
    # gives the canonical form for the site's region (ivr.phone.match_key).
    number_key: Callable[[str], str] = normalise_number
    # The time zone numbering data gives a number (its key), when it names one: the
    # config loader hands in ivr.phone.time_zone (libphonenumber's data).
    zone_of: Callable[[str], str | None] = _no_zone

    def customer_tz(self, number: str) -> ZoneInfo:
        """The time zone of a number: the longest matching configured prefix (an
        override), else the zone numbering data gives it, else the default.

        >>> CallingRules({}, ZoneInfo("Asia/Shanghai"),
        ...     {"+1": ZoneInfo("America/New_York")}).customer_tz("+1 212 555 0100").key
        'America/New_York'
        >>> CallingRules({}, ZoneInfo("Asia/Shanghai"),
        ...     zone_of=lambda n: "Europe/London").customer_tz("+442071234567").key
        'Europe/London'
        """
        n = self.number_key(number)
        best = max((p for p in self.tz_by_prefix if n.startswith(p)), key=len, default=None)
        if best is not None:
            return self.tz_by_prefix[best]
        zone = self.zone_of(n)
        if zone:
            try:
                return ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                pass  # data newer than this system's tz database: the default
        return self.default_tz

    def blocked(self, number: str) -> bool:
        """Whether `number`, in whatever form it comes, is on the do-not-call list."""
        return self.number_key(number) in self.do_not_call


@dataclass(frozen=True)
class Eligibility:
    allowed: bool
    reason: str
    local_time: datetime


def eligibility(number: str, at: datetime, tz: ZoneInfo, rules: CallingRules) -> Eligibility:
    """May `number` be called at `at`? The reason in words either way."""
    if at.tzinfo is None:
        raise ValueError("eligibility needs an aware datetime")
    loc = at.astimezone(tz)
    if rules.blocked(number):
        return Eligibility(False, "number is on the do-not-call list", loc)
    window = _window_at(loc, rules)
    if window is None:
        return Eligibility(False, f"outside calling hours ({loc:%a %H:%M} {tz.key})", loc)
    day = loc.date() if window[1] == 0 else loc.date() - timedelta(days=1)
    if day in rules.holidays and not rules.dial_on_holidays:
        return Eligibility(False, f"holiday {day} ({tz.key}): no dialling", loc)
    return Eligibility(True, f"calling window {window[0]} ({tz.key})", loc)


def _window_at(loc: datetime, rules: CallingRules) -> tuple[TimeWindow, int] | None:
    """The window covering local time `loc`, and 0 (started today) or 1 (yesterday)."""
    today, now = loc.date(), loc.time()
    for w in rules.weekly.get(WEEKDAYS[today.weekday()], ()):
        if w.covers_same_day(now):
            return w, 0
    yesterday = today - timedelta(days=1)
    for w in rules.weekly.get(WEEKDAYS[yesterday.weekday()], ()):
        if w.covers_next_day(now):
            return w, 1
    return None


def next_allowed(
    number: str, at: datetime, tz: ZoneInfo, rules: CallingRules, horizon_days: int = 62
) -> datetime | None:
    """The first instant at or after `at` when `number` may be called; None if never
    within the horizon (do-not-call, or no calling window at all)."""
    if eligibility(number, at, tz, rules).allowed:
        return at
    if rules.blocked(number):
        return None
    start = at.astimezone(tz).date()
    for offset in range(horizon_days + 1):
        day = start + timedelta(days=offset)
        windows = rules.weekly.get(WEEKDAYS[day.weekday()], ())
        for w in sorted(windows, key=lambda x: x.start):
            candidate = _local_instant(day, w.start, tz)
            if candidate > at and eligibility(number, candidate, tz, rules).allowed:
                return candidate
    return None


def _local_instant(day: date, t: time, tz: ZoneInfo) -> datetime:
    """Wall time `t` on `day` in `tz`. A time skipped by a DST change (02:30 on a
    spring-forward night) is read with the offset before the change, i.e. it is the
    instant one hour later on the new wall clock; comparisons are by instant."""
    return datetime.combine(day, t, tzinfo=tz)


# --- what happens after an attempt --------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The state a request moves to, and when it is next due (open states only)."""

    state: CallbackState
    due_at: datetime | None
    reason: str


def after_attempt(
    outcome: AttemptOutcome,
    attempts_made: int,
    at: datetime,
    expires_at: datetime | None,
    number: str,
    tz: ZoneInfo,
    rules: CallingRules,
    policy: RetryPolicy,
) -> Plan:
    """Where a request goes after an attempt ended with `outcome` at `at`.

    `attempts_made` counts the customer's attempts including this one (agent-leg
    failures are not counted: the customer was never rung).
    """
    if outcome is AttemptOutcome.ANSWERED:
        return Plan(S.COMPLETED, None, "customer answered")
    if outcome is AttemptOutcome.CANCELLED:
        return Plan(S.CANCELLED, None, "customer declined the callback")
    if outcome in COUNTED_OUTCOMES and attempts_made >= policy.max_attempts:
        return Plan(S.FAILED, None, f"{outcome.value}: {attempts_made} attempts used up")
    wait = policy.delay(attempts_made, outcome)
    due = next_allowed(number, at + wait, tz, rules)
    if due is None:
        return Plan(S.FAILED, None, f"{outcome.value}: no allowed calling time ahead")
    if expires_at is not None and due > expires_at:
        return Plan(S.EXPIRED, None, f"{outcome.value}: next try {due:%Y-%m-%d %H:%M} too late")
    state = S.SCHEDULED if outcome is AttemptOutcome.AGENT_UNAVAILABLE else S.RETRY
    return Plan(state, due, f"{outcome.value}: next try after {wait}")


# --- service rules -------------------------------------------------------------------


class RuleKind(StrEnum):
    ASAP = "asap"  # the caller asked (IVR key 9, overflow, voicemail, abandoned call)
    NEXT_DAY = "next_day"  # visitors, the day after they leave
    WITHIN_DAYS = "within_days"  # complainants within N days
    CONTRACT = "contract"  # monthly in the first year, quarterly after
    AGREED = "agreed"  # an agent's promised reply time


class MatterError(CallbackError, ValueError):
    """Not a callback's matter: the message says what is wrong with it."""


def callback_matter(matter: str) -> str:
    """`matter` if it is one a callback may carry: a plain matter ("ivr", "cli") or
    `<rule>:<reference>` ("complaint:202611-0001"), the part before the first ':'
    naming the service rule. Raises MatterError for a blank matter, a blank rule or
    reference (":", "complaint:", ":202611-0001"), or either with spaces at its ends:
    " complaint" would never find the rule "complaint", and "complaint:x " would not
    be the same matter as "complaint:x" when the ledger refuses a second open one.

    >>> callback_matter("complaint:202611-0001"), callback_matter("contract:1/2027-01-10")
    ('complaint:202611-0001', 'contract:1/2027-01-10')
    >>> callback_matter("IVR complaint (after hours)")
    'IVR complaint (after hours)'
    >>> callback_matter(":")
    Traceback (most recent call last):
    ...
    ivr.domain.callbacks.MatterError: no rule before ':' (rule:reference)
    >>> callback_matter("complaint: ")
    Traceback (most recent call last):
    ...
    ivr.domain.callbacks.MatterError: no reference after ':' (rule:reference)
    """
    rule, colon, reference = matter.partition(":")
    if not colon:
        if not matter.strip():
            raise MatterError("empty")
        if matter != matter.strip():
            raise MatterError("spaces at its start or end")
        return matter
    if not rule.strip():
        raise MatterError("no rule before ':' (rule:reference)")
    if not reference.strip():
        raise MatterError("no reference after ':' (rule:reference)")
    if rule != rule.strip() or reference != reference.strip():
        raise MatterError("spaces around the rule or the reference (rule:reference)")
    return matter


@dataclass(frozen=True)
class ServiceRule:
    name: str
    kind: RuleKind
    days: int = 0  # WITHIN_DAYS: N; CONTRACT and AGREED: the grace window in days
    branch: str = ""  # whose agents call (a routing branch); "" = any agent on duty
    target_rate: float = 1.0  # share to be reached within the deadline, for reports


@dataclass(frozen=True)
class Schedule:
    due_at: datetime
    deadline: datetime | None


def schedule_for(
    rule: ServiceRule,
    event_at: datetime,
    number: str,
    tz: ZoneInfo,
    rules: CallingRules,
    agreed_at: datetime | None = None,
    contract_start: date | None = None,
) -> Schedule | None:
    """When a callback under `rule` is due and by when it counts as on time.

    `event_at` is what triggered it (the call, the check-out, the complaint).
    None when the number may never be called (do-not-call, no calling hours).
    """
    loc = event_at.astimezone(tz)
    if rule.kind is RuleKind.AGREED:
        if agreed_at is None:
            raise ValueError(f"rule {rule.name!r} needs the agreed time")
        return Schedule(agreed_at, agreed_at + timedelta(days=rule.days or 0, hours=1))
    if rule.kind is RuleKind.NEXT_DAY:
        start = _local_instant(loc.date() + timedelta(days=1), time(0, 0), tz)
        end = _local_instant(loc.date() + timedelta(days=2), time(0, 0), tz)
        due = next_allowed(number, start, tz, rules)
        return Schedule(due, end) if due is not None else None
    if rule.kind is RuleKind.CONTRACT:
        if contract_start is None:
            raise ValueError(f"rule {rule.name!r} needs the contract start date")
        day = next_contract_date(contract_start, loc.date())
        start = _local_instant(day, time(0, 0), tz)
        due = next_allowed(number, start, tz, rules)
        return Schedule(due, start + timedelta(days=rule.days or 7)) if due is not None else None
    due = next_allowed(number, event_at, tz, rules)
    if due is None:
        return None
    if rule.kind is RuleKind.WITHIN_DAYS:
        return Schedule(due, event_at + timedelta(days=rule.days))
    return Schedule(due, None)


def add_months(day: date, months: int) -> date:
    """`day` plus whole months, clamped to the month's last day.

    >>> add_months(date(2026, 1, 31), 1)
    datetime.date(2026, 2, 28)
    """
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def next_contract_date(start: date, after: date) -> date:
    """The first contract callback date strictly after `after`: monthly for the first
    twelve months from `start`, quarterly from then on."""
    if after < start:
        return add_months(start, 1)
    months = 1
    while True:
        day = add_months(start, months)
        if day > after:
            return day
        months += 1 if months < 12 else 3


# --- ordering and the callback rate ----------------------------------------------------


def may_dial_before_waiting(arrived_at: datetime, waiting_since: Iterable[datetime]) -> bool:
    """A callback keeps its place among callers still waiting, by original arrival:
    it may take a free agent only when nobody who arrived earlier is still waiting."""
    return all(w > arrived_at for w in waiting_since)


def dial_order(
    due_at: datetime, arrived_at: datetime, request_id: int
) -> tuple[datetime, datetime, int]:
    """The order in which due requests are dialled: the earliest due first, then the
    earliest arrival. A caller's request is due from its arrival (`due_from_arrival`),
    so fresh requests go strictly by arrival, and a batch deferred to the same
    calling window keeps its arrival order."""
    return (due_at, arrived_at, request_id)


@dataclass(frozen=True)
class RateItem:
    state: CallbackState
    deadline: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True)
class CallbackRate:
    counted: int  # requests that were due by now (or done), cancelled ones excluded
    on_time: int
    late_or_missed: int
    pending: int  # still open and not yet past their deadline
    rate: float | None  # on_time / counted; None when nothing counted yet


def callback_rate(items: Iterable[RateItem], at: datetime) -> CallbackRate:
    """The share of callbacks reached (connected) by their deadline.

    >>> t = datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))
    >>> callback_rate([RateItem(S.COMPLETED, t, t)], t).rate
    1.0
    """
    counted = on_time = pending = 0
    for item in items:
        if item.state is S.CANCELLED:
            continue
        finished = item.completed_at if item.state is S.COMPLETED else None
        if finished is not None and (item.deadline is None or finished <= item.deadline):
            counted += 1
            on_time += 1
        elif item.state in OPEN_STATES and (item.deadline is None or item.deadline > at):
            pending += 1
        else:
            counted += 1
    rate = on_time / counted if counted else None
    return CallbackRate(counted, on_time, counted - on_time, pending, rate)


@dataclass(frozen=True)
class CallbackRequest:
    """A callback request as the ledger holds it (plain data; datetimes aware UTC)."""

    id: int
    number: str
    matter: str
    state: CallbackState
    language: str
    branch: str
    source: str
    arrived_at: datetime
    due_at: datetime | None
    deadline: datetime | None
    expires_at: datetime | None
    attempts: int
    tz: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    last_outcome: str = ""
    source_uid: str | None = None
    note: str = ""


# The dialer's vocabulary: what it decides for each due candidate, inside the
# repository's claiming transaction (the repository carries the decision out).
@dataclass(frozen=True)
class Dial:
    seat: str
    agent_id: str


@dataclass(frozen=True)
class Defer:
    due_at: datetime
    reason: str


@dataclass(frozen=True)
class Close:
    state: CallbackState  # cancelled | expired | failed
    reason: str


@dataclass(frozen=True)
class Skip:
    reason: str


ClaimDecision = Dial | Defer | Close | Skip
Chooser = Callable[[CallbackRequest], ClaimDecision]
Planner = Callable[[CallbackRequest, AttemptOutcome, int], Plan]
