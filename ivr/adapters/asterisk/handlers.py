"""The FastAGI entry points. Each is one small function over the channel.

"AGI as oracle": the handlers run the menu, decide, and set channel variables;
the dialplan does the dialling (config/asterisk/extensions.conf).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ivr.adapters.asterisk import names
from ivr.adapters.asterisk.agi import AgiHangup
from ivr.adapters.asterisk.fastagi import AgiChannel, RouteTable
from ivr.app.ivr_session import CallerInfo, IvrDeps, IvrSession, overflow_decision
from ivr.domain.menu import Ask
from ivr.domain.routing import Decision

LatencySink = Callable[[float], None]


def prompt_paths(action: Ask) -> list[str]:
    """Sound file paths (no extension) for an Ask, in the caller's language."""
    return [f"{names.SOUNDS_SUBDIR}/{action.language}/{p}" for p in action.prompts]


def caller_from_env(env: dict[str, str], source: str) -> CallerInfo:
    number = env.get("agi_callerid", "")
    return CallerInfo(
        uid=env.get("agi_uniqueid", ""),
        number="" if number == "unknown" else number,
        name=env.get("agi_calleridname", ""),
        dialed=env.get("agi_extension", ""),
        channel=env.get("agi_channel", ""),
        source=source,
    )


def route_variables(decision: Decision, language: str) -> list[tuple[str, str]]:
    """The channel variables that tell the dialplan where the call goes."""
    return [
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

    def routes(self) -> RouteTable:
        table = RouteTable()
        table.add(names.ROUTE_HOTLINE, self.hotline)
        table.add(names.ROUTE_OVERFLOW, self.overflow)
        return table

    async def hotline(self, agi: AgiChannel) -> None:
        session = IvrSession(self.deps, caller_from_env(agi.env, self.source))
        action = session.begin()
        try:
            await agi.set_variable(names.VAR_CALL_ID, session.caller.uid)
            while isinstance(action, Ask):
                digit = await agi.ask(prompt_paths(action), int(action.timeout_seconds * 1000))
                action = session.on_input(digit)
        except AgiHangup:
            session.hung_up()
            raise
        started = time.perf_counter()
        decision = session.decide()
        for name, value in route_variables(decision, session.language):
            await agi.set_variable(name, value)
        if self.on_decision_latency is not None:
            self.on_decision_latency(time.perf_counter() - started)

    async def overflow(self, agi: AgiChannel) -> None:
        caller = caller_from_env(agi.env, self.source)
        branch = await agi.get_variable(names.VAR_QUEUE)
        language = await agi.get_variable(names.VAR_LANGUAGE) or self.deps.default_language
        status = await agi.get_variable("QUEUESTATUS") or await agi.get_variable("DIALSTATUS")
        uid = await agi.get_variable(names.VAR_CALL_ID) or caller.uid
        decision = overflow_decision(
            self.deps,
            uid,
            caller.number,
            branch,
            f"queue {branch}: {status or 'no answer'}",
            language,
        )
        for name, value in route_variables(decision, language):
            await agi.set_variable(name, value)
