"""The Twilio webhooks over the same `IvrSession` the FastAGI server runs.

`/twilio/voice` begins the session, `/twilio/gather` feeds it one key (or a
recognised phrase, or a timeout), and once the menu is left the router's
`Decision` becomes TwiML: `<Dial><Sip>` to the seat or the queue, `<Dial><Number>`
for an E.164 target, `<Record>` for voicemail, or a callback request in the
ledger. `/twilio/dial` (the Dial's action) records the answer, or moves on as
the dialplan does (a seat that does not answer -> its queue -> overflow), and
`/twilio/status` ends the record. Every event goes into the same call log, keyed
by the CallSid, source `twilio`: one record per call whatever the order.

The web blueprint (web/twilio.py) has checked the signature and the form fields.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr import phone
from ivr.adapters.twilio import twiml
from ivr.adapters.twilio.state import CallState, StateError, StateSigner
from ivr.app.callbacks import CallbackRefusedError, CallbackRequests
from ivr.app.ivr_session import CallerInfo, IvrDeps, IvrSession, overflow_decision
from ivr.config.twilio import SIP_QUEUE_PREFIX, TwilioSettings
from ivr.domain.callbacks import callback_number
from ivr.domain.calllog import (
    SOURCE_TWILIO,
    SOURCE_TWILIO_STATUS,
    CallAnswered,
    CallEnded,
    CallStarted,
)
from ivr.domain.menu import Action, Ask, FlowState
from ivr.domain.routing import OPERATOR_BRANCH, Decision, RouteKind

log = logging.getLogger(__name__)

SOURCE: Final = SOURCE_TWILIO
NO_MATCH: Final = "?"  # what a phrase that matches no option counts as: an invalid key
FINAL_STATUSES: Final = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
CALL_STATUSES: Final = FINAL_STATUSES | {"queued", "initiated", "ringing", "in-progress"}
DIAL_STATUSES: Final = frozenset(
    {"completed", "answered", "busy", "no-answer", "failed", "canceled"}
)
ANSWERED: Final = frozenset({"completed", "answered"})
CONFIRM_SECONDS: Final = 6  # between keys of the callback number, as the dialplan's Read
QUEUE_PREFIX: Final = SIP_QUEUE_PREFIX


class CallReader(Protocol):
    """What the webhooks read back from the call log (SqlCallLog)."""

    def get_call(self, uid: str) -> _CallView | None: ...


class _CallView(Protocol):
    @property
    def answered_at(self) -> datetime | None: ...
    @property
    def steps(self) -> tuple[_StepView, ...]: ...


class _StepView(Protocol):
    @property
    def seq(self) -> int: ...


@dataclass(frozen=True)
class StatusReport:
    """A status callback, its fields checked by the blueprint."""

    uid: str
    caller: str
    dialed: str
    status: str
    at: datetime  # when Twilio says it happened (or when we heard of it)
    duration_seconds: int = 0


@dataclass
class TwilioVoice:
    deps: IvrDeps
    settings: TwilioSettings
    prompts: Mapping[str, Mapping[str, str]]
    signer: StateSigner
    calls: CallReader
    intake: CallbackRequests | None = None
    seat_agents: Mapping[str, str] | None = None  # seat -> agent id
    region: str | None = None  # site.region: the country of numbers keyed without '+'

    # --- the webhooks -----------------------------------------------------------------

    def voice(self, uid: str, caller: str, dialed: str) -> str:
        session = IvrSession(self.deps, CallerInfo(uid, caller, "", dialed, "", SOURCE))
        return self._next(session, session.begin())

    def gather(self, token: str, uid: str, digits: str, speech: str) -> str:
        st = self.signer.load(token, uid)
        if st.phase != "menu":
            raise StateError("not a menu state")
        call = self.calls.get_call(uid)
        last = max((s.seq for s in call.steps), default=0) if call is not None else -1
        if last != st.seq:  # an older step's state, used again
            raise StateError(f"state of step {st.seq} replayed (the call is at step {last})")
        try:  # every field of the domain's FlowState, whatever it grows (timeouts...)
            flow = FlowState(**st.flow)
            self.deps.menu.node(flow.node)
        except (TypeError, KeyError) as e:
            raise StateError(f"a menu state of an unknown form: {type(e).__name__}") from None
        session = IvrSession(
            self.deps,
            CallerInfo(uid, st.caller, "", st.dialed, "", SOURCE),
            state=flow,
            seq=st.seq,
            trace=list(st.trace),
            started_at=datetime.fromtimestamp(st.started, UTC),
        )
        key: str | None = digits or None
        if not key and speech:
            node = self.deps.menu.node(flow.node)
            key = node.key_for_speech(flow.language, speech) or NO_MATCH
        return self._next(session, session.on_input(key))

    def dial(self, token: str, uid: str, status: str, duration_seconds: int) -> str:
        """The Dial's action: answered -> recorded; else the queue, then overflow."""
        st = self.signer.load(token, uid)
        if st.phase not in ("seat", "queue"):
            raise StateError("not a dial state")
        call = self.calls.get_call(uid)
        if call is None or call.answered_at is not None:
            raise StateError("the call is unknown or already answered: state replayed")
        now = self.deps.clock()
        if status in ANSWERED:
            seat = st.target if st.phase == "seat" else f"{QUEUE_PREFIX}{st.queue}"
            agent = (self.seat_agents or {}).get(st.target, "") if st.phase == "seat" else ""
            # The seat answered DialCallDuration s ago; one longer than the call so far is
            # recorded at the routing, not before (the call log keeps a call's times in order).
            at = now - timedelta(seconds=duration_seconds)
            self.deps.log.record(CallAnswered(uid, at, seat, agent))
            return twiml.say_and_hang_up(self._spoken(st.language, ()))
        if st.phase == "seat" and st.queue:
            queue = replace(st, phase="queue")
            return self._dial(queue, self._queue_uri(st.queue), ("connecting",), st.max_wait)
        why = f"queue {st.queue or st.branch}: {status}"
        decision = overflow_decision(
            self.deps, uid, st.caller, st.branch or OPERATOR_BRANCH, why, st.language
        )
        return self._route(st, decision)

    def status(self, report: StatusReport) -> None:
        """A final status ends the record, and starts it should the voice webhook be lost
        (a weak start: the voice webhook's replaces it in either order). Its Timestamp may
        be up to a day off our clock (web/twilio.py): the call log never ends a call before
        the start, routing or answer it holds."""
        if report.status not in FINAL_STATUSES:
            return
        began = report.at - timedelta(seconds=report.duration_seconds)
        self.deps.log.record(
            CallStarted(
                report.uid, began, report.caller, "", report.dialed, "", SOURCE_TWILIO_STATUS
            )
        )
        self.deps.log.record(CallEnded(report.uid, report.at, report.status))

    def callback(self, token: str, uid: str, digits: str) -> str:
        """The number to call back: this one (1 or nothing) or the one keyed; the request
        in the ledger and when it will come; a number refused: voicemail."""
        st = self.signer.load(token, uid)
        if st.phase != "callback":
            raise StateError("not a callback state")
        keyed = st.target if digits in ("", "1") else digits
        try:
            number = callback_number(phone.canonical(keyed, self.region) if self.region else keyed)
        except ValueError as e:  # logged without the number
            reason = e.reason if isinstance(e, phone.NumberError) else str(e)
            log.warning("call %s: callback number refused (%s): voicemail", uid, reason)
            return self._voicemail(st)
        return self._callback(st, number) or self._voicemail(st)

    def end(self, token: str, uid: str) -> str:
        """After the voicemail: goodbye."""
        st = self.signer.load(token, uid)
        return twiml.say_and_hang_up(self._spoken(st.language, ("goodbye",)))

    def goodbye(self) -> str:
        return twiml.say_and_hang_up(self._spoken(self.deps.default_language, ("goodbye",)))

    def fallback(self, language: str = "") -> str:
        """TwiML for a webhook that failed on our side: the operator, then voicemail."""
        lang = language or self.deps.default_language
        return twiml.fallback(
            self._spoken(lang, ("connecting",)),
            self._queue_uri(OPERATOR_BRANCH),
            f"{self.settings.base_url}/twilio/goodbye",
            self.deps.policy.ring_seconds,
        )

    # --- from the session to TwiML -------------------------------------------------------

    def _next(self, session: IvrSession, action: Action) -> str:
        if isinstance(action, Ask):
            assert session.state is not None
            st = CallState(
                uid=session.caller.uid,
                caller=session.caller.number,
                dialed=session.caller.dialed,
                language=action.language,
                flow=asdict(session.state),
                seq=session.seq,
                started=(session.started_at or self.deps.clock()).timestamp(),
                trace=tuple(session.trace),
            )
            node = self.deps.menu.node(session.state.node)
            return twiml.gather(
                self._spoken(action.language, action.prompts),
                self.settings.speech_tag(action.language),
                self._url("gather", st),
                action.timeout_seconds,
                node.hints(action.language),
            )
        decision = session.decide()
        st = CallState(
            uid=session.caller.uid,
            caller=session.caller.number,
            dialed=session.caller.dialed,
            language=session.language,
            phase="end",
            started=(session.started_at or self.deps.clock()).timestamp(),
        )
        return self._route(st, decision)

    def _route(self, st: CallState, decision: Decision) -> str:
        kind, target = decision.route.kind, decision.route.target
        st = replace(
            st,
            branch=decision.branch,
            queue=decision.queue,
            max_wait=decision.max_wait_seconds,
        )
        if kind is RouteKind.SEAT and not target:
            kind, target = RouteKind.QUEUE, decision.queue  # as the dialplan: no seat, queue
        if kind is RouteKind.EXTERNAL:  # "<E.164>@<trunk>": Twilio dials the number itself
            return self._external(st, target.partition("@")[0], decision.ring_seconds)
        if kind is RouteKind.SEAT:
            name = target.rpartition("/")[2]  # "PJSIP/seat2": the dialplan's form
            uri = name if name.startswith(twiml.E164_PREFIX) else self._sip(name)
            seat = replace(st, phase="seat", target=name)
            return self._dial(seat, uri, ("connecting",), decision.ring_seconds)
        if kind in (RouteKind.QUEUE, RouteKind.EMERGENCY, RouteKind.ROTA):
            prompt = "emergency" if kind is RouteKind.EMERGENCY else "connecting"
            queue = replace(st, phase="queue", queue=decision.queue or target)
            uri = self._queue_uri(queue.queue)
            return self._dial(queue, uri, (prompt,), decision.max_wait_seconds)
        if kind is RouteKind.CALLBACK and self.intake is not None and target:
            # As the dialplan: 1 (or nothing) for this number, or another one keyed with #.
            return twiml.gather_number(
                self._spoken(st.language, ("callback_offer", "callback_confirm")),
                self._url("callback", replace(st, phase="callback", target=target)),
                CONFIRM_SECONDS,
            )
        if kind in (RouteKind.CALLBACK, RouteKind.VOICEMAIL):
            return self._voicemail(st)
        return twiml.say_and_hang_up(self._spoken(st.language, ("goodbye",)))

    def _external(self, st: CallState, number: str, ring_seconds: int) -> str:
        """An outside number, as the dialplan's external context: not answered, the
        overflow (never the branch's queue, which the rule routed away from); a number
        Twilio will not call (`refuse_prefixes`) goes there at once."""
        refused = self.settings.refusal(number)
        if refused is None:
            outside = replace(st, phase="seat", target=number, queue="")
            return self._dial(outside, number, ("connecting",), ring_seconds)
        log.warning("call %s: external number refused (%s): the overflow", st.uid, refused)
        decision = overflow_decision(
            self.deps, st.uid, st.caller, st.branch or OPERATOR_BRANCH,
            f"external number not dialled: {refused}", st.language,
        )  # fmt: skip
        return self._route(st, decision)

    def _voicemail(self, st: CallState) -> str:
        return twiml.record(
            self._spoken(st.language, ("voicemail",)),
            self._url("end", replace(st, phase="end")),
            self.settings.record_seconds,
        )

    def _dial(self, st: CallState, uri: str, prompts: tuple[str, ...], timeout: int) -> str:
        return twiml.dial(
            self._spoken(st.language, prompts),
            uri,
            self._url("dial", st),
            timeout,
            self.settings.numbers[0],
        )

    def _callback(self, st: CallState, number: str) -> str | None:
        """The request in the ledger and when it will come; None: refused (voicemail)."""
        if self.intake is None:
            return None
        arrived = datetime.fromtimestamp(st.started, UTC) if st.started else self.deps.clock()
        source = "ivr" if st.branch in ("", "menu", OPERATOR_BRANCH) else "overflow"
        try:
            promise = self.intake.request_from_ivr(
                number, st.language, st.branch or "menu", arrived, None, st.uid, source
            )
        except (CallbackRefusedError, ValueError) as e:
            log.warning("call %s: callback refused (%s): voicemail", st.uid, type(e).__name__)
            return None
        try:
            zone = ZoneInfo(promise.tz)  # the customer's time, as the dialplan says it
        except (ZoneInfoNotFoundError, ValueError):
            zone = self.deps.roster.calendar.tz
        when = promise.due_at.astimezone(zone).strftime("%m-%d %H:%M")
        offer, at, bye = self._spoken(
            st.language, ("callback_offer", "callback_at", "goodbye")
        ).texts
        tag = self.settings.say_tag(st.language)
        return twiml.say_and_hang_up(twiml.Spoken((offer, f"{at} {when}", bye), tag))

    # --- small helpers -----------------------------------------------------------------

    def _url(self, hook: str, st: CallState) -> str:
        return f"{self.settings.base_url}/twilio/{hook}?s={self.signer.dump(st)}"

    def _sip(self, user: str) -> str:
        return f"sip:{user}@{self.settings.sip_domain}"

    def _queue_uri(self, queue: str) -> str:
        return self._sip(f"{QUEUE_PREFIX}{queue}")

    def _spoken(self, language: str, names: tuple[str, ...]) -> twiml.Spoken:
        texts = []
        for name in names:
            by_lang = self.prompts.get(name, {})
            texts.append(by_lang.get(language) or by_lang.get(self.deps.default_language, ""))
        return twiml.Spoken(tuple(texts), self.settings.say_tag(language))
