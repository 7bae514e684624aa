"""Agents, their seats and shifts, and who is on duty at a given instant.

A shift belongs to the day it starts on: a night shift 22:00-06:00 on a
workday covers 02:00 of the next morning even when that morning is a holiday.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from ivr.domain.calendar import WEEKDAYS, Calendar, TimeWindow

DAY_SETS: tuple[str, ...] = ("all", "workdays", "closed_days", "holidays", "weekends")


class Role(StrEnum):
    LEAD = "lead"
    ORDINARY = "ordinary"


@dataclass(frozen=True)
class DaySpec:
    """Which days a shift runs: a named set or explicit weekdays.

    Explicit weekdays follow the calendar: a holiday is a day off, and a make-up
    day counts as the weekday it is worked as. Only `all`, `holidays`,
    `closed_days` and `weekends` run on holidays.
    """

    named: str = ""  # one of DAY_SETS, or "" when `weekdays` is used
    weekdays: frozenset[str] = frozenset()

    def matches(self, day: date, calendar: Calendar) -> bool:
        if self.named == "all":
            return True
        if self.named == "workdays":
            return calendar.is_workday(day)
        if self.named == "closed_days":
            return not calendar.is_workday(day)
        if self.named == "holidays":
            return day in calendar.holidays
        if self.named == "weekends":
            return day.weekday() >= 5
        if day in calendar.holidays:
            return False
        return calendar.weekday_rule(day) in self.weekdays

    def __str__(self) -> str:
        return self.named or ",".join(d for d in WEEKDAYS if d in self.weekdays)


@dataclass(frozen=True)
class Shift:
    days: DaySpec
    window: TimeWindow

    def covers(self, at_local: datetime, calendar: Calendar) -> bool:
        today = at_local.date()
        now = at_local.time()
        if self.days.matches(today, calendar) and self.window.covers_same_day(now):
            return True
        yesterday = today - timedelta(days=1)
        return self.days.matches(yesterday, calendar) and self.window.covers_next_day(now)

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


@dataclass(frozen=True)
class Roster:
    """The agents with their seat shifts, and the emergency on-call rota."""

    calendar: Calendar
    agents: tuple[Agent, ...]
    oncall: tuple[OnCallShift, ...] = ()

    def agent(self, agent_id: str) -> Agent | None:
        return next((a for a in self.agents if a.id == agent_id), None)

    def agent_by_seat(self, seat: str) -> Agent | None:
        return next((a for a in self.agents if a.seat == seat), None)

    def on_duty(self, at: datetime) -> tuple[Agent, ...]:
        """Agents whose seat shift covers `at`, in roster order."""
        loc = self.calendar.local(at)
        return tuple(a for a in self.agents if any(s.covers(loc, self.calendar) for s in a.shifts))

    def on_call(self, at: datetime) -> tuple[Agent, ...]:
        """Agents on the emergency rota at `at`, in rota order, without repeats."""
        loc = self.calendar.local(at)
        ids = _unique(o.agent_id for o in self.oncall if o.shift.covers(loc, self.calendar))
        return tuple(a for i in ids if (a := self.agent(i)) is not None)

    def staffed(self, at: datetime) -> tuple[Agent, ...]:
        """Everyone answering calls at `at`: seat shifts plus the on-call rota."""
        return tuple({a.id: a for a in self.on_duty(at) + self.on_call(at)}.values())


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
