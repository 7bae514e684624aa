"""Load and validate the hotline's configuration directory before the first call.

A config directory holds hotline.yaml, calendar.yaml, seats.yaml, routing.yaml,
menu.yaml and prompts.yaml. Everything is turned into frozen domain objects; a
problem is refused with a ConfigError naming the file, the item and the reason.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ivr import phone
from ivr.config.backup import BackupConfigError, BackupSettings, parse_backup
from ivr.config.callbacks import CallbackSettings, load_callbacks_config
from ivr.config.cases import CaseSettings, load_cases_config
from ivr.config.errors import ConfigError
from ivr.config.reader import MAX_NAME, NAME, NAME_RULE, Cursor, is_word, read_yaml, windows
from ivr.config.schema import WEB_LOCALES, check_file
from ivr.config.shapes import secret_reason
from ivr.config.speech import SpeechSettings, parse_speech
from ivr.config.survey import parse_survey
from ivr.config.twilio import TwilioSettings, parse_twilio
from ivr.domain.calendar import WEEKDAYS, Calendar, Holiday, MakeupDay, TimeWindow
from ivr.domain.menu import (
    REQUIRED_PROMPTS,
    VALID_KEYS,
    Menu,
    MenuNode,
    Target,
    TargetKind,
    fold_phrase,
    parse_target,
)
from ivr.domain.routing import OPERATOR_BRANCH, Branch, RouteKind, RoutingPolicy
from ivr.domain.rules import BARE_TARGETS, Rule, RuleTarget, When
from ivr.domain.rules import TargetKind as RuleKind
from ivr.domain.shifts import (
    DAY_SETS,
    DEFAULT_ROTA,
    Agent,
    DaySpec,
    OnCallShift,
    Role,
    Roster,
    Shift,
    StaffingRule,
)
from ivr.domain.survey import PROMPTS as SURVEY_PROMPTS
from ivr.domain.survey import SurveyPolicy
from ivr.domain.text import shown

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

FILES = ("hotline.yaml", "calendar.yaml", "seats.yaml", "routing.yaml", "menu.yaml", "prompts.yaml")
ENV_DATABASE_URL = "HOTLINE_DATABASE_URL"
ENV_DATA_DIR = "HOTLINE_DATA_DIR"
ENV_AMI_SECRET = "HOTLINE_AMI_SECRET"  # noqa: S105 (the variable's name, not a secret)
ENV_SEAT_PASSWORD = "HOTLINE_SEAT_PASSWORD"  # noqa: S105
ENV_WEB_SECRET = "HOTLINE_WEB_SECRET"  # noqa: S105


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


@dataclass(frozen=True)
class WebEndpoint(Endpoint):
    """Where the web app listens and its default language (one of WEB_LOCALES)."""

    locale: str = "en"


@dataclass(frozen=True)
class FastAgiSettings(Endpoint):
    """The FastAGI listener and its limits under abuse (ARCHITECTURE: failure at the call edge)."""

    max_dialogs: int = 2000  # open connections at once; lowered to fit the open-file limit
    env_timeout_seconds: float = 5.0  # the whole AGI environment block
    reply_timeout_seconds: float = 120.0  # each reply: longer than a prompt plus GET DATA
    max_line_bytes: int = 8192  # a longer line ends that dialog in the fallback


# The hotline's extension: a dial string of the rendered dialplan (templates._EXTEN_RE),
# and none of the extensions config/asterisk/extensions.conf has in the same contexts:
# the benchmarks' baseline (4999) and dialplan-only menu (4996), the self-test's probes.
MAX_EXTENSION_DIGITS = 32
RESERVED_EXTENSIONS = ("4996", "4997", "4998", "4999")
# A seat is a PJSIP endpoint, auth and aor of its name in the rendered pjsip.conf
# (<seat>, <seat>-auth) and a SIP user Twilio's legs dial (sip:<seat>@). A name the
# rendered files already give a section of their own would be merged with it: a seat
# named 'anonymous' made the public endpoint every unknown caller lands on a seat's
# (its context, its password), 'twilio' took Twilio's legs. tests/unit/test_seat_names
# holds this list to the renderer's sections.
RESERVED_SEATS = frozenset({"anonymous", "global", "transport-udp", "twilio", "customers"})
RESERVED_SEAT_PREFIXES = ("trunk-", "queue-")  # trunk endpoints; Twilio's queue extensions
RESERVED_SEAT_SUFFIXES = ("-auth", "-identify")  # a seat's auth; the twilio endpoint's identify
MAX_PRIORITY = 1000  # a branch's priority: its callers' queue priority and its queue's weight
MAX_IN_IVR = 100_000  # far above what one Asterisk carries; a typo, not a plan
MAX_PORT = 65_535
# The fallback journal's path (ami.journal) goes into the dialplan as FILE()'s
# argument: absolute, and none of ',' '(' ')' '$' '{' ';' '=' or spaces.
JOURNAL_PATH_RE = re.compile(r"/[A-Za-z0-9_./+@:%-]{1,1000}")  # the whole path
DEFAULT_JOURNAL = "journal/fallback.log"  # relative to the data directory
MAX_REPEAT_DAYS = 3660  # a repeat caller is looked for this far back at most
MAX_AGENT_ID = 64  # an agent's id or a skill: one line
MAX_PROMPT_CHARS = 4096  # Twilio's limit for the text of one <Say>
# One holiday (`date:` to `to:`) spans at most a year: a longer one is a typo of the
# year (2062 for 2026) that would close the hotline for decades. And all of them
# together at most this many days, so a calendar is built in well under a second.
MAX_HOLIDAY_DAYS = 366
MAX_HOLIDAYS = 10_000


@dataclass(frozen=True)
class Admission:
    """Admission control: how many callers may be in the IVR (menu and decision) at
    once. A caller over the limit hears "all lines are busy" and the call ends,
    recorded with the outcome shed; calls admitted are served normally. The default
    comes from `hotline bench media` on the 2-core reference machine (README).

    `max_told_busy` callers turned away may hear the busy prompt at once; past that
    a caller turned away is refused before answer (SIP 503, still recorded as
    shed), so that under a storm the turning away costs Asterisk no media."""

    max_in_ivr: int = 200
    max_told_busy: int = 50


@dataclass(frozen=True)
class AmiSettings:
    host: str
    port: int
    username: str
    secret: str = ""  # never from YAML: filled in by bootstrap.with_secrets
    # Besides after every AMI (re)connect, how often the service lists Asterisk's
    # channels to end the records of calls whose hang-up it did not hear: ivr.app.hangups.
    sweep_seconds: int = 300
    # The fallback journal Asterisk appends to and the service replays at start
    # (ivr/adapters/asterisk/journal.py); None: <data dir>/journal/fallback.log.
    journal: Path | None = None


@dataclass(frozen=True)
class SipSettings:
    host: str
    port: int
    seat_contacts: str  # static | register
    seat_port_base: int
    seat_password: str = ""  # never from YAML: filled in by bootstrap.with_secrets


@dataclass(frozen=True)
class Site:
    name: str
    tz: ZoneInfo
    default_language: str
    languages: tuple[str, ...]
    hotline_extension: str
    region: str = ""  # ISO 3166 alpha-2: the country of numbers written nationally ("" none)


@dataclass(frozen=True)
class HotlineConfig:
    directory: Path
    site: Site
    database_url: str
    data_dir: Path
    fastagi: FastAgiSettings
    ami: AmiSettings
    sip: SipSettings
    web: WebEndpoint
    calendar: Calendar
    roster: Roster
    policy: RoutingPolicy
    staffing: StaffingRule
    menu: Menu
    prompts: Mapping[str, Mapping[str, str]]
    callbacks: CallbackSettings
    backup: BackupSettings
    cases: CaseSettings
    admission: Admission = Admission()
    twilio: TwilioSettings | None = None  # the optional twilio: section
    survey: SurveyPolicy = SurveyPolicy(enabled=False)
    speech: SpeechSettings = SpeechSettings()  # the optional speech: section
    trunks: Mapping[str, Endpoint] = field(default_factory=dict)  # routing.yaml trunks:

    def seat_position(self, seat: str) -> int:
        """1-based position of a seat in seats.yaml (its static SIP port offset)."""
        return [a.seat for a in self.roster.agents].index(seat) + 1

    @property
    def fallback_journal(self) -> Path:
        """The fallback journal's file (hotline.yaml ami.journal)."""
        return self.ami.journal or self.data_dir / DEFAULT_JOURNAL

    @property
    def queues(self) -> tuple[str, ...]:
        from ivr.domain.routing import OPERATOR_BRANCH

        return (*self.policy.branches, OPERATOR_BRANCH)


# --- the sections -------------------------------------------------------------


def _site(c: Cursor) -> Site:
    s = c.child("site")
    tz = s.child("timezone").zone()
    languages = tuple(x.name() for x in s.child("languages").seq())
    if not languages:
        raise s.child("languages").fail("at least one language is needed")
    default = s.child("default_language")
    if default.text() not in languages:
        raise default.fail(f"{default.data!r} is not in languages {list(languages)}")
    ext = s.child("hotline_extension")
    if not (ext.text().isdigit() and ext.text().isascii()):  # not fullwidth: a dial string
        raise ext.fail(f"{ext.data!r} must be digits 0-9")
    if len(ext.text()) > MAX_EXTENSION_DIGITS:  # the dialplan's renderer refuses it at start
        raise ext.fail(f"{len(ext.text())} digits: at most {MAX_EXTENSION_DIGITS}")
    if ext.text() in RESERVED_EXTENSIONS:
        raise ext.fail(
            f"{ext.text()} is an extension of the dialplan's own (benchmarks, self-test: "
            f"{', '.join(RESERVED_EXTENSIONS)})"
        )
    return Site(s.child("name").line(), tz, default.text(), languages, ext.text(), _region(s))


def _region(site: Cursor) -> str:
    """The optional `site.region`: numbers written without '+' belong to it."""
    c = site.opt("region", None)
    if c.data is None:
        return ""
    region = c.text().strip().upper()
    if not phone.is_region(region):
        raise c.fail(f"unknown region {c.data!r}: an ISO 3166 alpha-2 code such as CN")
    return region


def _numbers(c: Cursor, region: str) -> frozenset[str]:
    """A list of phone numbers, each in its E.164 form; one that is none is refused."""
    out = set()
    for n in c.seq():
        try:
            out.add(phone.canonical(n.text(), region))
        except phone.NumberError as e:
            raise n.fail(str(e)) from None
    return frozenset(out)


def _endpoint(c: Cursor) -> Endpoint:
    return Endpoint(c.child("host").text(), c.child("port").integer(1, MAX_PORT))


def _web(c: Cursor, site: Site) -> WebEndpoint:
    """web: host, port and locale (default: the site's language when the web has it, else en)."""
    fallback = site.default_language if site.default_language in WEB_LOCALES else "en"
    locale = c.opt("locale", fallback).choice(WEB_LOCALES)
    return WebEndpoint(c.child("host").host(), c.child("port").integer(1, MAX_PORT), locale)


def _admission(c: Cursor) -> Admission:
    return Admission(
        c.opt("max_in_ivr", Admission.max_in_ivr).integer(1, MAX_IN_IVR),
        c.opt("max_told_busy", Admission.max_told_busy).integer(0, MAX_IN_IVR),
    )


def _fastagi(c: Cursor) -> FastAgiSettings:
    d = FastAgiSettings("", 0)
    return FastAgiSettings(
        c.child("host").asterisk_host(),  # also the AGI URL of the dialplan
        c.child("port").integer(1, MAX_PORT),
        c.opt("max_dialogs", d.max_dialogs).integer(1),
        c.opt("env_timeout_seconds", d.env_timeout_seconds).number(),
        c.opt("reply_timeout_seconds", d.reply_timeout_seconds).number(),
        c.opt("max_line_bytes", d.max_line_bytes).integer(1024),
    )


def _calendar(c: Cursor, tz: ZoneInfo) -> Calendar:
    hours = c.child("open_hours")
    weekly: dict[str, tuple[TimeWindow, ...]] = {}
    for day, day_windows in hours.items():
        if day not in WEEKDAYS:
            raise day_windows.fail(f"unknown weekday {day!r} (use {', '.join(WEEKDAYS)})")
        weekly[day] = windows(day_windows)
    holidays: dict[date, Holiday] = {}
    for h in c.opt("holidays", []).seq():
        first = h.child("date").day()
        last = h.opt("to", first).day()
        if last < first:
            raise h.child("to").fail(f"{last} is before {first}")
        if (last - first).days >= MAX_HOLIDAY_DAYS:
            days = (last - first).days + 1
            raise h.child("to").fail(
                f"a holiday of {days} days ({first} to {last}): at most {MAX_HOLIDAY_DAYS}"
            )
        if len(holidays) + (last - first).days >= MAX_HOLIDAYS:
            raise h.fail(f"more than {MAX_HOLIDAYS} holiday days in all")
        name = h.opt("name", "holiday").line()
        listed = h.opt("open_branches", None)
        open_branches = None if listed.data is None else frozenset(b.text() for b in listed.seq())
        for i in range((last - first).days + 1):
            when = first + timedelta(days=i)
            if when in holidays:  # which name, which open branches: one of them lost
                raise h.child("date").fail(f"{when} is already the holiday {holidays[when].name!r}")
            holidays[when] = Holiday(when, name, open_branches)
    makeup: dict[date, MakeupDay] = {}
    for m in c.opt("makeup_days", []).seq():
        d = m.child("date").day()
        if d in holidays:
            raise m.child("date").fail(f"{d} is also a holiday")
        if d in makeup:
            raise m.child("date").fail(f"{d} is already a make-up day")
        works_as = m.child("works_as").choice(WEEKDAYS)
        makeup[d] = MakeupDay(d, works_as, m.opt("name", "make-up day").line())
    return Calendar(tz, weekly, holidays, makeup)


def _days(c: Cursor) -> DaySpec:
    """A day set: a weekday, a named set, or a list of both (their union)."""
    known = DAY_SETS + WEEKDAYS
    if isinstance(c.data, list):
        days = [d.text() for d in c.seq()]
        bad = [d for d in days if d not in known]
        if bad or not days:
            raise c.fail(f"unknown day(s) {bad} (use {', '.join(known)})")
        return DaySpec(
            weekdays=frozenset(d for d in days if d in WEEKDAYS),
            sets=frozenset(d for d in days if d in DAY_SETS),
        )
    name = c.choice(known)
    return DaySpec(named=name) if name in DAY_SETS else DaySpec(weekdays=frozenset([name]))


def _shifts(c: Cursor) -> list[tuple[Cursor, Shift]]:
    out = []
    days = _days(c.child("days"))
    for w, window in zip(_as_list(c.child("hours")), windows(c.child("hours")), strict=True):
        out.append((w, Shift(days, window)))
    return out


def _as_list(c: Cursor) -> list[Cursor]:
    return c.seq() if isinstance(c.data, list) else [c]


# Day "types" a shift may run on: (weekday, kind) with kind normal/holiday/makeup.
_KINDS = ("normal", "holiday", "makeup")


def _day_types(spec: DaySpec, night: bool = False) -> set[tuple[int, str]]:
    """The (weekday, kind) day types `spec` runs on; `night`: for a window that
    crosses midnight (explicit weekdays then run on holidays too)."""
    every = {(d, k) for d in range(7) for k in _KINDS}
    rules: dict[str, Callable[[int, str], bool]] = {
        "all": lambda d, k: True,
        "workdays": lambda d, k: (k == "normal" and d < 5) or (k == "makeup"),
        "closed_days": lambda d, k: k == "holiday" or (k == "normal" and d >= 5),
        "holidays": lambda d, k: k == "holiday",
        "weekends": lambda d, k: d >= 5,
        "makeup": lambda d, k: k == "makeup",
    }
    names = spec.sets | ({spec.named} if spec.named else set())

    def listed(d: int, k: str) -> bool:
        # A holiday is a day off for a listed weekday, except for a night window.
        if k == "holiday" and not night:
            return False
        return WEEKDAYS[d] in spec.weekdays

    return {(d, k) for d, k in every if listed(d, k) or any(rules[n](d, k) for n in names)}


def _occupancy(shift: Shift) -> set[tuple[int, int]]:
    """(weekday, minute-of-day) pairs a shift can occupy, spill past midnight included."""
    start = shift.window.start.hour * 60 + shift.window.start.minute
    end = shift.window.end.hour * 60 + shift.window.end.minute
    if end <= start:
        end += 1440
    out: set[tuple[int, int]] = set()
    for d in {d for d, _ in _day_types(shift.days, shift.window.crosses_midnight)}:
        for m in range(start, end):
            out.add(((d + m // 1440) % 7, m % 1440))
    return out


def _check_no_overlap(shifts: list[tuple[Cursor, Shift]], who: str) -> None:
    for i, (ci, si) in enumerate(shifts):
        for _cj, sj in shifts[:i]:
            if (
                _day_types(si.days, si.window.crosses_midnight)
                & _day_types(sj.days, sj.window.crosses_midnight)
                or si.window.crosses_midnight
                or sj.window.crosses_midnight
            ) and _occupancy(si) & _occupancy(sj):
                raise ci.fail(f"shift {si} overlaps shift {sj} of {who}")


def _reserved_seat(seat: str) -> bool:
    name = seat.lower()
    return (
        name in RESERVED_SEATS
        or name.startswith(RESERVED_SEAT_PREFIXES)
        or name.endswith(RESERVED_SEAT_SUFFIXES)
    )


def _roster(c: Cursor, calendar: Calendar) -> Roster:
    agents: list[Agent] = []
    seen_ids: set[str] = set()
    seen_seats: set[str] = set()
    for a in c.child("agents").seq():
        aid = a.child("id").line(MAX_AGENT_ID)
        if aid in seen_ids:
            raise a.child("id").fail(f"duplicate agent id {aid!r}")
        seat = a.child("seat").name()  # a PJSIP endpoint and SIP user
        if seat in seen_seats:
            raise a.child("seat").fail(f"seat {seat!r} is given to two agents")
        if _reserved_seat(seat):
            raise a.child("seat").fail(
                f"seat {seat!r} is a name Asterisk's config already uses (anonymous, global,"
                " transport-udp, twilio, customers, trunk-*, queue-*, *-auth, *-identify)"
            )
        seen_ids.add(aid)
        seen_seats.add(seat)
        shifts = [s for sc in a.opt("shifts", []).seq() for s in _shifts(sc)]
        _check_no_overlap(shifts, aid)
        agents.append(
            Agent(
                id=aid,
                name=a.opt("name", aid).line(),
                role=Role(a.opt("role", "ordinary").choice(tuple(r.value for r in Role))),
                seat=seat,
                skills=frozenset(s.line(MAX_AGENT_ID) for s in a.opt("skills", []).seq()),
                shifts=tuple(s for _, s in shifts),
            )
        )
    if not agents:
        raise c.child("agents").fail("at least one agent is needed")
    leads = [a for a in agents if a.role is Role.LEAD]
    if len(leads) > 1:
        raise c.child("agents").fail(f"more than one team lead: {[a.id for a in leads]}")
    oncall: list[OnCallShift] = []
    rotas: list[tuple[str, Cursor]] = []
    if "oncall" in (c.data or {}):
        rotas.append((DEFAULT_ROTA, c.child("oncall")))
    for name, rota in c.opt("rotas", {}).items():
        if name == DEFAULT_ROTA and rotas:
            raise rota.fail(f"rota {name!r} is also given as oncall: (the same rota); keep one")
        if not is_word(name, ascii_only=False):
            raise rota.fail(f"rota name {name!r} must be 1 to {MAX_NAME} letters, digits, - or _")
        rotas.append((name, rota))
    for name, rota in rotas:
        per_agent: dict[str, list[tuple[Cursor, Shift]]] = {}
        for o in rota.seq():
            who = o.child("agent")
            if who.text() not in seen_ids:
                raise who.fail(f"unknown agent {who.data!r}")
            for cur, shift in _shifts(o):
                per_agent.setdefault(who.text(), []).append((cur, shift))
                oncall.append(OnCallShift(who.text(), shift, name))
        for agent_id, shifts in per_agent.items():
            label = "on call" if name == DEFAULT_ROTA else f"on call, rota {name}"
            _check_no_overlap(shifts, f"{agent_id} ({label})")
    return Roster(calendar, tuple(agents), tuple(oncall), tuple(name for name, _ in rotas))


def _policy(
    c: Cursor, roster: Roster, region: str
) -> tuple[RoutingPolicy, StaffingRule, dict[str, Endpoint]]:
    branches: dict[str, Branch] = {}
    skills = {s for a in roster.agents for s in a.skills}
    for name, b in c.child("branches").items():
        if not NAME.fullmatch(name):  # its queue's name in Asterisk
            raise b.fail(f"branch name {name!r} is not {NAME_RULE}")
        skill = b.child("skill").text()
        if skill not in skills:
            raise b.child("skill").fail(f"no agent in seats.yaml has skill {skill!r}")
        oncall = b.opt("oncall", False).boolean()
        if oncall and DEFAULT_ROTA not in roster.rotas:
            raise b.child("oncall").fail(
                f"no on-call rota {DEFAULT_ROTA!r} in seats.yaml (oncall: or rotas.{DEFAULT_ROTA})"
            )
        branches[name] = Branch(name, skill, b.child("priority").integer(0, MAX_PRIORITY), oncall)
    if "operator" in branches:
        raise c.child("branches").fail("'operator' is reserved for the operator queue")
    trunks = _trunks(c.opt("trunks", {}))
    ctx = _RuleContext(skills, set(roster.rotas), set(branches), trunks, region)
    for name, b in c.child("branches").items():
        rules = _rules(b.opt("rules", []), ctx, name)
        branches[name] = replace(branches[name], rules=rules)
    _check_branch_cycles(c.child("branches"), branches)
    operator = c.opt("operator", {})
    if not isinstance(operator.data, dict):
        raise operator.fail("must be a mapping with rules:")
    operator_rules = _rules(operator.opt("rules", []), ctx, OPERATOR_BRANCH)
    vip = c.opt("vip", {})
    overflow = c.child("overflow")
    kinds = (RouteKind.CALLBACK.value, RouteKind.VOICEMAIL.value)
    staffing = c.child("staffing")
    policy = RoutingPolicy(
        branches=branches,
        vip_numbers=_numbers(vip.opt("numbers", []), region),
        vip_boost=vip.opt("priority_boost", 5).integer(),
        repeat_within=timedelta(
            days=c.child("repeat_caller").child("within_days").integer(0, MAX_REPEAT_DAYS)
        ),
        max_wait_seconds=overflow.child("max_wait_seconds").integer(1),
        ring_seconds=overflow.opt("ring_seconds", 20).integer(1),
        when_closed=RouteKind(overflow.child("when_closed").choice(kinds)),
        when_no_agent=RouteKind(overflow.child("when_no_agent").choice(kinds)),
        assume_signed_in=c.opt("presence", {}).opt("assume_signed_in", True).boolean(),
        number_key=phone.keyer(region or None),
        operator_rules=operator_rules,
    )
    rule = StaffingRule(
        staffing.child("min_on_duty_open").integer(),
        staffing.child("min_on_duty_closed").integer(),
        staffing.child("max_away").integer(),
    )
    return policy, rule, trunks


TRUNK_NAME_CHARS = f"1 to {MAX_NAME} letters, digits, - or _, starting with a letter or digit"


def _trunks(c: Cursor) -> dict[str, Endpoint]:
    """routing.yaml `trunks:` {name: {host, port}}: SIP trunks for external numbers."""
    out: dict[str, Endpoint] = {}
    for name, t in c.items():
        if not NAME.fullmatch(name) or "." in name:  # its endpoint: trunk-<name>
            raise t.fail(f"trunk name {name!r} must be {TRUNK_NAME_CHARS}")
        host = t.child("host").asterisk_host()  # its endpoint's contact in pjsip.conf
        out[name] = Endpoint(host, t.opt("port", 5060).integer(1, MAX_PORT))
    return out


@dataclass(frozen=True)
class _RuleContext:
    skills: set[str]
    rotas: set[str]
    branches: set[str]
    trunks: Mapping[str, Endpoint]
    region: str


def _rules(c: Cursor, ctx: _RuleContext, owner: str) -> tuple[Rule, ...]:
    """A branch's (or the operator's) `rules:`: [{when: {...}, target: ...}, ...]."""
    out: list[Rule] = []
    for r in c.seq():
        when = r.opt("when", {})
        if not isinstance(when.data, dict):
            raise when.fail("must be a mapping (windows, days, holiday)")
        win = when.opt("windows", None)
        holiday = when.opt("holiday", None)
        rule = Rule(
            When(
                days=_days(when.opt("days", "all")),
                windows=() if win.data is None else windows(win),
                holiday=None if holiday.data is None else holiday.boolean(),
            ),
            _rule_target(r.child("target"), ctx, owner),
        )
        out.append(rule)
    return tuple(out)


def _rule_target(c: Cursor, ctx: _RuleContext, owner: str) -> RuleTarget:
    bare = tuple(k.value for k in BARE_TARGETS)
    keyed = tuple(k.value for k in RuleKind if k not in BARE_TARGETS)
    shape = f"{' or '.join(bare)}, or one of {{{': ..., '.join(keyed)}: ...}}"
    if isinstance(c.data, str):
        if c.data not in bare:
            raise c.fail(f"{c.data!r} is not a target: use {shape}")
        return RuleTarget(RuleKind(c.data))
    if not isinstance(c.data, dict):
        raise c.fail(f"must be {shape}")
    kinds = [k for k in c.data if k in keyed]
    if len(kinds) != 1:
        raise c.fail(f"give exactly one of {', '.join(keyed)}")
    kind = RuleKind(kinds[0])
    arg = c.child(kind.value)
    if kind is RuleKind.QUEUE and arg.text() not in ctx.skills:
        raise arg.fail(f"no agent in seats.yaml has skill {arg.data!r}")
    if kind is RuleKind.ROTA and arg.text() not in ctx.rotas:
        known = ", ".join(sorted(ctx.rotas)) or "none"
        raise arg.fail(f"no rota {arg.data!r} in seats.yaml (rotas: {known})")
    if kind is RuleKind.BRANCH:
        if arg.text() not in ctx.branches:
            raise arg.fail(f"no branch {arg.data!r} in routing.yaml")
        if arg.text() == owner:
            raise arg.fail(f"branch {owner!r} cannot send its calls to itself")
    if kind is not RuleKind.NUMBER:
        return RuleTarget(kind, arg.text())
    try:
        number = phone.canonical(arg.text(), ctx.region)
    except phone.NumberError as e:
        raise arg.fail(str(e)) from None
    trunk = c.opt("trunk", None)
    if trunk.data is None:
        if len(ctx.trunks) != 1:
            raise c.fail(
                "an external number needs a trunk: define one under trunks: "
                "(or name it with trunk: when there are several)"
            )
        return RuleTarget(kind, number, next(iter(ctx.trunks)))
    if trunk.text() not in ctx.trunks:
        raise trunk.fail(f"no trunk {trunk.data!r} under trunks:")
    return RuleTarget(kind, number, trunk.text())


def _check_branch_cycles(c: Cursor, branches: Mapping[str, Branch]) -> None:
    """Refuse {branch: ...} rules that can lead a call round in a circle."""
    edges = {
        name: {r.target.arg for r in b.rules if r.target.kind is RuleKind.BRANCH}
        for name, b in branches.items()
    }

    def walk(name: str, path: tuple[str, ...]) -> None:
        for nxt in sorted(edges[name]):
            if nxt in path:
                loop = " -> ".join((*path[path.index(nxt) :], nxt))
                raise c.child(path[0]).child("rules").fail(f"branch rules go round: {loop}")
            walk(nxt, (*path, nxt))

    for name in branches:
        walk(name, (name,))


def _menu(c: Cursor, branches: Mapping[str, Branch], languages: tuple[str, ...]) -> Menu:
    nodes: dict[str, MenuNode] = {}
    raw = c.child("nodes")
    for nid, n in raw.items():
        options: dict[str, Target] = {}
        for key, t in n.child("options").items():
            if len(key) != 1 or key not in VALID_KEYS:
                raise t.fail(f"key {key!r} is not one of 0-9, * or #")
            options[key] = _target(t, raw, branches, languages)
        nodes[nid] = MenuNode(
            id=nid,
            prompt=n.child("prompt").text(),
            options=options,
            on_failure=_target(n.child("on_failure"), raw, branches, languages),
            timeout_seconds=n.opt("timeout_seconds", 5).number(),
            max_attempts=(attempts := n.opt("max_attempts", 3).integer(1, 20)),
            reprompt=n.opt("reprompt", "").text(),
            max_timeouts=n.opt("max_timeouts", 0).integer(0, attempts),
            phrases=_phrases(n.opt("speech", {}), options, languages),
        )
    start = c.child("start")
    if start.text() not in nodes:
        raise start.fail(f"start node {start.data!r} is not defined under nodes")
    menu = Menu(start.text(), nodes)
    unreachable = sorted(set(nodes) - menu.reachable())
    if unreachable:
        raise raw.child(unreachable[0]).fail(f"menu node {unreachable[0]!r} is unreachable")
    return menu


MAX_PHRASE_CHARS = 100  # Twilio's limit for one speech hint
MAX_PHRASES = 500  # per node and language: Twilio's limit for the hints of one <Gather>


_RECOGNISER_TOKEN = re.compile(r"<.*>|\[.*\]")  # vosk's <eps>, [unk]: no words to say


def _phrases(
    c: Cursor, options: Mapping[str, Target], languages: tuple[str, ...]
) -> dict[str, dict[str, tuple[str, ...]]]:
    """Optional `speech:` of a menu node: {language: {key: [phrase, ...]}} (speech input)."""
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for lang, by_key in c.items():
        if lang not in languages:
            raise by_key.fail(f"language {lang!r} is not in site.languages")
        keyed: dict[str, tuple[str, ...]] = {}
        owner: dict[str, str] = {}  # each phrase (as matched: fold_phrase) -> key
        for key, said in by_key.items():
            if key not in options:
                raise said.fail(f"key {key!r} is not an option of this node")
            items = said.seq() if isinstance(said.data, list) else [said]
            phrases = tuple(p.text().strip() for p in items)
            for p, text in zip(items, phrases, strict=True):
                if not text or len(text) > MAX_PHRASE_CHARS or not text.isprintable():
                    raise p.fail(f"a phrase is 1 to {MAX_PHRASE_CHARS} printable characters")
                heard = " ".join(text.casefold().split())
                if any(_RECOGNISER_TOKEN.fullmatch(w) for w in heard.split()):
                    raise p.fail(f"{text!r}: <...> and [...] are the recogniser's own tokens")
                # as a recognised phrase is matched: without case, spaces or punctuation
                folded = fold_phrase(text)
                if not folded:
                    raise p.fail(f"{text!r} has no letter or digit: nothing said could match it")
                if owner.setdefault(folded, key) != key:
                    raise p.fail(
                        f"{text!r} is a phrase of key {owner[folded]!r} too "
                        "(compared without case, spaces or punctuation)"
                    )
            keyed[key] = phrases
        if sum(len(p) for p in keyed.values()) > MAX_PHRASES:
            raise by_key.fail(f"more than {MAX_PHRASES} phrases")
        out[lang] = keyed
    return out


def _target(
    c: Cursor, nodes: Cursor, branches: Mapping[str, Branch], languages: tuple[str, ...]
) -> Target:
    with c.reason():
        t = parse_target(c.text())
    if t.kind is TargetKind.MENU and t.arg not in (nodes.data or {}):
        raise c.fail(f"unknown target {t}: no menu node {t.arg!r}")
    if t.kind is TargetKind.ROUTE and t.arg not in branches:
        raise c.fail(f"unknown target {t}: no branch {t.arg!r} in routing.yaml")
    if t.kind is TargetKind.LANGUAGE and t.arg not in languages:
        raise c.fail(f"unknown target {t}: language {t.arg!r} not in site.languages")
    return t


def _prompts(
    c: Cursor, menu: Menu, languages: tuple[str, ...], extra: tuple[str, ...] = ()
) -> dict[str, dict[str, str]]:
    prompts: dict[str, dict[str, str]] = {}
    for name, texts in c.child("prompts").items():
        if not NAME.fullmatch(name):  # a sound file's name: hotline/<language>/<name>
            raise texts.fail(f"prompt name {name!r} is not {NAME_RULE}")
        prompts[name] = {}
        for lang, t in texts.items():
            if lang not in languages:
                raise t.fail(f"language {lang!r} is not in site.languages")
            # spoken (espeak-ng) and sent to Twilio's <Say>: line feeds only
            prompts[name][lang] = t.line(MAX_PROMPT_CHARS, allowed="\n")
        missing = [lang for lang in languages if lang not in prompts[name]]
        if missing:
            raise texts.fail(f"no text for language(s) {missing}")
    needed = {n.prompt for n in menu.nodes.values()} | set(REQUIRED_PROMPTS) | set(EDGE_PROMPTS)
    needed |= {n.reprompt for n in menu.nodes.values() if n.reprompt}
    needed |= set(extra)
    for name in sorted(needed - set(prompts)):
        raise c.child("prompts").fail(f"prompt {name!r} is used but not defined", f"prompts.{name}")
    return prompts


# Prompts the dialplan plays around routing (config/asterisk/extensions.conf).
EDGE_PROMPTS = (
    "connecting",
    "callback_offer",
    "callback_confirm",
    "callback_at",
    "voicemail",
    "goodbye",
    "emergency",
    "closed",
    "busy",
    "case_opened",  # an after-hours complaint: "your case number is", then its digits
    *(f"digit_{d}" for d in range(10)),
)


def load_config(directory: str | Path, env: Mapping[str, str] | None = None) -> HotlineConfig:
    """Read and validate a config directory (callbacks.yaml and cases.yaml included). `env` may
    override the database URL and the data directory."""
    env = env or {}
    d = Path(directory)
    try:
        found = d.is_dir()
    except (OSError, ValueError) as e:  # a name too long, a NUL: no directory at all
        reason = getattr(e, "strerror", None) or str(e)
        raise ConfigError(repr(str(d)[:60]), "", f"not a usable directory name: {reason}") from None
    if not found:
        raise ConfigError(str(d), "", "config directory not found")
    raw = {}
    for name in FILES:  # each file's shape (ivr.config.schema), then the meaning below
        raw[name] = read_yaml(d, name)
        check_file(name, raw[name])
    files = {name: Cursor(name, data) for name, data in raw.items()}
    main = files["hotline.yaml"]
    site = _site(main)
    calendar = _calendar(files["calendar.yaml"], site.tz)
    roster = _roster(files["seats.yaml"], calendar)
    policy, staffing, trunks = _policy(files["routing.yaml"], roster, site.region)
    _check_open_branches(files["calendar.yaml"], policy.branches)
    menu = _menu(files["menu.yaml"], policy.branches, site.languages)
    survey = parse_survey(main.opt("survey", None), (*policy.branches, OPERATOR_BRANCH))
    survey_prompts = SURVEY_PROMPTS if survey.enabled else ()
    prompts = _prompts(files["prompts.yaml"], menu, site.languages, survey_prompts)
    callbacks = load_callbacks_config(d, site.tz, policy.branches, site.region)
    cases = load_cases_config(d, callbacks.rules, policy.branches)
    data_dir = Path(env.get(ENV_DATA_DIR) or "var").resolve()
    _check_data_dir(data_dir)
    file_url = main.opt("database", {}).opt("url", None)  # asked even when env overrides
    url = env.get(ENV_DATABASE_URL) or file_url.text()
    _check_database_url(url, file_url if not env.get(ENV_DATABASE_URL) else None)
    sip = main.child("sip")
    ami = main.child("ami")
    _no_secret(ami, "secret", ENV_AMI_SECRET)
    _no_secret(sip, "seat_password", ENV_SEAT_PASSWORD)
    for name in (ENV_AMI_SECRET, ENV_SEAT_PASSWORD):
        given = env.get(name, "").strip()  # empty: generated in the data directory
        if given and (reason := secret_problem(given)) is not None:
            raise ConfigError("environment", name, reason)
    if (reason := web_secret_problem(env.get(ENV_WEB_SECRET, "").strip())) is not None:
        raise ConfigError("environment", ENV_WEB_SECRET, reason)
    backup_section = main.opt("backup", None)
    try:
        backup = parse_backup(backup_section.data, data_dir)  # refuses unknown keys itself
    except BackupConfigError as e:
        item = f"backup.{e.item}" if e.item else "backup"
        raise ConfigError("hotline.yaml", item, e.reason) from e
    backup_section.accept_all()
    config = HotlineConfig(
        directory=d.resolve(),
        site=site,
        database_url=_resolve_sqlite(url, data_dir),
        data_dir=data_dir,
        fastagi=_fastagi(main.child("fastagi")),
        ami=AmiSettings(
            ami.child("host").host(),
            ami.child("port").integer(1, MAX_PORT),
            ami.child("username").name(),  # a section of manager.conf
            sweep_seconds=ami.opt("sweep_seconds", AmiSettings.sweep_seconds).integer(5, 86_400),
            journal=_journal(ami.opt("journal", DEFAULT_JOURNAL), data_dir),
        ),
        sip=SipSettings(
            sip.child("host").asterisk_host(),
            sip.child("port").integer(1, MAX_PORT),
            sip.opt("seat_contacts", "register").choice(("static", "register")),
            sip.opt("seat_port_base", 5090).integer(1, MAX_PORT - len(roster.agents)),
        ),
        web=_web(main.child("web"), site),
        calendar=calendar,
        roster=roster,
        policy=policy,
        staffing=staffing,
        menu=menu,
        prompts=prompts,
        callbacks=callbacks,
        backup=backup,
        admission=_admission(main.opt("admission", {})),
        twilio=parse_twilio(main.opt("twilio", None), site.languages, site.region),
        survey=survey,
        speech=parse_speech(main.opt("speech", None), site.languages),
        cases=cases,
        trunks=trunks,
    )
    _check_listeners(config)
    for cursor in files.values():
        cursor.check_unknown()
    return config


WILDCARD_HOSTS = ("0.0.0.0", "::")  # a listener there takes the port on every address


def _check_listeners(cfg: HotlineConfig) -> None:
    """The TCP listeners of one machine (FastAGI, Asterisk's AMI, the web app, the speech
    service when on) on one port: only one could bind it, the others would fail at start."""
    listeners = [
        ("fastagi.port", cfg.fastagi.host, cfg.fastagi.port),
        ("ami.port", cfg.ami.host, cfg.ami.port),
        ("web.port", cfg.web.host, cfg.web.port),
    ]
    if cfg.speech.enabled:
        listeners += [
            ("speech.audio_port", cfg.speech.host, cfg.speech.audio_port),
            ("speech.control_port", cfg.speech.host, cfg.speech.control_port),
        ]
    for i, (item, host, port) in enumerate(listeners):
        for other, other_host, other_port in listeners[:i]:
            shared = host == other_host or host in WILDCARD_HOSTS or other_host in WILDCARD_HOSTS
            if port == other_port and shared:
                raise ConfigError(
                    "hotline.yaml", item, f"port {port} is also {other}'s on {other_host}: "
                    "two listeners cannot share one",
                )  # fmt: skip


def _check_open_branches(c: Cursor, branches: Mapping[str, Branch]) -> None:
    """A holiday's `open_branches` may name only branches of routing.yaml (or operator)."""
    for h in c.opt("holidays", []).seq():
        for b in h.opt("open_branches", []).seq():
            if b.text() not in branches and b.text() != OPERATOR_BRANCH:
                raise b.fail(f"no branch {b.data!r} in routing.yaml")


# Directories of the system that a data directory must not be (it is made 0700): the
# top-level ones of the Filesystem Hierarchy Standard and the shared ones below them.
SYSTEM_DIRS = frozenset(
    {
        *(f"/{d}" for d in (
            "bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "media", "mnt",
            "opt", "proc", "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var",
        )),
        *(f"/usr/{d}" for d in ("bin", "lib", "local", "sbin", "share")),
        *(f"/var/{d}" for d in ("cache", "lib", "local", "log", "opt", "spool", "tmp")),
    }
)  # fmt: skip


def _check_data_dir(data_dir: Path) -> None:
    """Refuse a data directory the hotline must not make 0700 (bootstrap.private_dir):
    the file system's root, or a directory shared by every user (world-writable or
    sticky: /tmp, /var/tmp, /dev/shm), which every command would lock the others out of."""
    try:
        mode = data_dir.stat().st_mode
    except OSError:  # not there yet (made 0700 when first used) or not usable: named then
        return
    if str(data_dir) in SYSTEM_DIRS:  # ./var run from / (a service without a working dir)
        raise ConfigError(
            "environment",
            ENV_DATA_DIR,
            f"{shown(str(data_dir), 80)} is a directory of the system: the hotline makes its "
            "data directory 0700; set HOTLINE_DATA_DIR to a directory of its own "
            "(the default ./var is relative to the working directory)",
        )
    if data_dir == Path(data_dir.anchor) or mode & (stat.S_ISVTX | stat.S_IWOTH):
        raise ConfigError(
            "environment",
            ENV_DATA_DIR,
            f"{shown(str(data_dir), 80)} is the root or a directory shared by every user "
            f"(mode {stat.S_IMODE(mode):o}): the hotline makes its data directory 0700; "
            "name a directory of its own",
        )


def _journal(c: Cursor, data_dir: Path) -> Path:
    """`ami.journal`: a file path (relative to the data directory) that the dialplan
    can take as it is, and not a directory."""
    value = c.text()
    path = Path(value) if value.startswith("/") else data_dir / value
    bad = ".." in path.parts or value.endswith("/") or not value.strip()
    fits = JOURNAL_PATH_RE.fullmatch(str(path))
    if not (bad or fits or value.startswith("/")) and JOURNAL_PATH_RE.fullmatch(f"/{value}"):
        raise ConfigError(  # the value is fine: the data directory under it is not
            "environment",
            ENV_DATA_DIR,
            f"the data directory {shown(str(data_dir), 80)} holds the fallback journal "
            "(ami.journal), so Asterisk's FILE() must take its path: letters, digits "
            "and _ . / + @ : % - only (no spaces)",
        )
    if bad or not fits:
        raise c.fail(
            f"{value!r} is not a file path Asterisk's FILE() takes: letters, digits and "
            "_ . / + @ : % - only (no spaces, no ..), relative to the data directory or absolute"
        )
    if path.is_dir():
        raise c.fail(f"{str(path)!r} is a directory: name the journal file")
    return path


def _no_secret(section: Cursor, key: str, env_name: str) -> None:
    """Secrets never come from committed config: refuse one found there."""
    if isinstance(section.data, dict) and key in section.data:
        raise section.child(key).fail(secret_reason(env_name))


MAX_SECRET_CHARS = 128


def secret_problem(value: str) -> str | None:
    """Why `value` cannot be the AMI secret or the seat password (None: it can). Each
    goes into a line of Asterisk's configuration and of a protocol (AMI's Login, SIP
    digest): a line break, a control character or a space would end or split it.
    The reason never quotes the value.

    >>> secret_problem("Zz09-_.~!"), secret_problem("a\\r\\nAction: Originate")
    (None, 'must be 1 to 128 printable ASCII characters, no spaces')
    """
    if 0 < len(value) <= MAX_SECRET_CHARS and value.isascii() and value.isprintable():
        if " " not in value:
            return None
    return f"must be 1 to {MAX_SECRET_CHARS} printable ASCII characters, no spaces"


MIN_WEB_SECRET_CHARS = 32


def web_secret_problem(value: str) -> str | None:
    """Why `value` cannot be the web app's key (None: it can; empty: one is generated
    in the data directory). The key signs the session cookie and the Twilio calls'
    state: a short one could be found by trying keys offline against one signed
    value. The reason never quotes the value.

    >>> web_secret_problem(""), web_secret_problem("k" * 32)
    (None, None)
    >>> web_secret_problem("hunter2")[:31]
    'must be at least 32 characters '
    """
    if not value or len(value) >= MIN_WEB_SECRET_CHARS:
        return None
    return (
        f"must be at least {MIN_WEB_SECRET_CHARS} characters"
        ' (python3 -c "import secrets; print(secrets.token_urlsafe(48))")'
    )


def _check_database_url(url: str, item: Cursor | None) -> None:
    """A SQLAlchemy URL of one of the two stores (the URL itself is never echoed: it may
    hold a password). `item` is the YAML's; None: HOTLINE_DATABASE_URL gave it."""
    reason = database_url_problem(url)
    if reason is None:
        return
    if item is None:
        raise ConfigError("environment", ENV_DATABASE_URL, reason)
    raise item.fail(reason)


STORES = ("sqlite", "postgresql")


def database_url_problem(url: str, stores: tuple[str, ...] = STORES) -> str | None:
    """Why `url` is no SQLAlchemy URL of one of `stores` (None: it is one). The reason
    never quotes the URL: it may hold a password.

    >>> database_url_problem("sqlite:///x.db"), database_url_problem("postgresql://u@h/db")
    (None, None)
    >>> database_url_problem("mysql://u@h/db")
    "'mysql': the database is SQLite or PostgreSQL"
    >>> database_url_problem("sqlite:///x.db", ("postgresql",))
    "'sqlite': the database is PostgreSQL"
    >>> database_url_problem("x")
    'not a database URL (sqlite:///FILE or postgresql://USER@HOST/DB)'
    >>> database_url_problem("sqlite:///:memory:")
    'an in-memory SQLite database keeps nothing once the process ends: name a file'
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
    except (ArgumentError, ValueError):
        return "not a database URL (sqlite:///FILE or postgresql://USER@HOST/DB)"
    if backend == "sqlite" and backend in stores and _in_memory(parsed):
        return "an in-memory SQLite database keeps nothing once the process ends: name a file"
    if backend in stores:
        return None
    names = " or ".join({"sqlite": "SQLite", "postgresql": "PostgreSQL"}[s] for s in stores)
    return f"{backend[:20]!r}: the database is {names}"


def _in_memory(url: URL) -> bool:
    """`sqlite://`, `sqlite:///:memory:`, or a URI database opened with mode=memory."""
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _resolve_sqlite(url: str, data_dir: Path) -> str:
    """Make a relative sqlite path relative to the data directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return f"{prefix}{data_dir / url[len(prefix) :]}"
    return url
