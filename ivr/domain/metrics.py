"""Report figures: calls offered, answered, abandoned, ASA, AHT, service level,
attendance, staffing now and the half-hourly staffing plan.

Definitions (docs/REPORTS.md has them with examples):

* offered = every call that reached the hotline and has ended;
* abandoned in menu = hung up before being routed; abandoned in queue = hung
  up while waiting for a seat (outcome ``abandoned_waiting``);
* service level, target (Y s, X %):
  ``SL = answered within Y s / (answered + abandoned in queue - abandoned in queue within Y s)``
  (callers who hung up within Y s are left out: they gave up before the target
  could be missed);
* ASA = total wait of answered calls / answered; AHT = total talk of answered
  calls / answered (talk only: wrap-up is not timed per call).

Pure: every figure is computed from the plain data handed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from ivr.domain.shifts import Roster, StaffingRule

ANSWERED = "answered"
ABANDONED_IN_MENU = "abandoned_in_menu"
ABANDONED_IN_QUEUE = "abandoned_waiting"
VOICEMAIL = "voicemail"
CALLBACK = "callback_requested"
PERIODS = ("day", "week", "month")
NO_AGENT = "(no agent)"  # the per-agent key of answered calls no roster agent is known for


@dataclass(frozen=True)
class ServiceTarget:
    seconds: float = 20.0
    level: float = 0.8  # 0..1


@dataclass(frozen=True)
class CallFact:
    """What the reports need of one ended call."""

    started_at: datetime
    outcome: str
    wait_seconds: float | None = None
    talk_seconds: float | None = None
    branch: str | None = None
    agent: str | None = None


@dataclass(frozen=True)
class Tally:
    """Counts and sums; the database can produce one with a single aggregate query."""

    offered: int = 0
    answered: int = 0
    abandoned_in_menu: int = 0
    abandoned_in_queue: int = 0
    abandoned_in_queue_within_target: int = 0
    answered_within_target: int = 0
    voicemail: int = 0
    callback: int = 0
    wait_answered_seconds: float = 0.0
    talk_seconds: float = 0.0

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(getattr(self, n) + getattr(other, n) for n in _TALLY_FIELDS))

    @property
    def other(self) -> int:
        """Offered calls of no other count: turned away (lines busy: ``shed``) or hung
        up by the system, so that offered = answered + abandoned (menu, queue) +
        voicemail + callback + other.

        >>> Tally(offered=5, answered=2, abandoned_in_menu=1, callback=1).other
        1
        """
        parts = self.answered + self.abandoned_in_menu + self.abandoned_in_queue
        return self.offered - parts - self.voicemail - self.callback


_TALLY_FIELDS = tuple(f.name for f in fields(Tally))


@dataclass(frozen=True)
class Figures:
    tally: Tally
    service_level: float | None  # 0..1; None when no caller reached a queue
    asa_seconds: float | None
    aht_seconds: float | None
    abandon_rate: float | None  # abandoned in queue / (answered + abandoned in queue)


def tally_one(fact: CallFact, target: ServiceTarget) -> Tally:
    wait = fact.wait_seconds or 0.0
    o = fact.outcome
    answered = o == ANSWERED
    queue_abandon = o == ABANDONED_IN_QUEUE
    return Tally(
        offered=1,
        answered=int(answered),
        abandoned_in_menu=int(o == ABANDONED_IN_MENU),
        abandoned_in_queue=int(queue_abandon),
        abandoned_in_queue_within_target=int(queue_abandon and wait <= target.seconds),
        answered_within_target=int(answered and wait <= target.seconds),
        voicemail=int(o == VOICEMAIL),
        callback=int(o == CALLBACK),
        wait_answered_seconds=wait if answered else 0.0,
        talk_seconds=(fact.talk_seconds or 0.0) if answered else 0.0,
    )


def tally(facts: Iterable[CallFact], target: ServiceTarget) -> Tally:
    total = Tally()
    for f in facts:
        total = total + tally_one(f, target)
    return total


def answered_without_agent(team: Tally, agents: Iterable[Tally]) -> Tally:
    """The answered calls of `team` that none of the `agents` tallies holds (answered at
    a seat no roster agent sits at, or by a Twilio queue), as one more agent's tally:
    with it the per-agent figures add up to the team's.

    >>> team = Tally(offered=5, answered=3, answered_within_target=2, talk_seconds=90.0)
    >>> t = answered_without_agent(team, [Tally(1, 1, answered_within_target=1, talk_seconds=40.0)])
    >>> t.offered, t.answered, t.answered_within_target, t.talk_seconds
    (2, 2, 1, 50.0)
    """
    known = sum(agents, Tally())
    answered = team.answered - known.answered
    if answered <= 0:
        return Tally()
    return Tally(
        offered=answered,
        answered=answered,
        answered_within_target=team.answered_within_target - known.answered_within_target,
        wait_answered_seconds=max(0.0, team.wait_answered_seconds - known.wait_answered_seconds),
        talk_seconds=max(0.0, team.talk_seconds - known.talk_seconds),
    )


def figures(t: Tally) -> Figures:
    queued = t.answered + t.abandoned_in_queue - t.abandoned_in_queue_within_target
    reached = t.answered + t.abandoned_in_queue
    return Figures(
        tally=t,
        service_level=t.answered_within_target / queued if queued else None,
        asa_seconds=t.wait_answered_seconds / t.answered if t.answered else None,
        aht_seconds=t.talk_seconds / t.answered if t.answered else None,
        abandon_rate=t.abandoned_in_queue / reached if reached else None,
    )


def period_start(at: datetime, tz: ZoneInfo, period: str) -> date:
    """The local day, ISO week (its Monday) or month (its 1st) that `at` falls in."""
    return period_of(at.astimezone(tz).date(), period)


def period_of(d: date, period: str) -> date:
    """The day, ISO week (its Monday) or month (its 1st) that local day `d` falls in."""
    if period == "day":
        return d
    if period == "week":
        return d - timedelta(days=d.weekday())
    if period == "month":
        return d.replace(day=1)
    raise ValueError(f"unknown period {period!r} (use {', '.join(PERIODS)})")


def periods_back(d: date, period: str, count: int) -> date:
    """The first day of `count` whole periods ending with the one that holds `d`.

    >>> periods_back(date(2026, 11, 25), "week", 8), periods_back(date(2026, 1, 31), "month", 6)
    (datetime.date(2026, 10, 5), datetime.date(2025, 8, 1))
    """
    start = period_of(d, period)
    if period == "day":
        return start - timedelta(days=count - 1)
    if period == "week":
        return start - timedelta(weeks=count - 1)
    months = start.year * 12 + start.month - 1 - (count - 1)
    return date(months // 12, months % 12 + 1, 1)


def grouped(
    facts: Iterable[CallFact], key: Callable[[CallFact], str | date | None], target: ServiceTarget
) -> dict[str | date, Figures]:
    """Figures per key (calls whose key is None are left out), sorted by key."""
    return grouped_tallies((key(f), tally_one(f, target)) for f in facts)


def grouped_tallies(items: Iterable[tuple[str | date | None, Tally]]) -> dict[str | date, Figures]:
    """Figures per key of (key, tally) pairs, e.g. daily rollups (None keys left out), by key."""
    acc: dict[str | date, Tally] = {}
    for k, t in items:
        if k is not None:
            acc[k] = acc.get(k, Tally()) + t
    return {k: figures(acc[k]) for k in sorted(acc, key=str)}


def by_period(
    facts: Iterable[CallFact], tz: ZoneInfo, period: str, target: ServiceTarget
) -> dict[str | date, Figures]:
    return grouped(facts, lambda f: period_start(f.started_at, tz, period), target)


# --- attendance ----------------------------------------------------------------


@dataclass(frozen=True)
class Clocking:
    """A sign-in or sign-out (kind ``sign_in`` | ``sign_out``)."""

    agent_id: str
    kind: str
    at: datetime


@dataclass(frozen=True)
class StateChange:
    agent_id: str
    state: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class AttendanceDay:
    agent_id: str
    day: date
    scheduled_start: datetime | None
    first_sign_in: datetime | None
    late_minutes: float  # 0 when on time; minutes after the start when late or absent
    not_signed_in: bool  # scheduled and never signed in: counted as late
    missing_sign_out: bool  # the day's last clocking a sign-in no sign-out closed in time


def scheduled_start(roster: Roster, agent_id: str, day: date) -> datetime | None:
    """The earliest seat-shift start of `agent_id` on local `day`, if any."""
    agent = roster.agent(agent_id)
    if agent is None:
        return None
    cal = roster.calendar
    starts = [s.window.start for s in agent.shifts if s.days.matches(day, cal)]
    return datetime.combine(day, min(starts), cal.tz) if starts else None


def attendance(
    roster: Roster,
    clockings: Sequence[Clocking],
    days: Sequence[date],
    at: datetime,
    grace: timedelta = timedelta(minutes=5),
) -> list[AttendanceDay]:
    """Late sign-ins and missing sign-outs per agent and local day, up to `at`.

    A day's sign-out is missing when its last clocking is a sign-in and no sign-out
    follows it, before another sign-in, by `sign_out_due` (the end of the day, or of
    the next day after a night shift's sign-in). `clockings` should reach a day past
    the last of `days`, where a night shift's sign-out lies."""
    tz = roster.calendar.tz
    out: list[AttendanceDay] = []
    for agent in roster.agents:
        mine = sorted(
            (c for c in clockings if c.agent_id == agent.id and c.at <= at), key=lambda c: c.at
        )
        for day in days:
            start = scheduled_start(roster, agent.id, day)
            today = [c for c in mine if c.at.astimezone(tz).date() == day]
            ins = [c.at for c in today if c.kind == "sign_in"]
            if start is None and not today:
                continue
            first = ins[0] if ins else None
            late, not_in = 0.0, False
            if start is not None and start + grace <= at:
                if first is None:
                    not_in = True
                    late = (min(at, _day_end(day, tz)) - start).total_seconds() / 60
                elif first > start + grace:
                    late = (first - start).total_seconds() / 60
            missing = bool(today) and _sign_out_missing(roster, mine, today[-1], at)
            out.append(AttendanceDay(agent.id, day, start, first, late, not_in, missing))
    return out


def sign_out_due(roster: Roster, agent_id: str, day: date) -> datetime:
    """By when a sign-in of local `day` must be followed by a sign-out: the end of
    the day, or the end of the next day when the agent has a seat shift or an on-call
    window that starts on `day` and crosses midnight (a night shift signs out in the
    morning)."""
    cal = roster.calendar
    agent = roster.agent(agent_id)
    shifts = [
        *(agent.shifts if agent is not None else ()),
        *(o.shift for o in roster.oncall if o.agent_id == agent_id),
    ]
    night = any(s.window.crosses_midnight and s.days.matches(day, cal, night=True) for s in shifts)
    return _day_end(day + timedelta(days=1) if night else day, cal.tz)


def _sign_out_missing(
    roster: Roster, mine: Sequence[Clocking], last: Clocking, at: datetime
) -> bool:
    """Whether `last` (a day's last clocking, one of `mine`, sorted) is a sign-in left
    open: followed by another sign-in, or by nothing (or a late sign-out) once due."""
    if last.kind != "sign_in":
        return False
    due = sign_out_due(roster, last.agent_id, last.at.astimezone(roster.calendar.tz).date())
    later = [c for c in mine if c.at > last.at]  # the next days' (last ends its day)
    if later and later[0].kind == "sign_out" and later[0].at <= due:
        return False
    return due <= at or (bool(later) and later[0].kind == "sign_in")


def _day_end(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tz)


def away_seconds(
    changes: Sequence[StateChange], start: datetime, end: datetime
) -> dict[tuple[str, str], float]:
    """Seconds each agent spent away, by reason, within [start, end)."""
    out: dict[tuple[str, str], float] = {}
    per_agent: dict[str, list[StateChange]] = {}
    for c in sorted(changes, key=lambda c: c.at):
        per_agent.setdefault(c.agent_id, []).append(c)
    for agent_id, items in per_agent.items():
        for i, c in enumerate(items):
            if c.state != "away":
                continue
            until = items[i + 1].at if i + 1 < len(items) else end
            lo, hi = max(c.at, start), min(until, end)
            if hi > lo:
                key = (agent_id, c.reason or "unspecified")
                out[key] = out.get(key, 0.0) + (hi - lo).total_seconds()
    return out


# --- staffing now ----------------------------------------------------------------


class Staffing(StrEnum):
    """What is wrong with the staffing: a code the user interface words in its language."""

    BELOW_MINIMUM = "below_minimum"  # alarm: `count` ordinary seats present, `limit` required
    TOO_MANY_AWAY = "too_many_away"  # alarm: `count` seats away, at most `limit` allowed
    AWAY_LIMIT = "away_limit"  # refusal: at most `limit` seats may be away at once
    WOULD_UNDERSTAFF = "would_understaff"  # refusal: would fall to `count`, minimum `limit`


@dataclass(frozen=True)
class StaffingProblem:
    """A staffing alarm or the reason a seat may not go away, as a code and two numbers.

    >>> p = StaffingProblem(Staffing.AWAY_LIMIT, 3, 2)
    >>> p.key(), StaffingProblem.parse(p.key()) == p
    ('away_limit:3:2', True)
    """

    code: Staffing
    count: int
    limit: int

    def key(self) -> str:
        """A compact text form for storage (`parse` reads it back)."""
        return f"{self.code.value}:{self.count}:{self.limit}"

    @classmethod
    def parse(cls, text: str) -> StaffingProblem | None:
        """The problem stored by `key`, or None when `text` is not one (older free text)."""
        parts = text.split(":")
        if len(parts) != 3 or parts[0] not in {c.value for c in Staffing}:
            return None
        if not (parts[1].isdigit() and parts[2].isdigit()):
            return None
        return cls(Staffing(parts[0]), int(parts[1]), int(parts[2]))


@dataclass(frozen=True)
class StaffingNow:
    open: bool
    scheduled: tuple[str, ...]  # agents whose seat shift or on-call covers now
    present: tuple[str, ...]  # of those, signed in and not away
    away: tuple[str, ...]  # every agent away now
    present_ordinary: int
    required: int
    max_away: int

    @property
    def alarms(self) -> tuple[StaffingProblem, ...]:
        out = []
        if self.present_ordinary < self.required:
            out.append(
                StaffingProblem(Staffing.BELOW_MINIMUM, self.present_ordinary, self.required)
            )
        if len(self.away) > self.max_away:
            out.append(StaffingProblem(Staffing.TOO_MANY_AWAY, len(self.away), self.max_away))
        return tuple(out)


def staffing_now(
    roster: Roster, rule: StaffingRule, states: Mapping[str, str], at: datetime, default: str
) -> StaffingNow:
    """Scheduled versus present; `default` is the state of an agent with no record."""
    is_open = roster.calendar.is_open(at)
    scheduled = roster.staffed(at)
    present = [a for a in scheduled if states.get(a.id, default) in ("available", "wrap_up")]
    away = tuple(a.id for a in roster.agents if states.get(a.id, default) == "away")
    return StaffingNow(
        open=is_open,
        scheduled=tuple(a.id for a in scheduled),
        present=tuple(a.id for a in present),
        away=away,
        present_ordinary=sum(1 for a in present if a.role.value == "ordinary"),
        required=rule.min_on_duty_open if is_open else rule.min_on_duty_closed,
        max_away=rule.max_away,
    )


def away_refusal(
    roster: Roster,
    rule: StaffingRule,
    states: Mapping[str, str],
    agent_id: str,
    at: datetime,
    default: str,
) -> StaffingProblem | None:
    """Why `agent_id` may not go away now (the staffing rules), or None when allowed."""
    after = {**{a.id: states.get(a.id, default) for a in roster.agents}, agent_id: "away"}
    now = staffing_now(roster, rule, after, at, default)
    if len(now.away) > rule.max_away:
        return StaffingProblem(Staffing.AWAY_LIMIT, len(now.away), rule.max_away)
    agent = roster.agent(agent_id)
    was_present = states.get(agent_id, default) in ("available", "wrap_up")
    if agent is not None and agent.role.value == "ordinary" and was_present:
        if now.present_ordinary < now.required:
            return StaffingProblem(Staffing.WOULD_UNDERSTAFF, now.present_ordinary, now.required)
    return None
