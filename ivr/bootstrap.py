"""The one composition root: every engine, repository, clock and client is built here.

Nothing else in the code base constructs infrastructure. Each process asks this
module for what it runs and passes the parts down:

    build_runtime(config)      config, engine, sessions, repositories, clock (everyone)
    build_service(runtime)     the FastAGI + AMI service (`hotline up`, `hotline serve`)
    build_dialer(runtime)      the callback dialer (`hotline dialer`, `hotline up`)
    build_twilio_dialer(rt)    its Twilio backend (`hotline dialer --backend twilio`)
    build_twilio_voice(rt, k)  the Twilio webhooks' parts (the web app)
    callback_parts(runtime)    the callback ledger and intake (CLI, web app, service)
    case_parts(runtime)        the case store and use cases (CLI, web app, service)
    visitor_parts(runtime)     visitor files and their check-out callbacks (CLI)
    asterisk_settings(config)  what the Asterisk templates need
    prepare_reload(rt, ...)    a changed configuration, checked and built, for the
                               running service to swap in (`hotline reload`, SIGHUP)

The web app (`web.app.create_app`) and the AGI script take a `Runtime` from here.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.asterisk.templates import AsteriskSettings, SeatSpec
from ivr.adapters.clock import clock_from_env
from ivr.adapters.db.callbacks import CallbackRepo
from ivr.adapters.db.calllog import SqlCallLog
from ivr.adapters.db.case_ledger import CaseLedger
from ivr.adapters.db.cases import CaseRepo
from ivr.adapters.db.engine import (
    make_engine,
    make_heavy_engine,
    make_session_factory,
    migrate,
)
from ivr.adapters.db.failopen import DbPresence, FailOpenCases, FailOpenHistory
from ivr.adapters.db.presence import PresenceRepo
from ivr.adapters.db.survey import FlagNotResolved, SqlSurveys
from ivr.adapters.db.survey_spool import SpoolingSurveys
from ivr.adapters.db.visitors import VisitorRepo
from ivr.adapters.files import private_dir, secret
from ivr.app.callbacks import CallbackIntake
from ivr.app.cases import AfterHours, CaseService, FollowUps
from ivr.app.ivr_session import IvrDeps
from ivr.app.ports import CallLog, Clock
from ivr.app.survey import Surveys
from ivr.app.visitors import VisitorService
from ivr.config import (
    ENV_AMI_SECRET,
    ENV_SEAT_PASSWORD,
    CallbackSettings,
    ConfigError,
    HotlineConfig,
    auth_token,
    load_config,
    secret_problem,
)
from ivr.domain.callbacks import CallingRules
from ivr.phone import canonical

if TYPE_CHECKING:  # built on demand: the AGI script and the web app need neither
    from twilio.http.http_client import TwilioHttpClient

    from ivr.adapters.asterisk.conf_dir import AsteriskConfDir
    from ivr.adapters.asterisk.handlers import Handlers
    from ivr.adapters.speech.client import SpeechInput
    from ivr.adapters.speech.service import RecognitionService
    from ivr.adapters.threads import WorkThreads
    from ivr.adapters.twilio.voice import TwilioVoice
    from ivr.dialer.twilio_worker import TwilioDialer
    from ivr.dialer.worker import Dialer, DialerDeps
    from ivr.service import HotlineService, PreparedConfig

log = logging.getLogger(__name__)

DEFAULT_CONFIG_DIR = "config"
ENV_CONFIG_DIR = "HOTLINE_CONFIG"


def config_dir(explicit: str | Path | None, env: Mapping[str, str]) -> Path:
    return Path(explicit or env.get(ENV_CONFIG_DIR) or DEFAULT_CONFIG_DIR)


@dataclass
class Runtime:
    config: HotlineConfig
    engine: Engine
    sessions: sessionmaker[Session]
    calls: SqlCallLog
    presence_repo: PresenceRepo
    presence: DbPresence
    clock: Clock
    # The environment the config was read with (HOTLINE_DATA_DIR, the database URL,
    # secrets): a reload reads the config again with the same one.
    env: Mapping[str, str] = field(default_factory=dict)
    # Called after a reload replaced `config` (the dialers in `hotline up` rebuild their
    # dependencies over the new roster, policy and callback rules).
    on_reload: list[Callable[[], None]] = field(default_factory=list)

    @property
    def surveys(self) -> SqlSurveys:
        """The satisfaction survey's store (reads for the CLI; writes in `survey_parts`)."""
        return SqlSurveys(self.sessions)

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
            cases=FailOpenCases(CaseRepo(self.sessions)),
            speech_min_confidence=c.speech.min_confidence,
        )

    @property
    def spool_path(self) -> Path:
        return self.config.data_dir / "spool" / "calllog.jsonl"

    @property
    def survey_spool_path(self) -> Path:
        return self.config.data_dir / "spool" / "surveys.jsonl"

    def close(self) -> None:
        self.engine.dispose()


def build_runtime(
    config_path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    migrate_db: bool = True,
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
        calls=SqlCallLog(sessions, config.site.region or None),
        presence_repo=repo,
        presence=DbPresence(repo),
        clock=clock_from_env(env),
        env=env,
    )


def heavy_sessions(rt: Runtime, pool_size: int, statement_timeout: float) -> sessionmaker[Session]:
    """Sessions for heavy reads (reports, exports, call-log scans) on an engine of their
    own: `pool_size` connections, statements cut off after `statement_timeout` s.
    The caller disposes of it (``sessions.kw["bind"].dispose()``)."""
    engine = make_heavy_engine(
        rt.config.database_url, pool_size=pool_size, statement_timeout=statement_timeout
    )
    return make_session_factory(engine)


def with_secrets(config: HotlineConfig, env: Mapping[str, str]) -> HotlineConfig:
    """`config` with the AMI secret and the seat password: from the environment, else
    from 0600 files in the data directory, generated on first run and reused; and the
    Twilio auth token (environment or its 0600 file; never generated: it is Twilio's)."""
    keep = config.data_dir / "secrets"
    if config.twilio is not None:
        token = auth_token(env, config.data_dir)
        config = replace(config, twilio=replace(config.twilio, auth_token=token))
    return replace(
        config,
        ami=replace(config.ami, secret=_secret(env, ENV_AMI_SECRET, keep / "ami-secret")),
        sip=replace(
            config.sip, seat_password=_secret(env, ENV_SEAT_PASSWORD, keep / "seat-password")
        ),
    )


def _secret(env: Mapping[str, str], name: str, path: Path) -> str:
    """The secret from `name` or `path` (see `secret`); one that could not go into
    Asterisk's configuration (a file edited by hand, say) is refused, never quoted."""
    value = secret(env, name, path)
    reason = secret_problem(value)
    if reason is not None:
        raise ConfigError("environment" if env.get(name, "").strip() else str(path), "", reason)
    return value


def asterisk_settings(config: HotlineConfig) -> AsteriskSettings:
    """What the Asterisk templates need, from the validated configuration."""
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
        fallback_journal=str(c.fallback_journal),
        queue_ring_seconds=c.policy.ring_seconds,
        queue_max_wait_seconds=c.policy.max_wait_seconds,
        max_in_ivr=c.admission.max_in_ivr,
        max_told_busy=c.admission.max_told_busy,
        queue_weights={name: max(0, b.priority) for name, b in c.policy.branches.items()},
        twilio_sources=c.twilio.sip_sources if c.twilio is not None else (),
        trunks={name: (t.host, t.port) for name, t in c.trunks.items()},
        menu_start_prompt=c.menu.node(c.menu.start).prompt,
        menu_start_timeout=c.menu.node(c.menu.start).timeout_seconds,
    )


# --- callbacks and the dialer ------------------------------------------------------


@dataclass(frozen=True)
class CallbackParts:
    settings: CallbackSettings
    rules: CallingRules
    repo: CallbackRepo
    intake: CallbackIntake


def callback_parts(rt: Runtime, settings: CallbackSettings | None = None) -> CallbackParts:
    """The callback ledger and the intake that puts requests into it."""
    s = settings or rt.config.callbacks
    rules = s.calling_rules(rt.config.calendar.holidays)
    region = rt.config.site.region or None
    # A case-born callback that ends is written on its case (cases.yaml callbacks.on_done).
    repo = CallbackRepo(rt.sessions, region, CaseLedger(rt.config.cases.on_done))
    intake = CallbackIntake(
        repo, rules, s.retry, s.rules, s.intake.matter, rt.clock, partial(canonical, region=region)
    )
    return CallbackParts(s, rules, repo, intake)


@dataclass(frozen=True)
class CaseParts:
    repo: CaseRepo
    service: CaseService


def case_parts(rt: Runtime, callbacks: CallbackParts | None = None) -> CaseParts:
    """The case store and the use cases over it, with the callback intake for the
    callbacks that follow from a case."""
    c = rt.config
    cb = callbacks or callback_parts(rt)
    repo = CaseRepo(rt.sessions)
    s = c.cases
    service = CaseService(
        store=repo,
        rules=s.rules,
        calendar=c.calendar,
        clock=rt.clock,
        callbacks=cb.intake,
        follow_ups=FollowUps(
            s.complaint_callback,
            s.visitor_callback,
            s.contract_callback,
            s.contract_horizon_months,
        ),
        after_hours=AfterHours(s.ivr_branch, s.ivr_term, s.ivr_class, s.ivr_matter),
        canonical=partial(canonical, region=c.site.region or None),
    )
    return CaseParts(repo, service)


def visitor_parts(rt: Runtime, callbacks: CallbackParts | None = None) -> VisitorService:
    """Visitor files, with the ledger's intake for the visitor's next-day callback."""
    c = rt.config
    return VisitorService(
        store=VisitorRepo(rt.sessions),
        calendar=c.calendar,
        clock=rt.clock,
        callbacks=(callbacks or callback_parts(rt)).intake,
        rule=c.cases.visitor_callback,
        canonical=partial(canonical, region=c.site.region or None),
    )


def build_dialer(
    rt: Runtime, parts: CallbackParts | None = None, name: str | None = None
) -> Dialer:
    from ivr.dialer.link import DialerLink
    from ivr.dialer.worker import Dialer

    return Dialer(dialer_deps(rt, parts), DialerLink(rt.config.ami), name)


def dialer_deps(rt: Runtime, parts: CallbackParts | None = None) -> DialerDeps:
    """What every dialer backend shares: the ledger, its rules, the roster, presence."""
    from ivr.dialer.worker import DialerDeps

    p = parts or callback_parts(rt)
    return DialerDeps(
        repo=p.repo,
        intake=p.intake,
        settings=p.settings,
        rules=p.rules,
        roster=rt.config.roster,
        policy=rt.config.policy,
        presence=rt.presence_repo,
        clock=rt.clock,
    )


def build_twilio_dialer(
    rt: Runtime,
    parts: CallbackParts | None = None,
    http: TwilioHttpClient | None = None,
    name: str | None = None,
) -> TwilioDialer:
    """The dialer's Twilio backend (needs the `twilio:` section and its auth token);
    `http` replaces the retrying HTTP client (tests point it at a stand-in server)."""
    from ivr.adapters.twilio.calls import TwilioCalls, rest_client
    from ivr.dialer.twilio_worker import TwilioDialer

    settings = rt.config.twilio
    if settings is None or not settings.auth_token:
        raise ConfigError("hotline.yaml", "twilio", "the Twilio dialer needs this section and "
                          "its auth token (HOTLINE_TWILIO_AUTH_TOKEN)")  # fmt: skip
    calls = TwilioCalls(settings, rest_client(settings, http))
    return TwilioDialer(dialer_deps(rt, parts), calls, name)


def survey_parts(rt: Runtime, log: CallLog, cases: CaseService | None = None) -> Surveys:
    """The satisfaction survey: its policy, the store, and what "not resolved" does
    (the row's outcome, a warning, and the case linked to the call reopened or
    escalated by the case use case)."""

    def agent_of(seat: str) -> str:
        agent = rt.config.roster.agent_by_seat(seat)
        return agent.id if agent is not None else ""

    return Surveys(
        policy=rt.config.survey,
        store=SpoolingSurveys(rt.surveys, rt.survey_spool_path),  # an outage spools the row
        not_resolved=FlagNotResolved(cases.not_resolved if cases is not None else None),
        call_log=log,
        clock=rt.clock,
        agent_of=agent_of,
        case_of=(lambda uid: _case_no(cases, uid)) if cases is not None else (lambda uid: None),
    )


def _case_no(cases: CaseService, uid: str) -> str | None:
    case = cases.store.by_call(uid)
    return case.case_no if case is not None else None


def follow_reloads(rt: Runtime, dialer: Dialer | TwilioDialer) -> None:
    """A dialer in the service's process takes each reloaded configuration (its roster,
    policy and callback rules; its pacing stays as it started)."""

    def rebuild() -> None:
        dialer.deps = dialer_deps(rt)

    rt.on_reload.append(rebuild)


def start_dialer_thread(rt: Runtime) -> tuple[Dialer, threading.Thread]:
    """For `hotline up`: the dialer beside the service, stopped with `dialer.stop()`."""
    dialer = build_dialer(rt)
    follow_reloads(rt, dialer)
    thread = threading.Thread(target=dialer.run, name="callback-dialer", daemon=True)
    thread.start()
    return dialer, thread


def start_dialer_threads(rt: Runtime) -> list[tuple[Dialer | TwilioDialer, threading.Thread]]:
    """The Asterisk dialer, and the Twilio one beside it when `twilio.dialer` is on (it
    leaves the numbers it refuses, +86, to the Asterisk dialer's trunk)."""
    started: list[tuple[Dialer | TwilioDialer, threading.Thread]] = [start_dialer_thread(rt)]
    t = rt.config.twilio
    if t is not None and t.dialer and not t.auth_token:
        log.warning("twilio.dialer is on but there is no auth token: only the Asterisk dialer runs")
    if t is not None and t.dialer and t.auth_token:
        twilio = build_twilio_dialer(rt)
        follow_reloads(rt, twilio)
        thread = threading.Thread(target=twilio.run, name="callback-dialer-twilio", daemon=True)
        thread.start()
        started.append((twilio, thread))
    return started


# --- Twilio ------------------------------------------------------------------------------


def build_twilio_voice(rt: Runtime, state_key: str) -> TwilioVoice | None:
    """The Twilio webhooks' parts (None without a `twilio:` section). Events are written
    before the answer (the next webhook checks its step against the call log), through
    the service's spool (flock-shared): a database outage spools them, and the next
    write replays them. `state_key` signs the state in the action URLs (the web app's)."""
    settings = rt.config.twilio
    if settings is None:
        return None
    from ivr.adapters.db.spool import SpoolingCallLog
    from ivr.adapters.twilio.state import StateSigner
    from ivr.adapters.twilio.voice import TwilioVoice

    c = rt.config
    return TwilioVoice(
        deps=rt.ivr_deps(SpoolingCallLog(rt.calls, rt.spool_path)),
        settings=settings,
        prompts=c.prompts,
        signer=StateSigner(state_key),
        calls=rt.calls,
        intake=callback_parts(rt).intake,
        seat_agents={a.seat: a.id for a in c.roster.agents},
        region=c.site.region or None,
    )


# --- the FastAGI + AMI service -------------------------------------------------------


CONTROL_SOCKET = "control.sock"  # in the data directory: `hotline reload` talks to it


def control_socket(config: HotlineConfig) -> Path:
    """Where the running service listens for `hotline reload` (a Unix socket; the data
    directory is 0700, so only its owner reaches it)."""
    return config.data_dir / CONTROL_SOCKET


def fallback_journal_file(config: HotlineConfig) -> Path:
    """The fallback journal's file, its directory made (0700) when missing: Asterisk's
    FILE() creates the file, not the directory. An existing directory keeps its mode
    (one shared with an Asterisk running as another user, README "Fallback journal")."""
    path = config.fallback_journal
    if not path.parent.is_dir():
        private_dir(path.parent)
    return path


def build_handlers(
    rt: Runtime,
    calllog: CallLog,
    on_decision_latency: Callable[[float], None] | None = None,
    speech: SpeechInput | None = None,
    threads: WorkThreads | None = None,
) -> Handlers:
    """The FastAGI handlers over `rt.config` (the service's, and each reload's; a reload
    keeps the running speech input: its settings take a restart). Their blocking work
    runs on `threads`, the service's call threads (none: the loop's default pool)."""
    from ivr.adapters.asterisk.handlers import Handlers
    from ivr.adapters.threads import WorkThreads

    callbacks = callback_parts(rt)
    cases = case_parts(rt, callbacks)
    return Handlers(
        rt.ivr_deps(calllog),
        on_decision_latency,
        callbacks=callbacks.intake,
        region=rt.config.site.region or None,
        surveys=survey_parts(rt, calllog, cases.service),
        cases=cases.service,
        speech=speech,
        threads=threads or WorkThreads(),
    )


def build_service(
    rt: Runtime,
    *,
    sync_seconds: float = 2.0,
    on_decision_latency: Callable[[float], None] | None = None,
    asterisk: AsteriskConfDir | None = None,
) -> HotlineService:
    """Every part of the service, built and not yet started (`await service.start()`).

    `asterisk` is where Asterisk reads its rendered configuration (the sandbox's for
    `hotline up`): a reload writes the changed files there and reloads them; without
    it a reload changes the service's side only and says so."""
    from ivr.adapters.asterisk.fastagi import FastAgiServer
    from ivr.adapters.asterisk.fastagi_limits import FastAgiLimits
    from ivr.adapters.asterisk.journal import FallbackJournal
    from ivr.adapters.db.spool import BufferedCallLog, SpoolingCallLog
    from ivr.adapters.threads import CALL_THREADS, WorkThreads
    from ivr.service import HotlineService

    cfg, agi = rt.config, rt.config.fastagi
    limits = FastAgiLimits(
        max_dialogs=agi.max_dialogs,
        env_timeout_seconds=agi.env_timeout_seconds,
        reply_timeout_seconds=agi.reply_timeout_seconds,
        max_line_bytes=agi.max_line_bytes,
    )
    spooling = SpoolingCallLog(rt.calls, rt.spool_path)
    calllog = BufferedCallLog(spooling)
    # The handlers' and the speech client's blocking work: the service starts these
    # threads and its stop() waits for them before the call log closes.
    threads = WorkThreads(name=CALL_THREADS)
    speech = speech_input(cfg, threads)
    handlers = build_handlers(rt, calllog, on_decision_latency, speech, threads)
    service = HotlineService(
        config=cfg,
        clock=rt.clock,
        presence=rt.presence,
        presence_repo=rt.presence_repo,
        spooling=spooling,
        calllog=calllog,
        fastagi=FastAgiServer(handlers.routes(), agi.host, agi.port, limits=limits),
        sync_seconds=sync_seconds,
        case_sweep=lambda: case_parts(rt).service.sweep(),
        case_sweep_seconds=cfg.cases.sweep_seconds,
        prepare_reload=partial(
            prepare_reload, rt, calllog, on_decision_latency, asterisk, speech, threads
        ),
        control_path=control_socket(cfg),
        speech=speech,
        survey_replay=(
            handlers.surveys.store.replay
            if handlers.surveys is not None and isinstance(handlers.surveys.store, SpoolingSurveys)
            else None
        ),
        open_calls=rt.calls.open_on_channels,
        journal=FallbackJournal(fallback_journal_file(cfg), lambda: rt.clock(), rt.calls.get_call),
        call_threads=threads,
    )
    if speech is not None:
        speech.ami = service.link.send  # the fork and the spoken key go over AMI
    return service


# --- reload ------------------------------------------------------------------------


RESTART_REASON = "changed: this needs a restart of the service, not a reload"


def restart_only(old: HotlineConfig, new: HotlineConfig) -> ConfigError | None:
    """A change a reload cannot apply (the database, the data directory, the ports the
    service and Asterisk listen on, the AMI login), named; None when there is none."""
    checks = (
        ("hotline.yaml", "database.url", old.database_url, new.database_url),
        ("environment", "HOTLINE_DATA_DIR", old.data_dir, new.data_dir),
        ("hotline.yaml", "fastagi", old.fastagi, new.fastagi),
        ("hotline.yaml", "ami.host", old.ami.host, new.ami.host),
        ("hotline.yaml", "ami.port", old.ami.port, new.ami.port),
        ("hotline.yaml", "ami.username", old.ami.username, new.ami.username),
        ("hotline.yaml", "ami.journal", old.fallback_journal, new.fallback_journal),
        ("hotline.yaml", "sip.host", old.sip.host, new.sip.host),
        ("hotline.yaml", "sip.port", old.sip.port, new.sip.port),
        ("hotline.yaml", "web.host", old.web.host, new.web.host),
        ("hotline.yaml", "web.port", old.web.port, new.web.port),
    )
    for file, item, was, now in checks:
        if was != now:
            return ConfigError(file, item, RESTART_REASON)
    return None


def asterisk_files(config: HotlineConfig) -> dict[str, str]:
    """Every rendered Asterisk file for this configuration (callback ones included)."""
    from ivr.adapters.asterisk.errors import TemplateError
    from ivr.adapters.asterisk.templates import render_all
    from ivr.dialer.asterisk_conf import with_callbacks

    try:
        return with_callbacks(render_all(asterisk_settings(config)), config.callbacks.dialer)
    except TemplateError as e:
        raise ConfigError("config/asterisk", "templates", str(e)) from None


def prepare_reload(
    rt: Runtime,
    calllog: CallLog,
    on_decision_latency: Callable[[float], None] | None,
    asterisk: AsteriskConfDir | None,
    speech: SpeechInput | None,
    threads: WorkThreads,
    directory: Path,
) -> PreparedConfig:
    """Read and validate `directory` as `check-config` does, with the runtime's
    environment, and build what the service swaps in; nothing is touched (raises
    ConfigError naming the file, the item and the reason)."""
    from ivr.service import PreparedConfig

    config = load_config(directory, rt.env)
    refused = restart_only(rt.config, config)
    if refused is not None:
        raise refused
    config = with_secrets(config, rt.env)
    files = asterisk_files(config)  # rendered even with nowhere to write: checked
    handlers = build_handlers(
        replace(rt, config=config), calllog, on_decision_latency, speech, threads
    )

    def write() -> list[str]:
        return asterisk.write(files, config.prompts) if asterisk is not None else []

    def adopt() -> None:  # the web app in `hotline up` reads rt.config per request
        rt.config = config
        for hook in rt.on_reload:
            try:
                hook()
            except Exception:  # a dialer keeps its old rules rather than stop the reload
                log.exception("a part did not take the reloaded configuration")

    return PreparedConfig(config, handlers.routes(), write, adopt)


def speech_input(cfg: HotlineConfig, threads: WorkThreads | None = None) -> SpeechInput | None:
    """The FastAGI side of speech input, or None when no language has a model; its AMI
    actions run on `threads` (the service's call threads; none: the loop's pool)."""
    from ivr.adapters.speech.client import SpeechInput
    from ivr.adapters.threads import WorkThreads

    s = cfg.speech
    languages = frozenset(s.languages(cfg.directory))
    if not languages:
        return None
    return SpeechInput(
        s.host,
        s.control_port,
        s.audio_port,
        languages,
        s.connect_timeout_seconds,
        threads=threads or WorkThreads(),
    )


def recognition_service(cfg: HotlineConfig) -> RecognitionService:
    """The recognition service (`hotline speech`): the models of every language that has one."""
    from ivr.adapters.speech.engine import Models
    from ivr.adapters.speech.service import RecognitionService

    s = cfg.speech
    dirs = {
        lang: d for lang in s.languages(cfg.directory) if (d := s.model_dir(lang, cfg.directory))
    }
    return RecognitionService(Models(dirs), s.host, s.audio_port, s.control_port)
