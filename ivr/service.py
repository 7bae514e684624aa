"""The hotline service process: FastAGI server, AMI listener, queue sync, backups.

One asyncio process serves every call: the FastAGI server runs the IVR and the
routing decision, the AMI link completes call records from Asterisk's events
(answer, hang-up, fallback) and tracks seat device states, and a periodic task
keeps Asterisk's queue membership in step with the roster and agent states.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from ivr.adapters.asterisk import ami
from ivr.adapters.asterisk.fastagi import FastAgiServer
from ivr.adapters.db.backup import backup_if_due
from ivr.adapters.db.failopen import DbPresence
from ivr.adapters.db.presence import PresenceRepo
from ivr.adapters.db.spool import BufferedCallLog, SpoolingCallLog
from ivr.app.ports import Clock
from ivr.config import HotlineConfig
from ivr.domain.calllog import CallAnswered, CallEvent
from ivr.domain.routing import queue_members

log = logging.getLogger(__name__)
T = TypeVar("T")
BACKUP_POLL = 30.0  # seconds between checks whether a scheduled backup is due
BACKUP_RETRY = 300.0  # after a failed backup
CaseSweep = Callable[[], list[Any]]


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
        survey_replay: Callable[[], object] | None = None,
    ) -> None:
        self.config, self.clock = config, clock
        self.presence, self.presence_repo = presence, presence_repo
        self.spooling, self.calllog, self.fastagi = spooling, calllog, fastagi
        self.sync_seconds = sync_seconds
        self.case_sweep, self.case_sweep_seconds = case_sweep, case_sweep_seconds
        self.survey_replay = survey_replay
        self.link = ami.AmiLink(
            config.ami.host,
            config.ami.port,
            config.ami.username,
            config.ami.secret,
            on_event=self._on_ami_event,
            on_connect=self._on_ami_connect,
        )
        self.queues = ami.QueueSync(self.link, tuple(a.seat for a in config.roster.agents))
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Replay what a database outage left in the spools, then take calls."""
        await asyncio.to_thread(self.spooling.replay)
        if self.survey_replay is not None:
            await asyncio.to_thread(self.survey_replay)
        await self.fastagi.start()
        self.link.start()
        self._tasks.append(asyncio.create_task(self._sync_loop()))
        self._tasks.append(asyncio.create_task(self._backup_loop()))
        if self.case_sweep is not None:
            self._tasks.append(asyncio.create_task(self._case_loop(self.case_sweep)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.fastagi.stop()
        await asyncio.to_thread(self.link.stop)
        await asyncio.to_thread(self.calllog.close)

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
                await asyncio.to_thread(self.sync_queues)
            except Exception:
                log.exception("queue sync failed; retrying")
            await asyncio.sleep(self.sync_seconds)

    async def _backup_loop(self) -> None:
        """Make the backups config asks for (hotline.yaml `backup:`), in a thread."""
        cfg = self.config
        started = datetime.now(cfg.site.tz)
        while True:
            try:
                now = datetime.now(cfg.site.tz)
                made = await asyncio.to_thread(
                    backup_if_due, cfg.database_url, cfg.backup, now, started
                )
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
                done = await asyncio.to_thread(sweep)
                if done:
                    log.info("cases escalated: %s", ", ".join(f"{n} -> {e}" for n, e in done))
            except Exception:  # the database may be away: the calls go on
                log.exception("case escalation sweep failed; trying again")
            await asyncio.sleep(self.case_sweep_seconds)

    def _on_ami_connect(self) -> None:
        self.sync_queues(force=True)

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


async def run_forever(
    service: HotlineService, on_started: Callable[[], None] | None = None
) -> None:
    """Run until SIGINT/SIGTERM, then stop everything cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    if on_started is not None:
        on_started()
    try:
        await stop.wait()
    finally:
        await service.stop()


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
        self.run(self.service.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def stop_fastagi(self) -> None:
        self.run(self.service.fastagi.stop())

    def start_fastagi(self) -> None:
        self.run(self.service.fastagi.start())
