"""Looking ahead over the calendar: where a branch's route reaches no person.

`check-config` asks this for the next weeks (holidays and make-up days
included, as the calendar has them). Pure: the roster, the policy and the span
are arguments.

* A branch served by the on-call rota (``oncall``) must reach someone at every
  instant: someone on the rota, or on seat duty with the branch's skill (as
  `routing.decide` looks for them); else its callers get voicemail.
* Any other branch must reach someone with its skill on seat duty whenever the
  hotline is open; closed hours overflow on purpose (``overflow.when_closed``).
* Routing rules (`ivr.domain.rules`) are followed as `decide` follows them: while
  a rule holds, ``rota: X`` must have someone on rota X (whether open or not: the
  rule asked for it), ``queue: S`` someone on duty with skill S when the branch
  is open, ``branch: Y`` whatever Y needs then; ``number``, ``voicemail`` and
  ``callback`` are on purpose. A holiday whose ``open_branches`` leaves a branch
  out closes it on purpose; a listed branch is open in its weekday's hours.
  The operator is checked while one of its rules holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ivr.domain.routing import MAX_BRANCH_HOPS, OPERATOR_BRANCH, Branch, RoutingPolicy
from ivr.domain.rules import TargetKind, first_match
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
    names = list(policy.branches) + ([OPERATOR_BRANCH] if policy.operator_rules else [])
    for name in names:
        run: list[datetime] = []
        reason = ""
        for at in instants:
            why = missing(name, at, roster, policy)
            if why is not None:
                run.append(at)
                reason = why
                continue
            if run:
                gaps.append(CoverageGap(name, run[0], run[-1] + step, reason))
                run = []
        if run:
            gaps.append(CoverageGap(name, run[0], run[-1] + step, reason))
    return gaps


def missing(name: str, at: datetime, roster: Roster, policy: RoutingPolicy) -> str | None:
    """Why callers of branch `name` reach no person at `at`, or None when they do (or
    when they go to voicemail, a callback or an outside number on purpose)."""
    prefix = ""
    for _ in range(MAX_BRANCH_HOPS + 1):
        calendar = roster.calendar
        if name != OPERATOR_BRANCH and calendar.holiday_closes(at, name) is not None:
            return None  # closed on purpose
        is_open = calendar.branch_status(at, name).open
        operator = name == OPERATOR_BRANCH
        rules = policy.operator_rules if operator else policy.branches[name].rules
        match = first_match(rules, at, calendar)
        if match is None:
            return (
                None
                if operator
                else _default_missing(policy.branches[name], at, roster, is_open, prefix)
            )
        target = match.rule.target
        prefix += f"rule {match.index} of {name} ({target}): "
        if target.kind is TargetKind.BRANCH:
            name = target.arg
            continue
        if target.kind is TargetKind.ROTA:
            if roster.on_call(at, target.arg):
                return None
            return prefix + f"nobody on rota {target.arg!r}: overflow"
        if target.kind is TargetKind.QUEUE:
            skilled = any(target.arg in a.skills for a in roster.on_duty(at))
            if skilled or not is_open:
                return None
            return prefix + f"open, but nobody with skill {target.arg!r} on duty: overflow"
        return None  # number, voicemail, callback: on purpose
    return prefix + "too many branch hops: voicemail"


def _default_missing(
    branch: Branch, at: datetime, roster: Roster, is_open: bool, prefix: str
) -> str | None:
    skilled = any(branch.skill in a.skills for a in roster.on_duty(at))
    if branch.oncall:
        if not roster.on_call(at, branch.rota) and not skilled:
            return prefix + "nobody on the on-call rota or on duty with the skill: voicemail"
        return None
    if is_open and not skilled:
        return prefix + f"open, but nobody with skill {branch.skill!r} on duty: overflow"
    return None
