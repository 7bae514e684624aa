"""Cases (客诉 / 工单): complaints, requests and follow-ups, their numbers, deadlines,
state machine and escalation ladder (REQUIREMENTS §4).

A case is a small persisted state machine, declared as data like the callback
ledger's::

    open -> in_progress <-> waiting_customer
      \\          \\              /
       +---------> resolved <--+ -> closed
                      |               |
                      +-> reopened <--+   (the caller says it is not resolved)

Everything here is pure: instants are arguments (`at`, aware), the hotline's
calendar (holidays, make-up days) is an argument. Case numbers are `YYYYMM-NNNN`:
the month is the month of the opening instant in the hotline's time zone, the
serial counts per month from 1 (the repository allocates it atomically).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from ivr.domain.calendar import Calendar
from ivr.domain.callbacks import add_months, next_contract_date


class CaseError(Exception):
    """Base of the case domain's errors."""


class CaseTransitionError(CaseError, ValueError):
    """A state change the case machine does not allow."""


class CaseNumberError(CaseError, ValueError):
    """Not a case number of the form YYYYMM-NNNN."""


class CaseKind(StrEnum):
    COMPLAINT = "complaint"
    REQUEST = "request"
    FOLLOW_UP = "follow_up"


class CaseState(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING_CUSTOMER = "waiting_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


C = CaseState
CASE_TRANSITIONS: Mapping[CaseState, frozenset[CaseState]] = {
    C.OPEN: frozenset({C.IN_PROGRESS, C.WAITING_CUSTOMER, C.RESOLVED, C.CLOSED}),
    C.IN_PROGRESS: frozenset({C.WAITING_CUSTOMER, C.RESOLVED, C.CLOSED}),
    C.WAITING_CUSTOMER: frozenset({C.IN_PROGRESS, C.RESOLVED, C.CLOSED}),
    C.RESOLVED: frozenset({C.CLOSED, C.REOPENED}),
    C.CLOSED: frozenset({C.REOPENED}),
    C.REOPENED: frozenset({C.IN_PROGRESS, C.WAITING_CUSTOMER, C.RESOLVED, C.CLOSED}),
}
CASE_INITIAL = C.OPEN
DONE_STATES = frozenset({C.RESOLVED, C.CLOSED})
"""The case's work is done: its deadline is met or missed at the moment it got here."""
ACTIVE_STATES = frozenset(CaseState) - DONE_STATES
"""Still to be worked on: deadlines and escalations run."""


def validate_case_machine(
    transitions: Mapping[CaseState, frozenset[CaseState]], initial: CaseState
) -> None:
    """Refuse a machine with a state missing, unreachable, or from which `closed`
    cannot be reached (every case must be closable)."""
    missing = set(CaseState) - set(transitions)
    if missing:
        raise CaseTransitionError(f"states without a transition entry: {sorted(missing)}")
    seen = _reachable(transitions, initial)
    if seen != set(CaseState):
        raise CaseTransitionError(f"unreachable states: {sorted(set(CaseState) - seen)}")
    stuck = [s for s in CaseState if C.CLOSED not in _reachable(transitions, s)]
    if stuck:
        raise CaseTransitionError(f"states that can never be closed: {sorted(stuck)}")


def _reachable(
    transitions: Mapping[CaseState, frozenset[CaseState]], start: CaseState
) -> set[CaseState]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in transitions[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


validate_case_machine(CASE_TRANSITIONS, CASE_INITIAL)


def check_case_transition(current: CaseState, target: CaseState) -> None:
    if target not in CASE_TRANSITIONS[current]:
        raise CaseTransitionError(f"case cannot go from {current.value} to {target.value}")


# --- numbers -------------------------------------------------------------------------

CASE_NO = re.compile(r"([0-9]{4})(0[1-9]|1[0-2])-([0-9]{4,6})")  # ASCII digits only


def case_month(at: datetime, calendar: Calendar) -> str:
    """The `YYYYMM` of the instant in the hotline's time zone.

    >>> from zoneinfo import ZoneInfo
    >>> cal = Calendar(ZoneInfo("Asia/Shanghai"), {})
    >>> case_month(datetime(2026, 11, 30, 16, 30, tzinfo=ZoneInfo("UTC")), cal)
    '202612'
    """
    return f"{calendar.local(at):%Y%m}"


def format_case_no(month: str, serial: int) -> str:
    """`YYYYMM-NNNN`: four digits at least (a month past 9,999 cases gets five).

    >>> format_case_no("202612", 7)
    '202612-0007'
    """
    if not (len(month) == 6 and month.isdigit()) or serial < 1:
        raise CaseNumberError(f"month {month!r} / serial {serial}")
    return f"{month}-{serial:04d}"


def parse_case_no(text: str) -> tuple[str, int]:
    """(month, serial) of a case number; CaseNumberError when it is none.

    >>> parse_case_no("202612-0042")
    ('202612', 42)
    """
    m = CASE_NO.fullmatch(text.strip()) if len(text) <= 20 else None
    if m is None:
        raise CaseNumberError("not of the form YYYYMM-NNNN")
    return m.group(1) + m.group(2), int(m.group(3))


def digit_prompts(case_no: str) -> list[str]:
    """The prompts that say a case number digit by digit (the dash is a pause).

    >>> digit_prompts("202612-0007")[:3]
    ['digit_2', 'digit_0', 'digit_2']
    """
    return [f"digit_{ch}" for ch in case_no if ch.isdigit() and ch.isascii()]


# --- classes and deadlines -----------------------------------------------------------


@dataclass(frozen=True)
class CaseClass:
    """A severity class from config (major / important / minor by default)."""

    name: str
    definition: str
    escalate_at_once: bool = False  # major: to the supervisor as soon as it is opened


class TimeBasis(StrEnum):
    CALENDAR = "calendar"  # wall-clock hours, every day
    WORKING = "working"  # only inside the hotline's open hours on its working days


@dataclass(frozen=True)
class Term:
    """A named deadline: `hours` of calendar or working time, or `working_days`
    (the end of the Nth working day after the day the case was opened)."""

    name: str
    hours: float = 0.0
    working_days: int = 0
    basis: TimeBasis = TimeBasis.CALENDAR

    def __post_init__(self) -> None:
        if (self.hours > 0) == (self.working_days > 0):
            raise ValueError(f"term {self.name!r}: give hours or working_days, one of them")

    def __str__(self) -> str:
        if self.working_days:
            return f"{self.working_days} working days"
        return f"{self.hours:g} h" + (" working time" if self.basis is TimeBasis.WORKING else "")


def deadline_for(term: Term, at: datetime, calendar: Calendar) -> datetime:
    """When a case opened at `at` under `term` is due (aware, in the hotline's zone)."""
    loc = calendar.local(at)
    if term.working_days:
        day, left = loc.date(), term.working_days
        while left:
            day += timedelta(days=1)
            if calendar.is_workday(day):
                left -= 1
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=calendar.tz)
    if term.basis is TimeBasis.CALENDAR:
        return (loc + timedelta(hours=term.hours)).astimezone(calendar.tz)
    return add_working_time(loc, timedelta(hours=term.hours), calendar)


def add_working_time(
    at: datetime, amount: timedelta, calendar: Calendar, horizon_days: int = 366
) -> datetime:
    """`at` plus `amount` counted only inside the calendar's open windows (holidays
    closed, make-up days open as the weekday they work as)."""
    loc = calendar.local(at)
    left = amount
    for offset in range(-1, horizon_days):
        day = loc.date() + timedelta(days=offset)
        for start, end in sorted(_intervals(day, calendar)):
            begin = max(start, loc)
            if end <= begin:
                continue
            if end - begin >= left:
                return begin + left
            left -= end - begin
    raise CaseError(f"no {amount} of working time within {horizon_days} days")


def _intervals(day: date, calendar: Calendar) -> Iterable[tuple[datetime, datetime]]:
    for w in calendar.windows_for(day):
        start = datetime.combine(day, w.start, tzinfo=calendar.tz)
        end_day = day + timedelta(days=1) if w.crosses_midnight else day
        yield start, datetime.combine(end_day, w.end, tzinfo=calendar.tz)


@dataclass(frozen=True)
class CaseRules:
    """The rules of cases.yaml: classes, named terms, the default term per kind and
    class, and the escalation ladder."""

    classes: Mapping[str, CaseClass]
    terms: Mapping[str, Term]
    defaults: Mapping[CaseKind, Mapping[str, str]]  # kind -> class (or "*") -> term name
    lead_share: float = 0.5  # at this share of the time to the deadline: the lead
    near: timedelta = timedelta(hours=24)  # "near deadline": due within this long

    def term_for(self, kind: CaseKind, case_class: str, named: str | None = None) -> Term:
        """The named term, else the default for the kind and class."""
        if named:
            if named not in self.terms:
                raise CaseError(f"no deadline term {named!r}")
            return self.terms[named]
        per_kind = self.defaults.get(kind, {})
        name = per_kind.get(case_class) or per_kind.get("*")
        if name is None:
            raise CaseError(f"no deadline for {kind.value} cases of class {case_class!r}")
        return self.terms[name]


# --- escalation --------------------------------------------------------------------


class Escalation(StrEnum):
    NONE = "none"
    LEAD = "lead"  # the team lead (supervisor)
    MANAGER = "manager"


LADDER = (Escalation.NONE, Escalation.LEAD, Escalation.MANAGER)


def escalation_at(
    opened_at: datetime, deadline: datetime, at: datetime, lead_share: float
) -> Escalation:
    """Where a still-active case stands on the ladder at `at`: past `lead_share` of the
    time to its deadline the lead, past the deadline the manager."""
    if at >= deadline:
        return Escalation.MANAGER
    span = (deadline - opened_at).total_seconds()
    if span <= 0 or (at - opened_at).total_seconds() >= lead_share * span:
        return Escalation.LEAD
    return Escalation.NONE


def escalation_steps(current: Escalation, due: Escalation) -> list[Escalation]:
    """The steps to record to go from `current` up to `due` (never down).

    >>> escalation_steps(Escalation.NONE, Escalation.MANAGER)
    [<Escalation.LEAD: 'lead'>, <Escalation.MANAGER: 'manager'>]
    """
    return [e for e in LADDER if LADDER.index(current) < LADDER.index(e) <= LADDER.index(due)]


def higher(a: Escalation, b: Escalation) -> Escalation:
    return a if LADDER.index(a) >= LADDER.index(b) else b


class Urgency(StrEnum):
    """How the board shows an active case."""

    ON_TRACK = "on_track"
    NEAR = "near"
    OVERDUE = "overdue"
    DONE = "done"


def urgency(state: CaseState, deadline: datetime, at: datetime, near: timedelta) -> Urgency:
    """Done, overdue, near (due within `near`) or on track."""
    if state in DONE_STATES:
        return Urgency.DONE
    if at >= deadline:
        return Urgency.OVERDUE
    return Urgency.NEAR if deadline - at <= near else Urgency.ON_TRACK


# --- callbacks that follow from a case ---------------------------------------------


def contract_series(start: date, after: date, horizon_months: int) -> list[date]:
    """The contract customer's callback dates after `after`, up to `horizon_months`
    from `start`: monthly in the first year, quarterly after it.

    >>> [d.isoformat() for d in contract_series(date(2026, 1, 15), date(2026, 10, 1), 18)]
    ['2026-10-15', '2026-11-15', '2026-12-15', '2027-01-15', '2027-04-15', '2027-07-15']
    """
    end = add_months(start, horizon_months)
    out: list[date] = []
    day = next_contract_date(start, after)
    while day <= end:
        out.append(day)
        day = next_contract_date(start, day)
    return out


CASE_SOURCE = "case"
"""The ledger's `source` of a callback that follows from a case (its `note` is the
case number, its matter `<rule>:<case number>[/<date>]`)."""


def callback_rule(matter: str) -> str:
    """The callbacks.yaml rule of a case-born callback's matter.

    >>> callback_rule("contract:202612-0003/2027-01-10")
    'contract'
    """
    return matter.partition(":")[0]


def case_after_callback(
    state: CaseState, completed: bool, on_done: CaseState | None
) -> CaseState | None:
    """Where a case goes when one of its callbacks ends: to `on_done` (cases.yaml
    `callbacks.on_done` for the callback's rule) when the callback was completed,
    the case is still active and the machine allows the move; else it stays (None).
    A callback that failed, expired or was cancelled never moves its case: the
    deadline and the escalation ladder deal with that.

    >>> case_after_callback(CaseState.IN_PROGRESS, True, CaseState.RESOLVED)
    <CaseState.RESOLVED: 'resolved'>
    >>> case_after_callback(CaseState.CLOSED, True, CaseState.RESOLVED) is None
    True
    """
    if not completed or on_done is None or state not in ACTIVE_STATES or on_done is state:
        return None
    return on_done if on_done in CASE_TRANSITIONS[state] else None


# --- the record ----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A case as the repository holds it (plain data; datetimes aware)."""

    id: int
    case_no: str
    kind: CaseKind
    case_class: str
    state: CaseState
    number: str
    matter: str
    owner: str  # the first-contact agent
    branch: str
    term: str
    opened_at: datetime
    deadline: datetime
    escalation: Escalation
    summary: str
    updated_at: datetime
    opened_by: str = ""
    done_at: datetime | None = None  # first resolved or closed
    calls: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseEvent:
    at: datetime
    who: str
    action: str  # opened | state | escalated | linked | note | owner | callback
    from_state: str | None = None
    to_state: str | None = None
    detail: str = ""


def on_time(case: Case) -> bool | None:
    """Done by its deadline (True/False), or None while still active."""
    if case.done_at is None:
        return None
    return case.done_at <= case.deadline


# --- report figures ----------------------------------------------------------------


@dataclass(frozen=True)
class CaseTally:
    """Complaint cases of a group: how many, and whether they were done by their deadline."""

    opened: int = 0
    done_on_time: int = 0
    done_late: int = 0
    open_overdue: int = 0
    open_pending: int = 0  # still active and not yet past the deadline

    @property
    def on_time_rate(self) -> float | None:
        """Done by the deadline ÷ cases whose deadline has come (done, or overdue)."""
        counted = self.done_on_time + self.done_late + self.open_overdue
        return self.done_on_time / counted if counted else None


def tally_cases(cases: Iterable[Case], at: datetime) -> CaseTally:
    """Count `cases` as of `at`: done on time or late, overdue, or pending."""
    opened = on_time = late = overdue = pending = 0
    for c in cases:
        opened += 1
        if c.done_at is not None and c.state in DONE_STATES:
            if c.done_at <= c.deadline:
                on_time += 1
            else:
                late += 1
        elif at >= c.deadline:
            overdue += 1
        else:
            pending += 1
    return CaseTally(opened, on_time, late, overdue, pending)


def complaint_rate(complaints: int, calls: int) -> float | None:
    """Complaints ÷ calls offered (REQUIREMENTS §4: below 1 % by default)."""
    return complaints / calls if calls else None
