"""The satisfaction survey after an answered call, channel-independent.

The channel adapter (FastAGI) runs the loop and only moves prompts and keys:

    session = surveys.start(uid, branch, seat, language)   # None: no survey here
    action = session.begin()
    while isinstance(action, Ask):
        action = session.on_input(await channel.ask(action))   # a digit, or None
    # on a hang-up: session.left()

The call's own record ends when the seat hung up (a `CallEnded` at the survey's
start: the earliest end wins), so talk time never counts the survey; the survey
is a row of its own, at most one per call. "Not resolved" goes to the
`NotResolved` port (the composition root wires it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from ivr.app.ports import CallLog, Clock
from ivr.domain.calllog import CallEnded
from ivr.domain.menu import Ask
from ivr.domain.survey import (
    SurveyAction,
    SurveyDone,
    SurveyOutcome,
    SurveyPolicy,
    SurveyResult,
    SurveyState,
    begin,
    left,
    step,
)
from ivr.domain.text import logged

log = logging.getLogger(__name__)


class SurveyStore(Protocol):
    def record(self, result: SurveyResult) -> bool: ...


class NotResolved(Protocol):
    """The caller keyed "not resolved": reopen or escalate what the call was about."""

    def __call__(self, call_uid: str) -> None: ...


@dataclass(frozen=True)
class Surveys:
    """What every survey needs; built once by the composition root."""

    policy: SurveyPolicy
    store: SurveyStore
    not_resolved: NotResolved
    call_log: CallLog
    clock: Clock
    agent_of: Callable[[str], str]  # seat -> agent id ("" when unknown)
    # call uid -> the number of the case the call is about (None: no case, or
    # unknown); a failure reads as None, never ending the survey.
    case_of: Callable[[str], str | None] = lambda uid: None

    def start(self, uid: str, branch: str, seat: str, language: str) -> SurveySession | None:
        """A survey for this answered call, or None when its branch has none (or the
        call, its branch or its seat is unknown: a blank uid is no call's, and its
        CallEnded would make a record of one)."""
        if not (uid.strip() and branch and seat) or not self.policy.applies_to(branch):
            return None
        return SurveySession(self, uid, branch, seat, language)


@dataclass
class SurveySession:
    surveys: Surveys
    uid: str
    branch: str
    seat: str
    language: str
    state: SurveyState | None = None
    started_at: datetime | None = None
    result: SurveyResult | None = field(default=None)

    def begin(self) -> Ask:
        s = self.surveys
        self.started_at = s.clock()
        # The conversation ended when the seat hung up: that is the call's end.
        s.call_log.record(CallEnded(self.uid, self.started_at))
        self.state, ask = begin(s.policy, self.language)
        return ask

    def on_input(self, digit: str | None) -> SurveyAction:
        if self.state is None or self.state.done:
            raise RuntimeError("on_input() outside of a running survey")
        self.state, action = step(self.surveys.policy, self.state, digit)
        if isinstance(action, SurveyDone):
            self._finish(action)
        return action

    def left(self) -> SurveyResult | None:
        """The caller hung up during the survey (nothing is recorded if it never began)."""
        if self.state is None or self.state.done:
            return self.result
        done = left(self.state)
        self.state = replace(self.state, done=True)
        return self._finish(done)

    def _finish(self, done: SurveyDone) -> SurveyResult:
        s = self.surveys
        assert self.started_at is not None
        result = SurveyResult(
            call_uid=self.uid,
            branch=self.branch,
            seat=self.seat,
            agent_id=s.agent_of(self.seat),
            language=self.language,
            outcome=done.outcome,
            score=done.score,
            keys=done.keys,
            started_at=self.started_at,
            ended_at=s.clock(),
            scale_high=s.policy.high,
            case_uid=_case_of(s, self.uid),
        )
        self.result = result
        if not s.store.record(result):
            log.warning("call %s: already surveyed; this survey is not kept", logged(self.uid))
            return result
        if done.outcome is SurveyOutcome.NOT_RESOLVED:
            s.not_resolved(self.uid)
        return result


def _case_of(s: Surveys, uid: str) -> str | None:
    try:
        return s.case_of(uid)
    except Exception:  # the score is kept without its case
        log.exception("call %s: the case of the call could not be read", logged(uid))
        return None
