"""The satisfaction survey after an answered call (REQUIREMENTS §6.1), as a pure step function.

After the seat hangs up, a caller who stays on the line is asked for a score on
the configured scale (1–5 by default); a separate key, when configured, means
"my matter is not resolved". The channel adapter plays what `Ask` says and feeds
back the key or a timeout (None); the flow ends in a `SurveyDone`:

    state, action = begin(policy, "zh-CN")
    while isinstance(action, Ask):
        state, action = step(policy, state, key_or_none)

An invalid key or a timeout is asked again until `attempts` are spent (then
`no_answer`); a caller who hangs up meanwhile is `left(state)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from ivr.domain.menu import Ask

PROMPT_ASK = "survey_ask"
PROMPT_INVALID = "survey_invalid"
PROMPT_TIMEOUT = "survey_timeout"
PROMPT_THANKS = "survey_thanks"
PROMPTS = (PROMPT_ASK, PROMPT_INVALID, PROMPT_TIMEOUT, PROMPT_THANKS)
DIGITS = "0123456789"


class SurveyOutcome(StrEnum):
    SCORED = "scored"  # a score on the scale
    NOT_RESOLVED = "not_resolved"  # the "not resolved" key: reopen or escalate
    NO_ANSWER = "no_answer"  # attempts spent on timeouts and invalid keys
    LEFT = "left"  # hung up during the survey


@dataclass(frozen=True)
class SurveyPolicy:
    """The survey as configured (hotline.yaml `survey`); validated by the config loader."""

    enabled: bool = True
    low: int = 1
    high: int = 5
    not_resolved_key: str = "0"  # "" : no such key
    satisfied_from: int = 4  # a score at or above it counts as satisfied
    timeout_seconds: float = 6.0
    attempts: int = 2
    off_branches: frozenset[str] = field(default_factory=frozenset)

    def applies_to(self, branch: str) -> bool:
        """Is the survey offered after a call of this branch?

        >>> SurveyPolicy(off_branches=frozenset({"emergency"})).applies_to("emergency")
        False
        """
        return self.enabled and branch not in self.off_branches

    def score_of(self, key: str) -> int | None:
        """The score a key stands for, or None when it is off the scale.

        >>> SurveyPolicy().score_of("5"), SurveyPolicy().score_of("6")
        (5, None)
        """
        if len(key) == 1 and key in DIGITS and self.low <= int(key) <= self.high:
            return int(key)
        return None

    def satisfied(self, score: int) -> bool:
        return score >= self.satisfied_from


@dataclass(frozen=True)
class SurveyState:
    language: str
    attempts_used: int = 0
    keys: str = ""  # every key pressed, in order (invalid ones too)
    done: bool = False


@dataclass(frozen=True)
class SurveyDone:
    outcome: SurveyOutcome
    score: int | None = None
    keys: str = ""


SurveyAction = Ask | SurveyDone


def begin(policy: SurveyPolicy, language: str) -> tuple[SurveyState, Ask]:
    """The first question."""
    return SurveyState(language), _ask(policy, language, PROMPT_ASK)


def step(
    policy: SurveyPolicy, state: SurveyState, key: str | None
) -> tuple[SurveyState, SurveyAction]:
    """One key (or None: the wait timed out) against the running survey."""
    if state.done:
        raise ValueError("step() on a finished survey")
    keys = state.keys + (key or "")
    if key:
        score = policy.score_of(key)
        if score is not None:
            return _end(state, keys), SurveyDone(SurveyOutcome.SCORED, score, keys)
        if policy.not_resolved_key and key == policy.not_resolved_key:
            return _end(state, keys), SurveyDone(SurveyOutcome.NOT_RESOLVED, None, keys)
    used = state.attempts_used + 1
    if used >= policy.attempts:
        return _end(state, keys), SurveyDone(SurveyOutcome.NO_ANSWER, None, keys)
    again = replace(state, attempts_used=used, keys=keys)
    first = PROMPT_INVALID if key else PROMPT_TIMEOUT
    return again, _ask(policy, state.language, first, PROMPT_ASK)


def left(state: SurveyState) -> SurveyDone:
    """The caller hung up before the survey ended."""
    return SurveyDone(SurveyOutcome.LEFT, None, state.keys)


def _end(state: SurveyState, keys: str) -> SurveyState:
    return replace(state, keys=keys, done=True)


def _ask(policy: SurveyPolicy, language: str, *prompts: str) -> Ask:
    return Ask(prompts, language, policy.timeout_seconds)


@dataclass(frozen=True)
class SurveyResult:
    """One call's survey, as stored (at most one per call)."""

    call_uid: str
    branch: str
    seat: str
    agent_id: str
    language: str
    outcome: SurveyOutcome
    score: int | None
    keys: str
    started_at: datetime
    ended_at: datetime
    scale_high: int
    case_uid: str | None = None  # the case the call is about, once cases exist


@dataclass(frozen=True)
class SatisfactionTally:
    """Survey figures of a group of calls."""

    offered: int = 0
    scored: int = 0
    satisfied: int = 0
    not_resolved: int = 0
    left: int = 0
    no_answer: int = 0
    score_sum: int = 0

    @property
    def average(self) -> float | None:
        return self.score_sum / self.scored if self.scored else None

    @property
    def rate(self) -> float | None:
        """Satisfied ÷ scored (None when nobody scored)."""
        return self.satisfied / self.scored if self.scored else None


def tally(
    results: Iterable[tuple[SurveyOutcome, int | None]], policy: SurveyPolicy
) -> SatisfactionTally:
    """Count outcomes and scores.

    >>> t = tally([(SurveyOutcome.SCORED, 5), (SurveyOutcome.SCORED, 2),
    ...            (SurveyOutcome.LEFT, None)], SurveyPolicy())
    >>> t.offered, t.scored, t.satisfied, t.average, t.rate
    (3, 2, 1, 3.5, 0.5)
    """
    return tally_counts(((o, s, 1) for o, s in results), policy)


def tally_counts(
    groups: Iterable[tuple[SurveyOutcome, int | None, int]], policy: SurveyPolicy
) -> SatisfactionTally:
    """`tally` over (outcome, score, how many) groups, as a GROUP BY returns them."""
    offered = scored = satisfied = not_resolved = gone = no_answer = total = 0
    for outcome, score, n in groups:
        offered += n
        if outcome is SurveyOutcome.SCORED and score is not None:
            scored += n
            total += score * n
            satisfied += n if policy.satisfied(score) else 0
        elif outcome is SurveyOutcome.NOT_RESOLVED:
            not_resolved += n
        elif outcome is SurveyOutcome.LEFT:
            gone += n
        elif outcome is SurveyOutcome.NO_ANSWER:
            no_answer += n
    return SatisfactionTally(offered, scored, satisfied, not_resolved, gone, no_answer, total)
