"""The FastAGI entry points. Each is one small function over the channel.

"AGI as oracle": the handlers run the menu, decide, and set channel variables;
the dialplan does the dialling (config/asterisk/extensions.conf).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ivr import phone
from ivr.adapters.asterisk import names
from ivr.adapters.asterisk.agi import AgiError, AgiHangup, caller_name, command
from ivr.adapters.asterisk.ami import seat_of, twilio_leg
from ivr.adapters.asterisk.fastagi import AgiChannel, RouteTable
from ivr.adapters.speech.client import SpeechInput, invalid_digit
from ivr.adapters.threads import WorkThreads
from ivr.app.callbacks import CallbackRefusedError, CallbackRequests
from ivr.app.cases import AfterHoursCases
from ivr.app.ivr_session import (
    CallerInfo,
    IvrDeps,
    IvrSession,
    callback_not_taken_decision,
    overflow_decision,
)
from ivr.app.survey import Surveys
from ivr.domain.callbacks import callback_number
from ivr.domain.cases import digit_prompts
from ivr.domain.menu import Action, Ask
from ivr.domain.routing import OPERATOR_BRANCH, Decision
from ivr.domain.speech import grammar, understand
from ivr.domain.survey import SurveyDone
from ivr.domain.text import logged

log = logging.getLogger(__name__)
LatencySink = Callable[[float], None]
STRAY_KEY_MS = 500  # a spoken key injected as the caller's own key won: wait it out

# The forms of the channel variables the handlers read back. Our own dialplan and
# handlers set them, but a value that does not fit is ignored, never used.
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}")  # zh-CN, en
NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")  # branch / queue names
UNIQUEID = re.compile(r"[A-Za-z0-9._-]{1,80}")  # 1732330800.2
STATUS = re.compile(r"[A-Z]{1,20}")  # QUEUESTATUS, DIALSTATUS
EPOCH = re.compile(r"[0-9]{1,11}")  # HOTLINE_ARRIVED: seconds, before year 5000
EXTERNAL = re.compile(r"\+?[0-9]{3,20}@[A-Za-z0-9_.-]{1,64}")  # the outside leg dialled
SEAT_CHANNEL = re.compile(r"PJSIP/[A-Za-z0-9_-]{1,40}(?:-[0-9a-f]{8})?")  # the answering seat


def prompt_paths(action: Ask) -> list[str]:
    """Sound file paths (no extension) for an Ask, in the caller's language."""
    return [f"{names.SOUNDS_SUBDIR}/{action.language}/{p}" for p in action.prompts]


def caller_from_env(env: dict[str, str], source: str, region: str | None = None) -> CallerInfo:
    """Who is calling. The number is E.164 when it parses (national forms in `region`),
    else the caller ID as Asterisk gave it: an odd caller ID never refuses service. On a
    leg Twilio sent (its endpoint or its context), a withheld caller ID Twilio spelt in
    digits is its word, as on Twilio's webhooks."""
    number = env.get("agi_callerid", "")
    if twilio_leg(env.get("agi_channel", ""), env.get("agi_context", "")):
        number = phone.twilio_caller(number)
    return CallerInfo(
        uid=env.get("agi_uniqueid", ""),
        number="" if number == "unknown" else phone.caller_key(number, region),
        name=caller_name(env.get("agi_calleridname", "")),
        dialed=env.get("agi_extension", ""),
        channel=env.get("agi_channel", ""),
        source=source,
    )


def route_variables(
    decision: Decision, language: str, arrived: datetime | None = None
) -> list[tuple[str, str]]:
    """The channel variables that tell the dialplan where the call goes."""
    arrival = [(names.VAR_ARRIVED, str(int(arrived.timestamp())))] if arrived else []
    return arrival + [
        (names.VAR_ROUTE_TARGET, decision.route.target),
        (names.VAR_QUEUE, decision.queue),
        (names.VAR_PRIORITY, str(decision.priority)),
        (names.VAR_MAX_WAIT, str(decision.max_wait_seconds)),
        (names.VAR_RING_SECONDS, str(decision.ring_seconds)),
        (names.VAR_OVERFLOW, decision.overflow.value),
        (names.VAR_LANGUAGE, language),
        # Last: the dialplan treats an empty kind as "go to the fallback".
        (names.VAR_ROUTE_KIND, decision.route.kind.value),
    ]


@dataclass
class Handlers:
    deps: IvrDeps
    on_decision_latency: LatencySink | None = None
    source: str = "fastagi"
    callbacks: CallbackRequests | None = None
    region: str | None = None  # site.region: the country of caller IDs without '+'
    surveys: Surveys | None = None
    cases: AfterHoursCases | None = None
    speech: SpeechInput | None = None  # spoken options (None: keys only)
    # Where the blocking work (the database) runs: the service's, which its stop()
    # waits for (not started: the loop's default pool).
    threads: WorkThreads = field(default_factory=WorkThreads)

    def routes(self) -> RouteTable:
        table = RouteTable()
        table.add(names.ROUTE_HOTLINE, self.hotline)
        table.add(names.ROUTE_OVERFLOW, self.overflow)
        table.add(names.ROUTE_CALLBACK, self.callback)
        table.add(names.ROUTE_SURVEY, self.survey)
        return table

    async def hotline(self, agi: AgiChannel) -> None:
        caller = caller_from_env(agi.env, self.source, self.region)
        if not caller.uid.strip():
            # Every record is keyed by the uniqueid: without one, the menu's events would
            # join other such calls' record. The fallback context records this call.
            raise AgiError("no agi_uniqueid in the AGI environment")
        session = IvrSession(self.deps, caller)
        action = session.begin()
        try:
            while isinstance(action, Ask):
                action = await self._step(agi, session, action)
        except AgiHangup:
            session.hung_up()
            raise
        started = time.perf_counter()
        decision = session.decide()
        await agi.set_variables(
            [
                (names.VAR_CALL_ID, session.caller.uid),
                *route_variables(decision, session.language, session.started_at),
            ]
        )
        if self.on_decision_latency is not None:
            self.on_decision_latency(time.perf_counter() - started)

    async def _step(self, agi: AgiChannel, session: IvrSession, action: Ask) -> Action:
        """One menu step: the prompt and a key, as always; with speech on for the
        language, the recogniser listens meanwhile and whichever comes first wins
        (ivr/adapters/speech/client.py). Nothing here waits on the recogniser."""
        timeout_ms = int(action.timeout_seconds * 1000)
        asked = agi.ask(prompt_paths(action), timeout_ms)
        node, speech, caller = session.node, self.speech, session.caller
        phrases = grammar(node, action.language) if speech is not None and node is not None else ()
        if speech is None or not phrases or not speech.speaks(action.language):
            return session.on_input(await asked)  # keys only: nothing to run beside the prompt
        keyed = asyncio.ensure_future(asked)
        try:
            window = await speech.open(caller.uid, caller.channel, action.language, phrases)
            if window is None or node is None:
                return session.on_input(await keyed)
            try:
                await asyncio.wait({keyed, window.result}, return_when=asyncio.FIRST_COMPLETED)
                heard = None if keyed.done() else window.result.result()
            finally:
                window.close()
            if heard is not None:
                floor = session.deps.speech_min_confidence
                said = understand(node, action.language, heard.phrase, heard.confidence, floor)
                digit = said.key or invalid_digit(action.keys)
                if digit and await speech.inject(caller.uid, caller.channel, digit):
                    got = await keyed
                    if got == digit:
                        return session.on_speech(heard.phrase, heard.confidence)
                    # The caller's key came first: the spoken key is on its way
                    # too; take it off the line before the next prompt.
                    await agi.send(command("WAIT FOR DIGIT", STRAY_KEY_MS))
                    return session.on_input(got)
            return session.on_input(await keyed)
        finally:
            if not keyed.done():
                keyed.cancel()

    async def overflow(self, agi: AgiChannel) -> None:
        caller = caller_from_env(agi.env, self.source, self.region)
        branch = await read_checked(agi, names.VAR_QUEUE, NAME)
        language = await self._language(agi)
        status = await read_checked(agi, "QUEUESTATUS", STATUS) or await read_checked(
            agi, "DIALSTATUS", STATUS
        )
        uid = await read_checked(agi, names.VAR_CALL_ID, UNIQUEID) or caller.uid
        if not uid.strip():  # as in hotline(): its Routed would join other such calls'
            raise AgiError("no call id (HOTLINE_CALL_ID, agi_uniqueid): the preset overflow")
        external = await read_checked(agi, names.VAR_EXTERNAL, EXTERNAL)
        leg = f"external {external}" if external else f"queue {branch}"
        decision = overflow_decision(
            self.deps,
            uid,
            caller.number,
            branch,
            f"{leg}: {status or 'no answer'}",
            language,
        )
        await agi.set_variables(route_variables(decision, language))

    async def callback(self, agi: AgiChannel) -> None:
        """Put the caller's callback in the ledger and tell the dialplan when it is due.

        The callback number is the one the caller confirmed or keyed
        (HOTLINE_CALLBACK_NUMBER), else the calling number. The request keeps the
        call's arrival time, so it never jumps ahead of callers still waiting. A
        refused number (do-not-call, or not a number: see `callback_number`) or no
        ledger leaves HOTLINE_CALLBACK_AT empty: the dialplan then offers voicemail, and
        the call's record says voicemail (not the callback it was offered).
        """
        caller = caller_from_env(agi.env, self.source, self.region)
        keyed = await agi.get_variable(names.VAR_CALLBACK_NUMBER) or caller.number
        language = await self._language(agi)
        branch = await read_checked(agi, names.VAR_QUEUE, NAME) or "menu"
        uid = await read_checked(agi, names.VAR_CALL_ID, UNIQUEID) or caller.uid
        arrived = await read_checked(agi, names.VAR_ARRIVED, EPOCH)
        now = self.deps.clock()
        at = min(datetime.fromtimestamp(int(arrived), UTC), now) if arrived else now

        async def voicemail(why: str) -> None:
            """No promise: the dialplan goes on to voicemail, and the record says so."""
            if uid.strip():
                callback_not_taken_decision(self.deps, uid, caller.number, branch, why, language)
            await agi.set_variable(names.VAR_CALLBACK_AT, "")

        try:
            number = self._callback_number(keyed)
        except ValueError as e:  # logged without the number
            reason = e.reason if isinstance(e, phone.NumberError) else str(e)
            log.warning("call %s: callback number refused (%s): voicemail", logged(uid), reason)
            return await voicemail(f"number refused ({reason})")
        if not number or self.callbacks is None:
            return await voicemail("no number" if not number else "no callback ledger")
        if await self._after_hours_case(agi, number, uid, branch, language):
            return None
        source = "ivr" if branch in ("menu", OPERATOR_BRANCH) else "overflow"
        try:
            promise = await self.threads.run(
                self.callbacks.request_from_ivr, number, language, branch, at, None, uid, source
            )
        except CallbackRefusedError:
            return await voicemail("refused by the callback ledger")
        await agi.set_variables(
            [
                (names.VAR_CALLBACK_TZ, promise.tz),
                (names.VAR_CALLBACK_AT, str(int(promise.due_at.timestamp()))),
            ]
        )

    async def survey(self, agi: AgiChannel) -> None:
        """The satisfaction survey, after the seat hung up on an answered call.

        The branch (HOTLINE_QUEUE) decides whether there is one; the seat comes from
        the dialplan (HOTLINE_SURVEY_SEAT). Keys go through `ask` like the menu's
        (STREAM FILE then GET DATA for one key; '#' is a key off the scale, like
        '*'). HOTLINE_SURVEY tells the dialplan how it ended.
        """
        if self.surveys is None:
            return
        uid = await read_checked(agi, names.VAR_CALL_ID, UNIQUEID) or agi.uid
        branch = await read_checked(agi, names.VAR_QUEUE, NAME)
        seat = seat_of(await read_checked(agi, names.VAR_SURVEY_SEAT, SEAT_CHANNEL))
        language = await self._language(agi)
        session = self.surveys.start(uid, branch, seat, language)
        if session is None:
            return
        action: Ask | SurveyDone = await self.threads.run(session.begin)
        try:
            while not isinstance(action, SurveyDone):
                digit = await agi.ask(prompt_paths(action), int(action.timeout_seconds * 1000))
                action = await self.threads.run(session.on_input, digit)
        except AgiHangup:
            # Submitted to the threads at once and shielded: the service stopping now
            # must not drop the record unwritten (its stop() waits for it). A shielded
            # coroutine would only be a task: cancelled before it started, nothing ran.
            await asyncio.shield(self.threads.run(session.left))
            raise
        except asyncio.CancelledError:  # the service stopping mid-survey: still on record
            session.left()
            raise
        await agi.set_variable(names.VAR_SURVEY, action.outcome.value)

    async def _after_hours_case(
        self, agi: AgiChannel, number: str, uid: str, branch: str, language: str
    ) -> bool:
        """The complaints key outside hours: open a case with its callback and give the
        dialplan its number to say. False (a plain callback follows) when no case is
        due here, or the case could not be opened or booked no callback."""
        if self.cases is None:
            return False
        try:
            opened = await self.threads.run(
                self.cases.open_after_hours, number, uid, branch, language
            )
        except Exception:  # the caller still gets a callback: never an error at the edge
            log.exception("call %s: after-hours case not opened: plain callback", logged(uid))
            return False
        if opened is None or not opened.callbacks:
            return False
        cb, case_no = opened.callbacks[0], opened.case.case_no
        due = max(cb.due_at or self.deps.clock(), self.deps.clock())
        sounds = [f"{names.SOUNDS_SUBDIR}/{language}/{p}" for p in digit_prompts(case_no)]
        log.info("call %s: after-hours complaint opened case %s", logged(uid), case_no)
        await agi.set_variables(
            [
                (names.VAR_CASE_NO, case_no),
                (names.VAR_CASE_PROMPTS, "&".join(sounds)),
                (names.VAR_CALLBACK_TZ, cb.tz),
                (names.VAR_CALLBACK_AT, str(int(due.timestamp()))),
            ]
        )
        return True

    def _callback_number(self, keyed: str) -> str:
        """E.164 in the site's region (phonenumbers), else the structural check alone."""
        return callback_number(phone.canonical(keyed, self.region) if self.region else keyed)

    async def _language(self, agi: AgiChannel) -> str:
        return await read_checked(agi, names.VAR_LANGUAGE, LANGUAGE) or self.deps.default_language


async def read_checked(agi: AgiChannel, name: str, form: re.Pattern[str]) -> str:
    """A channel variable read back, or '' when unset or not of the expected form."""
    value = await agi.get_variable(name)
    if value and not form.fullmatch(value):
        log.warning(
            "call %s: channel variable %s has an unexpected form: ignored", logged(agi.uid), name
        )
        return ""
    return value
