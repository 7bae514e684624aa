"""Erlang C: how many agents a queue needs for a service level.

The M/M/N queue with infinite patience (Erlang C) gives, for a traffic
intensity ``A = calls x AHT / interval`` (Erlangs) and ``N`` agents:

* probability that a caller waits, ``Pw = EC(N, A)``;
* service level ``SL(t) = 1 - Pw * exp(-(N - A) * t / AHT)``;
* average speed of answer ``ASA = Pw * AHT / (N - A)``.

`EC` is computed through the Erlang B recursion
(``B(0) = 1, B(n) = A B(n-1) / (n + A B(n-1))``, then
``C = N B / (N - A (1 - B))``), which is stable for hundreds of agents where
the textbook sum of ``A^k / k!`` overflows. `plan_day` puts the agents needed per
half hour next to the roster and the staffing minimums. Pure: data in, data out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ivr.domain.metrics import ServiceTarget
from ivr.domain.shifts import Roster, StaffingRule


def traffic_intensity(calls: float, aht_seconds: float, interval_seconds: float) -> float:
    """Offered load in Erlangs: ``calls x AHT / interval``.

    >>> traffic_intensity(100, 180, 1800)
    10.0
    """
    if interval_seconds <= 0:
        raise ValueError(f"interval must be positive, got {interval_seconds}")
    return calls * aht_seconds / interval_seconds


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability of Erlang B for `agents` servers and `traffic` Erlangs."""
    if agents < 0 or traffic < 0:
        raise ValueError(f"agents and traffic must not be negative ({agents}, {traffic})")
    b = 1.0
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a caller has to wait; 1.0 when the queue is unstable (N <= A)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    b = erlang_b(agents, traffic)
    return agents * b / (agents - traffic * (1 - b))


def service_level(agents: int, traffic: float, aht_seconds: float, target_seconds: float) -> float:
    """Share of callers answered within `target_seconds` (0..1)."""
    if traffic <= 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    pw = erlang_c(agents, traffic)
    return max(0.0, 1.0 - pw * math.exp(-(agents - traffic) * target_seconds / aht_seconds))


def average_speed_of_answer(agents: int, traffic: float, aht_seconds: float) -> float:
    """Mean wait of all callers in seconds; infinity when the queue is unstable."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return math.inf
    return erlang_c(agents, traffic) * aht_seconds / (agents - traffic)


@dataclass(frozen=True)
class Staffing:
    """The agents an interval needs and what they would achieve. `over` when even
    `max_agents` would not reach the target: `agents` is then that bound plus one
    ("more than the bound"), and the level and speed those of the bound."""

    traffic: float
    agents: int
    service_level: float
    asa_seconds: float
    occupancy: float
    over: bool = False


def agents_needed(
    calls: float,
    aht_seconds: float,
    interval_seconds: float,
    target_level: float,
    target_seconds: float,
    max_agents: int = 1000,
) -> Staffing:
    """The fewest agents that reach `target_level` (0..1) within `target_seconds`.

    An interval without calls needs no agents; the staffing minimums of the
    roster are applied by the caller, not here.
    """
    if not 0 < target_level < 1:
        raise ValueError(f"target service level must be between 0 and 1, got {target_level}")
    traffic = traffic_intensity(calls, aht_seconds, interval_seconds)
    if traffic <= 0:
        return Staffing(0.0, 0, 1.0, 0.0, 0.0)
    n = max(1, math.floor(traffic) + 1)
    while n <= max_agents:
        level = service_level(n, traffic, aht_seconds, target_seconds)
        if level >= target_level:
            asa = average_speed_of_answer(n, traffic, aht_seconds)
            return Staffing(traffic, n, level, asa, traffic / n)
        n += 1
    # A storm in the history (callers shed by the thousand) must not break the plan:
    # the interval needs more than the bound, said as such.
    level = service_level(max_agents, traffic, aht_seconds, target_seconds)
    asa = average_speed_of_answer(max_agents, traffic, aht_seconds)
    return Staffing(traffic, max_agents + 1, level, asa, min(1.0, traffic / max_agents), True)


# --- the half-hourly staffing plan ---------------------------------------------


@dataclass(frozen=True)
class PlanRow:
    start: datetime
    calls: float  # forecast calls in the half hour
    traffic: float
    needed: int  # by Erlang C for the target (with needed_over: more than needed - 1)
    minimum: int  # configured minimum (ordinary seats)
    rostered: int  # everyone on a seat shift or on call
    rostered_ordinary: int
    predicted_level: float
    needed_over: bool = False  # more agents than Erlang C is asked to count

    @property
    def short_by(self) -> int:
        return max(0, self.needed - self.rostered, self.minimum - self.rostered_ordinary)


def forecast_slots(
    starts: Iterable[datetime], tz: ZoneInfo, weekday: int, weeks: int
) -> list[float]:
    """Average calls per half hour (48 slots) on `weekday` over `weeks` weeks of history."""
    counts = [0] * 48
    for s in starts:
        loc = s.astimezone(tz)
        if loc.weekday() == weekday:
            counts[loc.hour * 2 + loc.minute // 30] += 1
    return [c / max(1, weeks) for c in counts]


def plan_day(
    roster: Roster,
    rule: StaffingRule,
    day: date,
    slot_calls: Sequence[float],
    aht_seconds: float,
    target: ServiceTarget,
) -> list[PlanRow]:
    """For each half hour of local `day`: agents needed next to the roster."""
    tz = roster.calendar.tz
    rows = []
    for i, calls in enumerate(slot_calls):
        start = datetime.combine(day, time(0), tz) + timedelta(minutes=30 * i)
        need = agents_needed(calls, aht_seconds, 1800, target.level, target.seconds)
        staffed = roster.staffed(start)
        minimum = (
            rule.min_on_duty_open if roster.calendar.is_open(start) else (rule.min_on_duty_closed)
        )
        rows.append(
            PlanRow(
                start,
                calls,
                need.traffic,
                need.agents,
                minimum,
                len(staffed),
                sum(1 for a in staffed if a.role.value == "ordinary"),
                need.service_level,
                need.over,
            )
        )
    return rows
