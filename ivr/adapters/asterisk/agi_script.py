"""Process-per-call AGI over pyst2: the same IVR session as the FastAGI server.

For sites that cannot run the FastAGI service. pyst2's `AGI` reads the
environment from stdin, handles SIGHUP and parses results; it does not escape
arguments, so every argument passes through our own `quote()` first. This path
pays interpreter start-up and imports on every call: FastAGI is the production
path (see ARCHITECTURE.md).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from ivr.adapters.asterisk import names
from ivr.adapters.asterisk.agi import AgiError, quote, sanitise
from ivr.adapters.asterisk.fastagi import KEYS
from ivr.domain.text import logged

if TYPE_CHECKING:
    from ivr.app.ivr_session import IvrDeps
    from ivr.app.ports import CallLog


class AgiRuntime(Protocol):
    """What the script needs of the composition root's `Runtime`."""

    calls: Any
    spool_path: Path
    config: Any  # the validated HotlineConfig (site.region for caller IDs)

    def ivr_deps(self, log: CallLog) -> IvrDeps: ...

    def close(self) -> None: ...


class PystChannel:
    """The few AGI operations the IVR needs, over a pyst2 AGI object."""

    def __init__(self, agi: Any) -> None:
        self.agi = agi
        # sanitise: control characters, and lone surrogates should any get through
        self.env: dict[str, str] = {k: sanitise(str(v)) for k, v in agi.env.items()}

    def ask(self, prompts: list[str], timeout_ms: int) -> str | None:
        """Twin of fastagi.AgiChannel.ask: play the prompts, any key interrupting, then
        wait for one key. STREAM FILE them all, then WAIT FOR DIGIT, never GET DATA:
        GET DATA answers a '#' pressed first with an empty result, and pyst2 reads
        that as it reads a timeout (the channel's one extra round trip is nothing
        beside this process's start-up)."""
        for prompt in prompts:
            result = self._unless_missing("STREAM FILE", quote(prompt), quote(KEYS))
            code = int(result["result"][0] or 0) if result else 0
            if code > 0:
                return chr(code)
        code = int(dict(self.agi.execute("WAIT FOR DIGIT", quote(str(timeout_ms))))["result"][0])
        return chr(code) if code > 0 else None

    def _unless_missing(self, *command: str) -> dict[str, Any] | None:
        """Run a playback command; None when it failed on a live channel (missing file)."""
        from asterisk.agi import AGIAppError, AGIHangup, AGIUnknownError

        try:
            return dict(self.agi.execute(*command))
        except AGIHangup:
            raise
        except AGIAppError:
            try:
                self.agi.execute("CHANNEL STATUS")
            except (AGIAppError, AGIUnknownError) as e:
                raise AGIHangup(str(e)) from e
            sys.stderr.write(f"hotline AGI: could not play {' '.join(command)}\n")
            return None

    def set_variable(self, name: str, value: str) -> None:
        self.agi.execute("SET VARIABLE", quote(name), quote(value))


def run_hotline(channel: PystChannel, deps: Any, region: str | None = None) -> None:
    """The IVR loop, synchronously (twin of handlers.Handlers.hotline)."""
    from asterisk.agi import AGIHangup

    from ivr.adapters.asterisk.handlers import caller_from_env, prompt_paths, route_variables
    from ivr.app.ivr_session import IvrSession
    from ivr.domain.menu import Ask

    caller = caller_from_env(channel.env, "agi", region)
    if not caller.uid.strip():
        # As the FastAGI handler: every record is keyed by the uniqueid, and without one
        # the menu's events would join other such calls' record. The fallback records it.
        raise AgiError("no agi_uniqueid in the AGI environment")
    session = IvrSession(deps, caller)
    action = session.begin()
    try:
        channel.set_variable(names.VAR_CALL_ID, session.caller.uid)
        while isinstance(action, Ask):
            timeout_ms = int(action.timeout_seconds * 1000)
            digit = channel.ask(prompt_paths(action), timeout_ms)
            action = session.on_input(digit)
    except AGIHangup:
        session.hung_up()
        return
    decision = session.decide()
    for name, value in route_variables(decision, session.language, session.started_at):
        channel.set_variable(name, value)


def utf8_lines(stream: TextIO) -> TextIO:
    """Asterisk's side of the dialog read as UTF-8 whatever the locale, with bytes
    that are not UTF-8 (a caller name from a SIP From header, say) as U+FFFD:
    under a UTF-8 locale pyst2 would die on them reading the environment, under
    the C locale they would become lone surrogates that no database can store.
    """
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(encoding="utf-8", errors="replace")
    return stream


def main(argv: Sequence[str], open_runtime: Callable[[str | None], AgiRuntime]) -> int:
    """Entry point of agi_scripts/hotline.py, which passes the composition root's
    `build_runtime`. Never leaves the caller in silence: on any failure the
    route variable stays empty and the dialplan falls back."""
    from asterisk.agi import AGI

    agi = AGI(stdin=utf8_lines(sys.stdin))
    channel = PystChannel(agi)
    try:
        from ivr.adapters.db.spool import SpoolingCallLog

        runtime = open_runtime(argv[0] if argv else None)
        try:
            deps = runtime.ivr_deps(SpoolingCallLog(runtime.calls, runtime.spool_path))
            run_hotline(channel, deps, runtime.config.site.region or None)
        finally:
            runtime.close()
    except Exception as e:  # noqa: BLE001 - the call edge: log, then fall back
        uid, why = logged(channel.env.get("agi_uniqueid", "")), logged(str(e), 200)
        sys.stderr.write(f"hotline AGI failed for {uid}: {why}\n")
        try:
            channel.set_variable(names.VAR_ROUTE_KIND, "")
        except Exception:  # noqa: BLE001 - the channel may be gone
            return 1
        return 1
    return 0
