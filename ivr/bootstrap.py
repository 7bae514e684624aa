"""The one composition root: every engine, repository, clock and client is built here.

Nothing else in the code base constructs infrastructure; processes (the
FastAGI/AMI service, AGI scripts, the CLI, the web app) ask this module for a
`Runtime` and pass its parts down.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.clock import clock_from_env
from ivr.adapters.db.calllog import SqlCallLog
from ivr.adapters.db.engine import make_engine, make_session_factory, migrate
from ivr.adapters.db.presence import PresenceRepo
from ivr.adapters.files import private_dir, secret
from ivr.app.ivr_session import IvrDeps
from ivr.app.ports import CallLog, Clock
from ivr.config import ENV_AMI_SECRET, ENV_SEAT_PASSWORD, HotlineConfig, load_config
from ivr.domain.routing import AgentState, Presence

if TYPE_CHECKING:
    from ivr.adapters.asterisk.sandbox import Sandbox, SandboxStatus
    from ivr.adapters.asterisk.templates import AsteriskSettings

log = logging.getLogger(__name__)

DEFAULT_CONFIG_DIR = "config"
ENV_CONFIG_DIR = "HOTLINE_CONFIG"


def config_dir(explicit: str | None, env: Mapping[str, str]) -> Path:
    return Path(explicit or env.get(ENV_CONFIG_DIR) or DEFAULT_CONFIG_DIR)


class Breaker:
    """After a database failure, do not try again for `pause` seconds.

    The routing decision runs on the FastAGI event loop: a database that hangs
    must not stall every call, so optional reads fail open quickly.
    """

    def __init__(self, pause: float = 5.0) -> None:
        self.pause = pause
        self._failed_at: float | None = None

    def closed(self) -> bool:
        """True when a read may be attempted."""
        return self._failed_at is None or time.monotonic() - self._failed_at > self.pause

    def failed(self) -> None:
        self._failed_at = time.monotonic()

    def succeeded(self) -> None:
        self._failed_at = None


class FailOpenHistory:
    """The repeat caller's previous agent, or None when the call log cannot be read:
    first-contact routing is a preference, and the caller must be routed anyway."""

    def __init__(self, calls: SqlCallLog, breaker: Breaker | None = None) -> None:
        self._calls, self._breaker = calls, breaker or Breaker()

    def previous_agent(self, caller: str, since: datetime) -> str | None:
        if not self._breaker.closed():
            return None
        try:
            agent = self._calls.previous_agent(caller, since)
        except SQLAlchemyError as e:
            self._breaker.failed()
            log.warning("call history unavailable, routing without it: %s", e)
            return None
        self._breaker.succeeded()
        return agent


class DbPresence:
    """Presence from the database, cached briefly so a burst of calls reads it once.

    When the database cannot be read, the last snapshot stands (fail open), with
    the device states the AMI listener reported since (`note_device_state`).
    """

    def __init__(self, repo: PresenceRepo, ttl_seconds: float = 0.5) -> None:
        self._repo, self._ttl = repo, ttl_seconds
        self._cached: Presence | None = None
        self._devices: dict[str, str] = {}
        self._at = 0.0
        self._lock = threading.Lock()
        self._breaker = Breaker()

    def snapshot(self) -> Presence:
        with self._lock:
            stale = self._cached is None or time.monotonic() - self._at > self._ttl
            if stale and self._breaker.closed():
                try:
                    self._cached = self._read()
                    self._breaker.succeeded()
                except SQLAlchemyError as e:
                    self._breaker.failed()
                    log.warning("presence unavailable, using the last known: %s", e)
                self._at = time.monotonic()
            last = self._cached or Presence()
            return Presence(last.agent_states, {**last.device_states, **self._devices})

    def note_device_state(self, seat: str, state: str) -> None:
        """A device state from AMI, known even while the database is down."""
        with self._lock:
            self._devices[seat] = state

    def _read(self) -> Presence:
        states: dict[str, AgentState] = {}
        for agent_id, rec in self._repo.agent_states().items():
            try:
                states[agent_id] = AgentState(rec.state)
            except ValueError:
                continue
        return Presence(states, self._repo.seat_states())

    def invalidate(self) -> None:
        with self._lock:
            self._at = 0.0


@dataclass
class Runtime:
    config: HotlineConfig
    engine: Engine
    sessions: sessionmaker[Session]
    calls: SqlCallLog
    presence_repo: PresenceRepo
    presence: DbPresence
    clock: Clock

    def ivr_deps(self, log: CallLog) -> IvrDeps:
        c = self.config
        return IvrDeps(
            menu=c.menu,
            roster=c.roster,
            policy=c.policy,
            default_language=c.site.default_language,
            log=log,
            history=FailOpenHistory(self.calls),
            presence=self.presence,
            clock=self.clock,
        )

    @property
    def spool_path(self) -> Path:
        return self.config.data_dir / "spool" / "calllog.jsonl"

    def close(self) -> None:
        self.engine.dispose()


def build_runtime(
    config_path: str | None = None, env: Mapping[str, str] | None = None, *, migrate_db: bool = True
) -> Runtime:
    """Load and validate the config, open the database, and wire the parts."""
    env = dict(os.environ if env is None else env)
    config = load_config(config_dir(config_path, env), env)
    private_dir(config.data_dir)
    config = with_secrets(config, env)
    engine = make_engine(config.database_url)
    if migrate_db:
        migrate(engine)
    sessions = make_session_factory(engine)
    repo = PresenceRepo(sessions)
    return Runtime(
        config=config,
        engine=engine,
        sessions=sessions,
        calls=SqlCallLog(sessions),
        presence_repo=repo,
        presence=DbPresence(repo),
        clock=clock_from_env(env),
    )


def with_secrets(config: HotlineConfig, env: Mapping[str, str]) -> HotlineConfig:
    """`config` with the AMI secret and the seat password: from the environment, else
    from 0600 files in the data directory, generated on first run and reused."""
    keep = config.data_dir / "secrets"
    return replace(
        config,
        ami=replace(config.ami, secret=secret(env, ENV_AMI_SECRET, keep / "ami-secret")),
        sip=replace(
            config.sip, seat_password=secret(env, ENV_SEAT_PASSWORD, keep / "seat-password")
        ),
    )


def asterisk_settings(config: HotlineConfig) -> AsteriskSettings:
    """What the Asterisk templates need, from the validated configuration."""
    from ivr.adapters.asterisk.templates import AsteriskSettings, SeatSpec

    c = config
    return AsteriskSettings(
        hotline_extension=c.site.hotline_extension,
        seats=tuple(SeatSpec(a.seat, i) for i, a in enumerate(c.roster.agents, start=1)),
        queues=c.queues,
        languages=c.site.languages,
        sip_host=c.sip.host,
        sip_port=c.sip.port,
        seat_contacts="static" if c.sip.seat_contacts == "static" else "register",
        seat_port_base=c.sip.seat_port_base,
        seat_password=c.sip.seat_password,
        ami_host=c.ami.host,
        ami_port=c.ami.port,
        ami_username=c.ami.username,
        ami_secret=c.ami.secret,
        fastagi_host=c.fastagi.host,
        fastagi_port=c.fastagi.port,
        queue_ring_seconds=c.policy.ring_seconds,
        queue_max_wait_seconds=c.policy.max_wait_seconds,
    )


def provision_sandbox(runtime: Runtime, sandbox: Sandbox | None = None) -> SandboxStatus:
    """Bring the sandbox Asterisk up for this configuration: build the root once,
    speak the prompts, render the templates (callback dialplan and trunk
    included) and start Asterisk, or reload it when it already runs."""
    from ivr.adapters.asterisk.prompts import build_prompts
    from ivr.adapters.asterisk.sandbox import Sandbox
    from ivr.dialer import asterisk_conf

    box = sandbox or Sandbox()
    box.build()
    build_prompts(runtime.config.prompts, box.sounds_dir)
    box.render(asterisk_settings(runtime.config))
    asterisk_conf.install_into(box.config_dir, runtime.config.callbacks.dialer)
    box.start()
    return box.status()
