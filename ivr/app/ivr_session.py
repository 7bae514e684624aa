"""One caller's walk through the IVR, channel-independent.

The channel adapter (FastAGI, process-per-call AGI, `hotline simulate`, later
Twilio) runs this loop and only moves prompts and keys:

    action = session.begin()
    while isinstance(action, Ask):
        action = session.on_input(await channel.ask(action))   # a digit, or None
    decision = session.decide()

Everything that happens is recorded as call-log events; the routing decision
comes from the pure domain with its trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ivr.app.ports import CallerHistory, CallLog, CaseOwners, Clock, PresenceSource
from ivr.domain.calllog import CallEnded, CallStarted, MenuStep, Outcome, Routed
from ivr.domain.menu import (
    INPUT_SPEECH,
    Action,
    FlowState,
    Key,
    Leave,
    Menu,
    MenuNode,
    StepRecord,
    TargetKind,
    Timeout,
    start,
    step,
)
from ivr.domain.routing import (
    OPERATOR_BRANCH,
    CallContext,
    Decision,
    RouteKind,
    RoutingPolicy,
    callback_not_taken,
    caller_choice,
    decide,
    has_number,
    normalise_number,
    overflow,
)
from ivr.domain.shifts import Roster
from ivr.domain.speech import understand


@dataclass(frozen=True)
class IvrDeps:
    """What every session needs; built once by the composition root."""

    menu: Menu
    roster: Roster
    policy: RoutingPolicy
    default_language: str
    log: CallLog
    history: CallerHistory
    presence: PresenceSource
    clock: Clock
    cases: CaseOwners | None = None  # the caller's open case and its owner (first contact)
    # Speech input: a recognition below this confidence is an invalid attempt.
    speech_min_confidence: float = 0.6


@dataclass(frozen=True)
class CallerInfo:
    uid: str
    number: str
    name: str = ""
    dialed: str = ""
    channel: str = ""
    source: str = "fastagi"


@dataclass
class IvrSession:
    deps: IvrDeps
    caller: CallerInfo
    state: FlowState | None = None
    leave: Leave | None = None
    seq: int = 0
    trace: list[str] = field(default_factory=list)
    started_at: datetime | None = None

    def begin(self) -> Action:
        d, c = self.deps, self.caller
        self.started_at = d.clock()
        d.log.record(
            CallStarted(c.uid, self.started_at, c.number, c.name, c.dialed, c.channel, c.source)
        )
        self.state, action, record = start(d.menu, d.default_language)
        return self._after(action, record)

    def on_input(self, digit: str | None) -> Action:
        """A key the caller pressed, or None when the wait timed out."""
        if self.state is None or self.state.done:
            raise RuntimeError("on_input() outside of a running menu")
        event = Key(digit) if digit else Timeout()
        self.state, action, record = step(self.deps.menu, self.state, event)
        return self._after(action, record)

    def on_speech(self, phrase: str, confidence: float) -> Action:
        """What the recogniser heard at the current node (instead of a key)."""
        if self.state is None or self.state.done:
            raise RuntimeError("on_speech() outside of a running menu")
        node = self.deps.menu.node(self.state.node)
        floor = self.deps.speech_min_confidence
        event = understand(node, self.state.language, phrase, confidence, floor)
        self.state, action, record = step(self.deps.menu, self.state, event)
        return self._after(action, record)

    @property
    def node(self) -> MenuNode | None:
        """The node the caller is at (None before begin() or after the menu)."""
        if self.state is None or self.state.done:
            return None
        return self.deps.menu.node(self.state.node)

    def _after(self, action: Action, record: StepRecord) -> Action:
        self.seq += 1
        self.deps.log.record(
            MenuStep(
                self.caller.uid,
                self.seq,
                self.deps.clock(),
                record.node,
                record.event,
                record.key,
                record.detail,
                record.input,
                record.phrase,
                record.confidence,
            )
        )
        what = f"key {record.key}" if record.event == "key" else record.event
        if record.input == INPUT_SPEECH:
            what += f" (speech {record.phrase!r} {record.confidence})"
        if record.key and record.event != "key":
            what += f" {record.key}"
        detail = f" -> {record.detail}" if record.detail else ""
        self.trace.append(f"menu {record.node}: {what}{detail}")
        if isinstance(action, Leave):
            self.leave = action
        return action

    @property
    def language(self) -> str:
        return self.state.language if self.state else self.deps.default_language

    def decide(self) -> Decision:
        """Where the call goes now that the menu is done; recorded with its trace."""
        if self.leave is None:
            raise RuntimeError("decide() before the caller left the menu")
        d, at = self.deps, self.deps.clock()
        decision = self._decision(at)
        d.log.record(routed(self.caller.uid, at, decision, self.language, tuple(self.trace)))
        return decision

    def _decision(self, at: datetime) -> Decision:
        assert self.leave is not None
        d, target = self.deps, self.leave.target
        if target.kind in (TargetKind.ROUTE, TargetKind.OPERATOR):
            branch = target.arg if target.kind is TargetKind.ROUTE else OPERATOR_BRANCH
            previous = self._case_owner() or self._previous_agent(at)
            ctx = CallContext(self.caller.number, branch, previous, self.language)
            return decide(ctx, at, d.roster, d.policy, d.presence.snapshot())
        kind = {
            TargetKind.CALLBACK: RouteKind.CALLBACK,
            TargetKind.VOICEMAIL: RouteKind.VOICEMAIL,
        }.get(target.kind, RouteKind.HANGUP)
        return caller_choice(kind, self.caller.number, d.policy, f"caller chose {target}")

    def _previous_agent(self, at: datetime) -> str | None:
        """Who answered this caller within the repeat window. A caller without a
        number (withheld: "", "anonymous", "Restricted"...) is nobody's repeat
        caller: looked up, every such call would be one caller's."""
        if not has_number(self.caller.number):
            return None
        since = at - self.deps.policy.repeat_within
        return self.deps.history.previous_agent(normalise_number(self.caller.number), since)

    def _case_owner(self) -> str | None:
        """The owner of the caller's open case: first-contact ownership by matter, ahead
        of the agent of the last call. Traced either way."""
        if self.deps.cases is None or not self.caller.number:
            return None
        case = self.deps.cases.active_for(self.caller.number)
        if case is None or not case.owner:
            return None
        self.trace.append(f"open case {case.case_no}: owner {case.owner} (first contact)")
        return case.owner

    def hung_up(self) -> None:
        """The caller hung up before leaving the menu."""
        if self.leave is None:
            self.deps.log.record(
                CallEnded(
                    self.caller.uid,
                    self.deps.clock(),
                    "caller hung up in menu",
                    Outcome.ABANDONED_IN_MENU,
                )
            )


def overflow_decision(
    deps: IvrDeps, uid: str, caller: str, branch: str, why: str, language: str
) -> Decision:
    """The caller left the queue without an answer: callback or voicemail, recorded."""
    at = deps.clock()
    decision = overflow(branch or OPERATOR_BRANCH, caller, deps.policy, why)
    deps.log.record(routed(uid, at, decision, language))
    return decision


def callback_not_taken_decision(
    deps: IvrDeps, uid: str, caller: str, branch: str, why: str, language: str
) -> Decision:
    """The callback offered was not taken (see `callback_not_taken`): voicemail, recorded,
    so that the call's record says where the caller went, not what was offered."""
    decision = callback_not_taken(branch or OPERATOR_BRANCH, caller, deps.policy, why)
    deps.log.record(routed(uid, deps.clock(), decision, language))
    return decision


def routed(
    uid: str, at: datetime, decision: Decision, language: str, before: tuple[str, ...] = ()
) -> Routed:
    """The call-log event of a routing decision; `before` is the menu's trace."""
    return Routed(
        uid,
        at,
        decision.branch,
        decision.route.kind.value,
        decision.route.target,
        decision.priority,
        decision.vip,
        language,
        before + decision.trace,
    )
