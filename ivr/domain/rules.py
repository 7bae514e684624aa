"""Routing rules: an ordered list of (when -> target) per branch, and for the operator.

The first rule whose `when` holds at the instant wins; no rule holding leaves the
branch's default route (its skill queue, or its on-call rota, with the overflow
fallbacks). Pure: the calendar and the instant are arguments.

*when* (every part optional; all given parts must hold):

* ``windows``: wall-clock windows, "HH:MM-HH:MM"; one crossing midnight belongs
  to the day it starts on (as shifts do). None: the whole day.
* ``days``: a day set (`shifts.DaySpec`): weekdays and named sets such as
  ``all``, ``workdays``, ``holidays``, ``weekends``, ``makeup``.
* ``holiday``: true only on holidays, false only on other days (of the day the
  window starts on).

*target*: ``queue`` (this branch's queue, answered by the agents on duty with
the named skill), ``rota`` (a named on-call rota), ``number`` (an external number
through a SIP trunk), ``branch`` (route as another branch), ``voicemail`` or
``callback``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from ivr.domain.calendar import Calendar, TimeWindow
from ivr.domain.shifts import DaySpec


class TargetKind(StrEnum):
    QUEUE = "queue"
    ROTA = "rota"
    NUMBER = "number"
    BRANCH = "branch"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"


# Targets written as a bare word; the others are one-key mappings {kind: argument}.
BARE_TARGETS = (TargetKind.VOICEMAIL, TargetKind.CALLBACK)


@dataclass(frozen=True)
class RuleTarget:
    kind: TargetKind
    arg: str = ""  # the skill, rota, E.164 number or branch
    trunk: str = ""  # for a number: the SIP trunk it is dialled through

    def __str__(self) -> str:
        if self.kind in BARE_TARGETS:
            return self.kind.value
        via = f" via {self.trunk}" if self.trunk else ""
        return f"{self.kind.value} {self.arg}{via}"


@dataclass(frozen=True)
class When:
    days: DaySpec = DaySpec(named="all")
    windows: tuple[TimeWindow, ...] = ()  # empty: the whole day
    holiday: bool | None = None  # None: either

    def holds(self, local: datetime, calendar: Calendar) -> str | None:
        """Why the condition holds at `local` (the hotline's wall clock), or None."""
        today, now = local.date(), local.time()
        if not self.windows:
            if self.days.matches(today, calendar) and self._holiday_ok(today, calendar):
                return f"{today:%a} {today} in {self._days_text(today, calendar)}"
            return None
        yesterday = today - timedelta(days=1)
        for w in self.windows:
            night = w.crosses_midnight
            spans = ((today, w.covers_same_day(now)), (yesterday, w.covers_next_day(now)))
            for day, inside in spans:
                if (
                    inside
                    and self.days.matches(day, calendar, night)
                    and self._holiday_ok(day, calendar)
                ):
                    return f"window {w} from {day:%a} {day} in {self._days_text(day, calendar)}"
        return None

    def _holiday_ok(self, day: date, calendar: Calendar) -> bool:
        if self.holiday is None:
            return True
        return (day in calendar.holidays) is self.holiday

    def _days_text(self, day: date, calendar: Calendar) -> str:
        text = f"days {self.days}"
        if self.holiday is not None:
            text += f", holiday: {'yes' if self.holiday else 'no'}"
        holiday = calendar.holidays.get(day)
        return text + (f" (holiday {holiday.name})" if holiday else "")

    def __str__(self) -> str:
        parts = [f"days {self.days}"]
        if self.windows:
            parts.append(" ".join(str(w) for w in self.windows))
        if self.holiday is not None:
            parts.append(f"holiday: {'yes' if self.holiday else 'no'}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Rule:
    when: When
    target: RuleTarget


@dataclass(frozen=True)
class RuleMatch:
    index: int  # 1-based, as a person counts the rules in the YAML
    rule: Rule
    reason: str


def first_match(rules: Sequence[Rule], at: datetime, calendar: Calendar) -> RuleMatch | None:
    """The first rule whose `when` holds at `at`, with why; None when none does."""
    local = calendar.local(at)
    for i, rule in enumerate(rules, start=1):
        why = rule.when.holds(local, calendar)
        if why is not None:
            return RuleMatch(i, rule, why)
    return None
