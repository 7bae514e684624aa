"""Looking ahead over the calendar: where a branch's route reaches no person.

`check-config` asks this for the next weeks (holidays and make-up days
included, as the calendar has them). Pure: the roster, the policy and the span
are arguments.

* A branch served by the on-call rota (``oncall``) must reach someone at every
  instant: someone on the rota, or on seat duty with the branch's skill (as
  `routing.decide` looks for them); else its callers get voicemail.
* Any other branch must reach someone with its skill on seat duty whenever the
  hotline is open; closed hours overflow on purpose (``overflow.when_closed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ivr.domain.routing import RoutingPolicy
from ivr.domain.shifts import Roster


@dataclass(frozen=True)
class CoverageGap:
    """From `start` to `end`, callers of `branch` reach no person."""

    branch: str
    start: datetime
    end: datetime
    reason: str


def coverage_gaps(
    roster: Roster, policy: RoutingPolicy, start: datetime, hours: int, step_minutes: int = 30
) -> list[CoverageGap]:
    """The spans between `start` and `start + hours` (sampled every `step_minutes`)
    where a branch's route reaches nobody, consecutive samples joined, in branch
    order then time."""
    step = timedelta(minutes=step_minutes)
    origin = start.astimezone(UTC)
    instants = [origin + i * step for i in range(hours * 60 // step_minutes)]
    gaps: list[CoverageGap] = []
    for branch in policy.branches.values():
        run: list[datetime] = []
        reason = ""
        for at in instants:
            skilled = any(branch.skill in a.skills for a in roster.on_duty(at))
            if branch.oncall:
                missing = not roster.on_call(at) and not skilled
                why = "nobody on the on-call rota or on duty with the skill: voicemail"
            else:
                missing = roster.calendar.is_open(at) and not skilled
                why = f"open, but nobody with skill {branch.skill!r} on duty: overflow"
            if missing:
                run.append(at)
                reason = why
                continue
            if run:
                gaps.append(CoverageGap(branch.name, run[0], run[-1] + step, reason))
                run = []
        if run:
            gaps.append(CoverageGap(branch.name, run[0], run[-1] + step, reason))
    return gaps
