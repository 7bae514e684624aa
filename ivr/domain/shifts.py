"""Agents, their seats and shifts, named on-call rotas, and who is on duty when.

A shift belongs to the day it starts on: a night shift 22:00-06:00 on a
workday covers 02:00 of the next morning even when that morning is a holiday.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from ivr.domain.calendar import WEEKDAYS, Calendar, TimeWindow

DAY_SETS: tuple[str, ...] = ("all", "workdays", "closed_days", "holidays", "weekends", "makeup")

# The rota the single `oncall:` list of seats.yaml names, and that `oncall: true` uses.
DEFAULT_ROTA = "emergency"


class Role(StrEnum):
    LEAD = "lead"
    ORDINARY = "ordinary"


@dataclass(frozen=True)
class DaySpec:
    """Which days a shift (or a routing rule) runs: named sets and weekdays, united.

    Named sets: `all`, `workdays` (weekdays minus holidays plus make-up days),
    `closed_days` (not workdays), `holidays`, `weekends` (Saturday and Sunday,
    holiday or not), `makeup` (make-up working days). Explicit weekdays follow
    the calendar: a make-up day counts as the weekday it is worked as, and a
    holiday is a day off for a day window, but not for a window that crosses
    midnight (a night window starting on a holiday still runs: it covers closed
    hours, and a holiday is closed). `[sat, sun, holidays]` mixes both.
    """

    named: str = ""  # one of DAY_SETS, or "" when only `weekdays`/`sets` are used
    weekdays: frozenset[str] = frozenset()
    sets: frozenset[str] = frozenset()  # further named sets in a list, e.g. [sat, holidays]

    def matches(self, day: date, calendar: Calendar, night: bool = False) -> bool:
        """Whether `day` is in the set; `night`: for a window starting that day and
        crossing midnight."""
        names = self.sets | ({self.named} if self.named else set())
        if any(_named_matches(n, day, calendar) for n in names):
            return True
        if not self.weekdays:
            return False
        if day in calendar.holidays:
            return night and WEEKDAYS[day.weekday()] in self.weekdays
        return calendar.weekday_rule(day) in self.weekdays

    def __str__(self) -> str:
        days = [d for d in WEEKDAYS if d in self.weekdays]
        parts = ([self.named] if self.named else []) + days + sorted(self.sets)
        return ",".join(parts)


def _named_matches(name: str, day: date, calendar: Calendar) -> bool:
    if name == "all":
        return True
    if name == "workdays":
        return calendar.is_workday(day)
    if name == "closed_days":
        return not calendar.is_workday(day)
    if name == "holidays":
        return day in calendar.holidays
    if name == "weekends":
        return day.weekday() >= 5
    if name == "makeup":
        return day in calendar.makeup_days
    raise ValueError(f"unknown day set {name!r}")


@dataclass(frozen=True)
class Shift:
    days: DaySpec
    window: TimeWindow

    def covers(self, at_local: datetime, calendar: Calendar) -> bool:
        today = at_local.date()
        now = at_local.time()
        night = self.window.crosses_midnight
        if self.window.covers_same_day(now) and self.days.matches(today, calendar, night):
            return True
        yesterday = today - timedelta(days=1)
        return self.window.covers_next_day(now) and self.days.matches(yesterday, calendar, night)

    def __str__(self) -> str:
        return f"{self.days} {self.window}"


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    role: Role
    seat: str
    skills: frozenset[str]
    shifts: tuple[Shift, ...]


@dataclass(frozen=True)
class OnCallShift:
    agent_id: str
    shift: Shift
    rota: str = DEFAULT_ROTA


@dataclass(frozen=True)
class Roster:
    """The agents with their seat shifts, and the named on-call rotas (`oncall`: every
    rota's shifts, each naming its rota)."""

    calendar: Calendar
    agents: tuple[Agent, ...]
    oncall: tuple[OnCallShift, ...] = ()
    declared_rotas: tuple[str, ...] = ()  # rota names as configured (an empty rota too)

    def agent(self, agent_id: str) -> Agent | None:
        return next((a for a in self.agents if a.id == agent_id), None)

    def agent_by_seat(self, seat: str) -> Agent | None:
        return next((a for a in self.agents if a.seat == seat), None)

    def on_duty(self, at: datetime) -> tuple[Agent, ...]:
        """Agents whose seat shift covers `at`, in roster order."""
        loc = self.calendar.local(at)
        return tuple(a for a in self.agents if any(s.covers(loc, self.calendar) for s in a.shifts))

    @property
    def rotas(self) -> tuple[str, ...]:
        """The rota names, declared or with shifts, in the order they first appear."""
        return tuple(_unique([*self.declared_rotas, *(o.rota for o in self.oncall)]))

    def on_call(self, at: datetime, rota: str = DEFAULT_ROTA) -> tuple[Agent, ...]:
        """Agents on `rota` at `at`, in rota order, without repeats."""
        loc = self.calendar.local(at)
        ids = _unique(
            o.agent_id for o in self.oncall if o.rota == rota and o.shift.covers(loc, self.calendar)
        )
        return tuple(a for i in ids if (a := self.agent(i)) is not None)

    def staffed(self, at: datetime) -> tuple[Agent, ...]:
        """Everyone answering calls at `at`: seat shifts plus every on-call rota."""
        oncall = tuple(a for r in self.rotas for a in self.on_call(at, r))
        return tuple({a.id: a for a in self.on_duty(at) + oncall}.values())


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class StaffingRule:
    min_on_duty_open: int
    min_on_duty_closed: int
    max_away: int


@dataclass(frozen=True)
class StaffingGap:
    at: datetime
    open: bool
    staffed: int
    required: int


def staffing_gaps(
    roster: Roster, rule: StaffingRule, start: datetime, hours: int, step_minutes: int = 30
) -> list[StaffingGap]:
    """Instants between `start` and `start + hours` where ordinary seats on duty
    (seat shift or on-call) fall below the minimum for open or closed hours."""
    gaps: list[StaffingGap] = []
    steps = hours * 60 // step_minutes
    origin = start.astimezone(UTC)
    for i in range(steps):
        at = origin + timedelta(minutes=i * step_minutes)
        is_open = roster.calendar.is_open(at)
        required = rule.min_on_duty_open if is_open else rule.min_on_duty_closed
        staffed = sum(1 for a in roster.staffed(at) if a.role is Role.ORDINARY)
        if staffed < required:
            gaps.append(StaffingGap(at, is_open, staffed, required))
    return gaps
