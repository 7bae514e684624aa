"""The hotline service process: FastAGI server, AMI listener, queue sync, backups.

One asyncio process serves every call: the FastAGI server runs the IVR and the
routing decision, the AMI link completes call records from Asterisk's events
(answer, hang-up, fallback) and tracks seat device states, and a periodic task
keeps Asterisk's queue membership in step with the roster and agent states.

A changed configuration is applied without a restart (`reload`): on SIGHUP, or on
a request on the control socket (`hotline reload`, a Unix socket in the 0700 data
directory). Calls in progress keep the IVR session they have.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from ivr.adapters.asterisk import ami
from ivr.adapters.asterisk.conf_dir import reload_modules
from ivr.adapters.asterisk.fastagi import FastAgiServer, RouteTable
from ivr.adapters.asterisk.journal import FallbackJournal
from ivr.adapters.db.backup import backup_if_due
from ivr.adapters.db.failopen import DbPresence
from ivr.adapters.db.presence import PresenceRepo
from ivr.adapters.db.spool import BufferedCallLog, SpoolingCallLog
from ivr.adapters.speech.client import SpeechInput
from ivr.adapters.threads import CALL_THREADS, WorkThreads
from ivr.app.hangups import MissedHangups
from ivr.app.ports import Clock
from ivr.config import ConfigError, HotlineConfig
from ivr.domain.calllog import CallAnswered, CallEvent
from ivr.domain.routing import queue_members

log = logging.getLogger(__name__)
T = TypeVar("T")
BACKUP_POLL = 30.0  # seconds between checks whether a scheduled backup is due
BACKUP_RETRY = 300.0  # after a failed backup
# A record whose channel was missing from one listing is checked again this much
# later (its Hangup may have been on its way): ivr.app.hangups.
HANGUP_CONFIRM_SECONDS = 5.0
CaseSweep = Callable[[], list[Any]]
CONTROL_REQUEST_BYTES = 4096  # one JSON line: {"command": "reload", "config": DIR}
CONTROL_READ_SECONDS = 5.0
SUN_PATH_MAX = 107  # AF_UNIX path limit (108 bytes with the NUL)
# How long stop() waits for the thread work in flight (a sweep, a queue sync, a backup,
# a FastAGI handler's database write) once the AMI link is closed; what is still
# running then is left, logged.
STOP_WORK_SECONDS = 15.0
WORK_THREADS = 6  # the loops (sync, backup, cases, hang-ups) and a reload at once


@dataclass(frozen=True)
class PreparedConfig:
    """A changed configuration, validated and built, nothing of it in use yet
    (`ivr.bootstrap.prepare_reload` makes it)."""

    config: HotlineConfig
    routes: RouteTable  # the FastAGI handlers over the new menu, roster and policy
    write_asterisk: Callable[[], list[str]]  # writes Asterisk's changed files; their names
    adopt: Callable[[], None]  # the runtime the rest of the process reads takes it


PrepareReload = Callable[[Path], PreparedConfig]  # raises ConfigError (file, item, reason)


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    message: str  # the refusal (file: item: reason), or what changed
    asterisk: tuple[str, ...] = ()  # each Asterisk module reloaded and how it went

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "message": self.message, "asterisk": list(self.asterisk)}


CONFIG_PARTS = (
    "site",
    "calendar",
    "roster",
    "policy",
    "staffing",
    "menu",
    "prompts",
    "callbacks",
    "cases",
    "admission",
    "survey",
    "twilio",
    "backup",
    "sip",
    "web",
)
NO_AMI = "AMI not connected (Asterisk reads the files when it reloads or starts)"


def changed_parts(old: HotlineConfig, new: HotlineConfig) -> list[str]:
    """Which parts of the configuration differ (for the log and `hotline reload`)."""
    return [p for p in CONFIG_PARTS if not _same(getattr(old, p), getattr(new, p))]


def _same(a: object, b: object) -> bool:
    """Equal, field by field; a function made by `partial` (a policy's number_key) is
    the same when it wraps the same function with the same arguments."""
    if isinstance(a, partial) and isinstance(b, partial):
        return (a.func, a.args, a.keywords) == (b.func, b.args, b.keywords)
    if is_dataclass(a) and is_dataclass(b) and type(a) is type(b):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    return a == b


class HotlineService:
    """The running service; built whole by `ivr.bootstrap.build_service`, started here.

    Only the AMI link is made here, because its callbacks are this object's
    methods; it connects on `start()`.
    """

    def __init__(
        self,
        *,
        config: HotlineConfig,
        clock: Clock,
        presence: DbPresence,
        presence_repo: PresenceRepo,
        spooling: SpoolingCallLog,
        calllog: BufferedCallLog,
        fastagi: FastAgiServer,
        sync_seconds: float = 2.0,
        case_sweep: CaseSweep | None = None,
        case_sweep_seconds: float = 60.0,
        prepare_reload: PrepareReload | None = None,
        control_path: Path | None = None,
        speech: SpeechInput | None = None,
        survey_replay: Callable[[], object] | None = None,
        open_calls: Callable[[datetime], Sequence[str]] | None = None,
        journal: FallbackJournal | None = None,
        call_threads: WorkThreads | None = None,
    ) -> None:
        self.config, self.clock = config, clock
        self.presence, self.presence_repo = presence, presence_repo
        self.spooling, self.calllog, self.fastagi = spooling, calllog, fastagi
        self.sync_seconds = sync_seconds
        self.case_sweep, self.case_sweep_seconds = case_sweep, case_sweep_seconds
        self.speech = speech
        self.survey_replay = survey_replay
        self.journal = journal
        # The FastAGI handlers' and the speech client's blocking work (the composition
        # root hands them the same threads): stop() waits for it as for its own.
        self.call_threads = call_threads or WorkThreads(name=CALL_THREADS)
        self.link = ami.AmiLink(
            config.ami.host,
            config.ami.port,
            config.ami.username,
            config.ami.secret,
            on_event=self._on_ami_event,
            on_connect=self._on_ami_connect,
        )
        self.queues = ami.QueueSync(self.link, tuple(a.seat for a in config.roster.agents))
        # Records whose hang-up was not heard (the AMI link was down) are ended by a
        # sweep against Asterisk's channels (ivr.app.hangups): after every reconnect,
        # and every ami.sweep_seconds.
        self.hangups = (
            MissedHangups(
                calllog, open_calls, lambda: ami.live_channels(self.link), lambda: self.clock()
            )
            if open_calls is not None
            else None
        )
        self.prepare_reload, self.control_path = prepare_reload, control_path
        self._tasks: list[asyncio.Task[None]] = []
        self._reloading = asyncio.Lock()  # one reload at a time
        self._control: asyncio.AbstractServer | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ami_up = asyncio.Event()  # set on every AMI (re)connect: sweep the hang-ups
        self._threads = WorkThreads(WORK_THREADS, "hotline-work")  # the loops' thread work

    async def start(self) -> None:
        """Replay what a database outage left in the spools and what Asterisk's
        fallback journaled while nobody listened, then take calls."""
        self._loop, self._ami_up = asyncio.get_running_loop(), asyncio.Event()
        self._threads.start()
        self.call_threads.start()
        await self._work(self.spooling.replay)
        if self.survey_replay is not None:
            await self._work(self.survey_replay)
        await self._work(self.replay_journal)
        await self.fastagi.start()
        self.link.start()
        self._tasks.append(asyncio.create_task(self._sync_loop()))
        self._tasks.append(asyncio.create_task(self._backup_loop()))
        if self.case_sweep is not None:
            self._tasks.append(asyncio.create_task(self._case_loop(self.case_sweep)))
        if self.hangups is not None:
            self._tasks.append(asyncio.create_task(self._hangup_loop(self.hangups)))
        await self._start_control()

    async def stop(self) -> None:
        """Stop taking calls and end the background work before returning: the loops
        (and a reload in progress) are cancelled, the AMI link is closed (an AMI wait in
        flight returns within the client's timeout, nothing new is sent), the thread
        work already running (the FastAGI handlers' too) is waited for, then the call
        log writes what is queued. Nothing of the service touches the database after
        this returns."""
        await self._stop_control()
        tasks = [*self._tasks, *self._background]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.fastagi.stop()
        if self.speech is not None:
            await self.speech.close()
        await asyncio.to_thread(self.link.stop)
        await self._end_work()
        await asyncio.to_thread(self.calllog.close)

    async def _work(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the service's own threads, which stop() waits for (a
        thread of the loop's default pool would outlive the service). A service not
        started (its parts driven alone, as in a reload's tests) uses the loop's."""
        return await self._threads.run(fn, *args)

    async def _end_work(self) -> None:
        """Wait for the thread work in flight, both pools at once, within one bound. A
        background job queued never starts; a handler's queued write still runs (a
        survey's `left` must not be dropped)."""
        try:
            async with asyncio.timeout(STOP_WORK_SECONDS):
                await asyncio.gather(self._threads.stop(drop_queued=True), self.call_threads.stop())
        except TimeoutError:
            log.warning(
                "stopping: thread work still running after %.0f s; not waiting longer",
                STOP_WORK_SECONDS,
            )

    def sync_queues(self, force: bool = False) -> bool:
        """Apply the roster and agent states to Asterisk's queues now."""
        self.presence.invalidate()
        desired = queue_members(
            self.clock(), self.config.roster, self.config.policy, self.presence.snapshot()
        )
        return self.queues.apply(desired, force=force)

    async def _sync_loop(self) -> None:
        while True:
            try:
                await self._work(self.sync_queues)
            except Exception:
                log.exception("queue sync failed; retrying")
            await asyncio.sleep(self.sync_seconds)

    async def _backup_loop(self) -> None:
        """Make the backups config asks for (hotline.yaml `backup:`), in a thread."""
        started = datetime.now(self.config.site.tz)
        while True:
            cfg = self.config  # a reload may change the schedule
            try:
                now = datetime.now(cfg.site.tz)
                made = await self._work(backup_if_due, cfg.database_url, cfg.backup, now, started)
                if made is not None:
                    log.info("backup written: %s (%d bytes)", made.path, made.size)
            except Exception:  # a full disk or a missing pg_dump must not stop the calls
                log.exception("scheduled backup failed; trying again in %.0f s", BACKUP_RETRY)
                await asyncio.sleep(BACKUP_RETRY)
            await asyncio.sleep(BACKUP_POLL)

    async def _case_loop(self, sweep: CaseSweep) -> None:
        """Record the case escalations now due (cases.yaml `escalation`), in a thread."""
        while True:
            try:
                done = await self._work(sweep)
                if done:
                    log.info("cases escalated: %s", ", ".join(f"{n} -> {e}" for n, e in done))
            except Exception:  # the database may be away: the calls go on
                log.exception("case escalation sweep failed; trying again")
            await asyncio.sleep(self.case_sweep_seconds)

    async def _hangup_loop(self, sweep: MissedHangups) -> None:
        """End the records of calls gone without a heard hang-up: after every AMI
        (re)connect, when events may have been lost, and every ami.sweep_seconds.
        A record missing its channel once is checked again HANGUP_CONFIRM_SECONDS
        later, and ended only then. Listing every channel costs Asterisk (and the
        AMI reader) a burst of events, so it is not done more often.

        The fallback journal is replayed before each sweep: a fallback call whose
        events the link missed (it was down) is then recorded with its real answer
        and end, not ended as unheard."""
        while True:
            # asyncio.timeout, not wait_for: 3.11's wait_for returns the awaited result
            # when a cancel meets it (the loop then went on, past the service's stop).
            with contextlib.suppress(TimeoutError):  # a reload may change the interval
                async with asyncio.timeout(self.config.ami.sweep_seconds):
                    await self._ami_up.wait()
            self._ami_up.clear()
            await self._work(self.replay_journal)
            await self._sweep_hangups(sweep)
            if sweep.pending:
                await asyncio.sleep(HANGUP_CONFIRM_SECONDS)
                await self._work(self.replay_journal)
                await self._sweep_hangups(sweep)

    def replay_journal(self) -> int:
        """Record the calls of the fallback journal the call log lacks (journal.py):
        through the spool, like the AMI listener's events, after those are written.
        Never raises: a journal that could not be replayed stays for the next time.
        Without a journal (the rule) nothing is done: the call log is not flushed,
        which under traffic would wait for the writer at every sweep."""
        if self.journal is None or not self.journal.waiting:
            return 0
        try:
            self.calllog.flush()  # what the listener heard is in the call log first
            written = self.journal.replay(
                lambda events: self.spooling.record_many([self._with_agent(e) for e in events])
            )
        except Exception:
            log.exception("fallback journal not replayed; it is kept for the next try")
            return 0
        if written:
            log.warning("fallback journal: %d call-log events replayed", written)
        return written

    async def _sweep_hangups(self, sweep: MissedHangups) -> None:
        try:
            ended = await self._work(sweep)
        except Exception:  # the database may be away: the calls go on
            log.exception("missed hang-up sweep failed; trying again")
            return
        if ended:
            log.warning("calls ended without a heard hang-up: %s", ", ".join(ended))

    def _on_ami_connect(self) -> None:
        if self._loop is not None:  # events may have been lost while the link was down
            with contextlib.suppress(RuntimeError):  # the service's loop has closed
                self._loop.call_soon_threadsafe(self._ami_up.set)
        self._refresh_seat_states()
        self.sync_queues(force=True)

    def _refresh_seat_states(self) -> None:
        """The seats' device states as Asterisk has them now: changes made while the
        link was down were never heard (a seat left "in use" would get no calls)."""
        for name, keys in self.link.collect("DeviceStateList") or []:
            if name == "DeviceStateChange":
                self._on_ami_event(name, keys)

    def _on_ami_event(self, name: str, keys: dict[str, str]) -> None:
        for item in ami.translate(name, keys, self.clock()):
            if isinstance(item, ami.SeatUpdate):
                self.presence.note_device_state(item.seat, item.device_state)
                try:
                    self.presence_repo.set_seat_state(item.seat, item.device_state, self.clock())
                except SQLAlchemyError as e:  # the board misses it; routing does not
                    log.warning("seat state of %s not stored: %s", item.seat, e)
            else:
                self.calllog.record(self._with_agent(item))

    def _with_agent(self, event: CallEvent) -> CallEvent:
        """Name the agent at the answering seat (AMI only knows the seat)."""
        if isinstance(event, CallAnswered) and not event.agent_id:
            agent = self.config.roster.agent_by_seat(event.seat)
            if agent is not None:
                return replace(event, agent_id=agent.id)
        return event

    def record(self, event: CallEvent) -> None:
        self.calllog.record(event)

    # --- reload -------------------------------------------------------------------

    async def reload(self, directory: Path | None = None) -> ReloadResult:
        """Apply a changed configuration (from `directory`, else where the running one
        came from) to the next calls, Asterisk's side included.

        Everything is read, validated (as `check-config` does) and built before
        anything is touched: a refused configuration leaves the running one in place
        and says why. Then Asterisk's changed files are written and reloaded (new
        queues exist before a caller is sent to them), the FastAGI route table is
        swapped in one assignment on the event loop (a dialog already running keeps
        its handlers, so its IVR session keeps the menu and routing it began with;
        the call's later requests, overflow or survey, use the new ones), and the
        queue membership is applied again for the new roster.
        """
        if self.prepare_reload is None:
            return ReloadResult(False, "this service was built without a reload")
        async with self._reloading:
            old = self.config
            source = Path(directory) if directory is not None else old.directory
            try:
                new = await self._work(self.prepare_reload, source)
            except ConfigError as e:
                log.error("reload refused, the running configuration stays: %s", e)
                return ReloadResult(False, str(e))
            except Exception as e:  # a bug must not take the service down either
                log.exception("reload failed, the running configuration stays")
                return ReloadResult(False, f"the configuration could not be built: {e!r}")
            try:
                written = await self._work(new.write_asterisk)
            except Exception as e:  # a full disk, a prompt that cannot be spoken
                log.exception("reload refused: Asterisk's files not written")
                return ReloadResult(
                    False, f"Asterisk's configuration could not be written: {e}; "
                    "the running configuration stays (Asterisk has not reloaded)"
                )  # fmt: skip
            asterisk = await self._work(self._reload_asterisk, written)
            self.fastagi.routes = new.routes
            self.config = new.config
            self.queues.seats = tuple(a.seat for a in new.config.roster.agents)
            new.adopt()
            try:
                await self._work(self.sync_queues, True)
            except Exception:  # the sync loop tries again in a moment
                log.exception("queue sync after the reload failed; retrying")
            parts = changed_parts(old, new.config)
            message = f"reloaded {source}: " + (
                f"changed {', '.join(parts)}" if parts else "nothing changed"
            )
            if written:
                message += f"; Asterisk files written: {', '.join(written)}"
            log.warning("%s", message)  # an operator action: logged at the default level
            for line in asterisk:
                log.warning("reload: %s", line)
            return ReloadResult(True, message, asterisk)

    def _reload_asterisk(self, written: list[str]) -> tuple[str, ...]:
        """Make Asterisk read its changed files (AMI `Reload`), one module each."""
        done = []
        for module in reload_modules(written):
            reply = self.link.send("Reload", Module=module)
            if reply is None:
                done.append(f"reload {module}: {NO_AMI}")
            elif reply.get("Response") == "Error":
                done.append(f"reload {module}: refused: {reply.get('Message', '')}")
            else:
                done.append(f"reload {module}: ok")
        return tuple(done)

    def reload_soon(self) -> None:
        """SIGHUP: reload in the background; the log says how it went."""
        task = asyncio.get_running_loop().create_task(self.reload())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- the control socket (hotline reload) --------------------------------------

    async def _start_control(self) -> None:
        path = self.control_path
        if path is None:
            return
        if len(os.fsencode(path)) > SUN_PATH_MAX:
            log.warning("control socket path %s is too long: reload by SIGHUP only", path)
            return
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by a service that did not stop cleanly (FastAGI's port
            # is taken before this, so a second service never gets this far)
        self._control = await asyncio.start_unix_server(
            self._on_control, path=str(path), limit=CONTROL_REQUEST_BYTES
        )
        os.chmod(path, 0o600)  # the owner's alone; the data directory is 0700 meanwhile

    async def _stop_control(self) -> None:
        if self._control is None:
            return
        self._control.close()
        await self._control.wait_closed()
        self._control = None
        if self.control_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.control_path.unlink()

    async def _on_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One request, one JSON line back: {"command": "reload", "config": DIR}."""
        try:
            try:
                async with asyncio.timeout(CONTROL_READ_SECONDS):
                    line = await reader.readline()
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("not an object")
            except RecursionError:  # nested deeper than the JSON parser goes
                result = ReloadResult(False, "bad control request: nested too deep")
            except (ValueError, TimeoutError, asyncio.LimitOverrunError) as e:
                result = ReloadResult(False, f"bad control request: {e}")
            else:
                result = await self._control_request(request)
            # a lone surrogate (from a path in the request) goes back escaped
            reply = json.dumps(result.as_json(), ensure_ascii=False)
            writer.write(reply.encode("utf-8", "backslashreplace") + b"\n")
            await writer.drain()
        except (ConnectionError, OSError) as e:  # the client went away: the reload stands
            log.info("control client gone: %s", e)
        finally:
            writer.close()

    async def _control_request(self, request: dict[str, Any]) -> ReloadResult:
        if request.get("command") != "reload":
            return ReloadResult(False, f"unknown command {str(request.get('command'))[:40]!r}")
        directory = request.get("config")
        if directory is not None and not isinstance(directory, str):
            return ReloadResult(False, "config: not a directory name")
        return await self.reload(Path(directory) if directory else None)


async def run_forever(
    service: HotlineService, on_started: Callable[[], None] | None = None
) -> None:
    """Run until SIGINT/SIGTERM, then stop everything cleanly; SIGHUP reloads."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, service.reload_soon)
    try:
        await service.start()  # a start that fails half way (a port in use) stops too
        if on_started is not None:
            on_started()
        await stop.wait()
    finally:
        await service.stop()


@contextlib.contextmanager
def interrupts_ignored() -> Iterator[None]:
    """Ctrl-C ignored for a while, then as before: for a stop whose parts each have
    their own bound, which a second Ctrl-C must not cut half way (Asterisk, seats or
    the service's loops left running, the process never exiting). Main thread only."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class ServiceThread:
    """A HotlineService on its own event loop in a background thread.

    For the benchmark and the end-to-end tests, which drive calls from the main
    thread while the service answers them.
    """

    def __init__(self, service: HotlineService) -> None:
        self.service = service
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="hotline-service", daemon=True
        )

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, ami_timeout: float = 20) -> None:
        self.thread.start()
        self.run(self.service.start())
        if not self.service.link.connected.wait(ami_timeout):
            raise RuntimeError("the hotline service could not log in to AMI")

    def stop(self) -> None:
        """Stop the service and its loop; nothing when already stopped."""
        if self.loop.is_closed():
            return
        self.run(self.service.stop(), timeout=60)  # the AMI link's and the work's bounds
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def stop_fastagi(self) -> None:
        self.run(self.service.fastagi.stop())

    def start_fastagi(self) -> None:
        self.run(self.service.fastagi.start())
