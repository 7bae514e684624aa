"""When seats are staffed: weekly windows, holidays and make-up working days.

Every function takes the instant it is asked about (`at`, an aware datetime);
nothing here reads a clock. Wall-clock windows are evaluated in the hotline's
time zone, so a daylight-saving change moves the UTC instants, never the
opening hours. A window whose end is not after its start crosses midnight and
belongs to the day it starts on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class DayKind(StrEnum):
    WORKDAY = "workday"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    MAKEUP = "makeup"  # a weekend day worked as a weekday


@dataclass(frozen=True)
class TimeWindow:
    """A daily wall-clock window, e.g. 09:30-11:30, or 22:00-06:00 across midnight."""

    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def covers_same_day(self, t: time) -> bool:
        """Whether wall time `t` on the window's own day falls inside it."""
        if self.crosses_midnight:
            return t >= self.start
        return self.start <= t < self.end

    def covers_next_day(self, t: time) -> bool:
        """Whether wall time `t` on the following day falls inside it."""
        return self.crosses_midnight and t < self.end

    def overlaps(self, other: TimeWindow) -> bool:
        """Whether two windows on the same day share any minute (including spill-over)."""
        return bool(_minute_set(self) & _minute_set(other))

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _minute_set(w: TimeWindow) -> set[int]:
    start = w.start.hour * 60 + w.start.minute
    end = w.end.hour * 60 + w.end.minute
    if end <= start:
        end += 24 * 60
    return set(range(start, end))


def parse_window(text: str) -> TimeWindow:
    """Parse "HH:MM-HH:MM" into a window; raises ValueError naming the problem.

    >>> str(parse_window("22:00-06:00"))
    '22:00-06:00'
    """
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not of the form HH:MM-HH:MM")
    start = _parse_hhmm(parts[0].strip(), text)
    end = _parse_hhmm(parts[1].strip(), text, end=True)
    if start == end and parts[1].strip() != "24:00":
        raise ValueError(f"{text!r} is empty: start equals end")
    return TimeWindow(start, end)


def _parse_hhmm(part: str, whole: str, end: bool = False) -> time:
    pieces = part.split(":")
    if len(pieces) != 2 or not all(p.isdigit() for p in pieces):
        raise ValueError(f"{whole!r}: {part!r} is not HH:MM")
    hour, minute = int(pieces[0]), int(pieces[1])
    if hour == 24 and minute == 0:  # only meaningful as an end: the day's end
        if not end:  # as a start it would be this day's 00:00: the night before, not after
            raise ValueError(
                f"{whole!r}: 24:00 is the day's end; a window from midnight starts 00:00"
            )
        return time(0, 0)
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"{whole!r}: {part!r} is not a valid time of day")
    return time(hour, minute)


@dataclass(frozen=True)
class Holiday:
    """A day the hotline is closed. With `open_branches`, the listed branches keep
    the hours of the weekday it falls on and route as usual; every other branch is
    closed all day (`None`: no such list, routing as on any closed day)."""

    day: date
    name: str
    open_branches: frozenset[str] | None = None


@dataclass(frozen=True)
class MakeupDay:
    day: date
    works_as: str  # a weekday name from WEEKDAYS
    name: str


@dataclass(frozen=True)
class OpenStatus:
    open: bool
    day_kind: DayKind
    local_time: datetime
    reason: str


@dataclass(frozen=True)
class Calendar:
    """Opening hours of the seats in one time zone."""

    tz: ZoneInfo
    weekly: Mapping[str, tuple[TimeWindow, ...]]
    holidays: Mapping[date, Holiday] = field(default_factory=dict)
    makeup_days: Mapping[date, MakeupDay] = field(default_factory=dict)

    def local(self, at: datetime) -> datetime:
        if at.tzinfo is None:
            raise ValueError("calendar needs an aware datetime")
        return at.astimezone(self.tz)

    def day_kind(self, day: date) -> DayKind:
        if day in self.holidays:
            return DayKind.HOLIDAY
        if day in self.makeup_days:
            return DayKind.MAKEUP
        return DayKind.WEEKEND if day.weekday() >= 5 else DayKind.WORKDAY

    def is_workday(self, day: date) -> bool:
        return self.day_kind(day) in (DayKind.WORKDAY, DayKind.MAKEUP)

    def weekday_rule(self, day: date) -> str:
        """Which weekday's hours apply on `day` (a make-up day works as another)."""
        makeup = self.makeup_days.get(day)
        return makeup.works_as if makeup else WEEKDAYS[day.weekday()]

    def windows_for(self, day: date) -> tuple[TimeWindow, ...]:
        if day in self.holidays:
            return ()
        return tuple(self.weekly.get(self.weekday_rule(day), ()))

    def status(self, at: datetime) -> OpenStatus:
        """Open or closed at `at`, with the reason in words."""
        loc = self.local(at)
        today, now = loc.date(), loc.time()
        kind = self.day_kind(today)
        for w in self.windows_for(today):
            if w.covers_same_day(now):
                return OpenStatus(True, kind, loc, f"open: {kind.value} window {w}")
        yesterday = today - timedelta(days=1)
        for w in self.windows_for(yesterday):
            if w.covers_next_day(now):
                return OpenStatus(True, kind, loc, f"open: window {w} from {yesterday}")
        if kind is DayKind.HOLIDAY:
            return OpenStatus(False, kind, loc, f"closed: holiday ({self.holidays[today].name})")
        return OpenStatus(False, kind, loc, f"closed: outside opening hours ({kind.value})")

    def is_open(self, at: datetime) -> bool:
        return self.status(at).open

    def holiday_closes(self, at: datetime, branch: str) -> Holiday | None:
        """The holiday of `at`'s local day when it closes `branch` (open_branches
        without it), else None."""
        holiday = self.holidays.get(self.local(at).date())
        if holiday is None or holiday.open_branches is None:
            return None
        return None if branch in holiday.open_branches else holiday

    def branch_status(self, at: datetime, branch: str) -> OpenStatus:
        """Open or closed at `at` for one branch: as `status`, except on a holiday
        that lists the branch in `open_branches`, which keeps its weekday's hours
        (a window from the day before still spills over as usual)."""
        status = self.status(at)
        loc = status.local_time
        holiday = self.holidays.get(loc.date())
        if status.open or holiday is None or holiday.open_branches is None:
            return status
        if branch not in holiday.open_branches:
            return status
        for w in self.weekly.get(WEEKDAYS[loc.date().weekday()], ()):
            if w.covers_same_day(loc.time()):
                why = f"open: holiday ({holiday.name}) open for {branch}, window {w}"
                return OpenStatus(True, DayKind.HOLIDAY, loc, why)
        return status
