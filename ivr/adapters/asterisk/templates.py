"""Asterisk configuration rendered from the templates in config/asterisk/.

`AsteriskSettings` is the plain input of the renderer. The templates use
`@{name}` placeholders (so Asterisk's own `${VAR}` syntax passes through
untouched); every telephony name of `names.py` is available lower-cased, e.g.
`@{context_inbound}` or `@{var_route_kind}`, next to the values derived from the
settings. Repeated sections (one endpoint per seat, one queue per branch) are
generated here and inserted whole.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ivr.adapters.asterisk import names
from ivr.adapters.asterisk.errors import TemplateError
from ivr.config.hotline import JOURNAL_PATH_RE, MAX_IN_IVR, Admission
from ivr.config.hotline import MAX_PRIORITY as MAX_QUEUE_WEIGHT
from ivr.config.reader import NAME
from ivr.config.twilio import SIP_QUEUE_PREFIX

TEMPLATE_DIR = Path(__file__).resolve().parents[3] / "config" / "asterisk"
TEMPLATE_FILES = (
    "modules.conf",
    "logger.conf",
    "pjsip.conf",
    "rtp.conf",
    "manager.conf",
    "cdr.conf",
    "queues.conf",
    "voicemail.conf",
    "extensions.conf",
)

_EXTEN_RE = re.compile(r"[0-9*#+]{1,32}")
_AGI_ARG_RE = re.compile(r"[A-Za-z0-9_./+@:=%-]+")  # no ',' (AGI splits on it), no '$', ...
_ENV_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_ENV_VALUE_BAD = re.compile(r"[\r\n$\\;]")  # line breaks, expansion, escapes, comments


@dataclass(frozen=True)
class SeatSpec:
    """A seat (PJSIP endpoint) and its position N in seats.yaml, counted from 1."""

    name: str
    position: int


@dataclass(frozen=True)
class AgiScriptExtension:
    """An inbound extension that runs the IVR as a process-per-call AGI script.

    `command` is the program and its arguments as Asterisk sees them (inside its
    root, see agi_mounts.py); `env` is put into Asterisk's environment just before
    the AGI starts, which the script inherits. After the script the call follows
    the hotline extension's own route logic. Rendered only when set.
    """

    extension: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AsteriskSettings:
    """Everything the Asterisk templates need; plain data, no clients."""

    hotline_extension: str
    seats: tuple[SeatSpec, ...]
    queues: tuple[str, ...]
    seat_password: str
    ami_secret: str
    languages: tuple[str, ...] = ("zh-CN", "en")
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    seat_contacts: Literal["static", "register"] = "static"
    seat_port_base: int = 5090
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "hotline"
    fastagi_host: str = "127.0.0.1"
    fastagi_port: int = 4573
    queue_ring_seconds: int = 20
    queue_max_wait_seconds: int = 120
    fallback_queue_seconds: int = 20
    # Where the fallback context appends its journal, as Asterisk sees the path
    # (hotline.yaml ami.journal; journal.py). Asterisk must be able to create it.
    fallback_journal: str = "/var/spool/asterisk/hotline/fallback-journal"
    voicemail_max_seconds: int = 60
    max_in_ivr: int = Admission.max_in_ivr  # admission control: callers in the IVR at once
    max_told_busy: int = Admission.max_told_busy  # turned away, hearing the busy prompt at once
    queue_weights: Mapping[str, int] = field(default_factory=dict)  # queue -> weight (>= 0)
    # Networks Twilio's <Dial><Sip> legs come from (twilio.sip_source_ips): with any,
    # an endpoint identified by them and the CONTEXT_TWILIO dialplan are rendered.
    twilio_sources: tuple[str, ...] = ()
    # SIP trunks for external numbers (routing.yaml trunks): name -> (host, port),
    # each rendered as the endpoint and aor trunk-<name>.
    trunks: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    baseline_extension: str = "4999"
    menu_bench_extension: str = "4996"  # the dialplan-only menu (benchmarks)
    menu_start_prompt: str = "welcome"  # the menu's first prompt ...
    menu_start_timeout: float = 5.0  # ... and its wait for a key, seconds
    selftest_extensions: bool = False
    agi_script: AgiScriptExtension | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def default_language(self) -> str:
        return self.languages[0] if self.languages else "en"

    def seat_port(self, seat: SeatSpec) -> int:
        """UDP port where a static seat phone (a SIPp UAS in tests) listens."""
        return self.seat_port_base + seat.position


# --- value checks -----------------------------------------------------------


def conf_value(value: str, what: str) -> str:
    """A value safe inside an Asterisk .conf line: no CR/LF, ';' escaped."""
    if "\r" in value or "\n" in value:
        raise TemplateError(f"{what} contains a line break: {value!r}")
    return value.replace(";", r"\;")


def check_name(value: str, what: str) -> str:
    """A seat, queue or user name usable as a section name and SIP user part."""
    if not NAME.fullmatch(value):
        raise TemplateError(f"{what} {value!r} is not a plain name ([A-Za-z0-9_.-], max 64)")
    return value


def check_settings(cfg: AsteriskSettings) -> None:
    """Refuse settings that would render a broken or injectable configuration."""
    if not _EXTEN_RE.fullmatch(cfg.hotline_extension):
        raise TemplateError(f"hotline_extension {cfg.hotline_extension!r} is not a dial string")
    for what in ("baseline_extension", "menu_bench_extension"):
        if not _EXTEN_RE.fullmatch(getattr(cfg, what)):
            raise TemplateError(f"{what} {getattr(cfg, what)!r} is not a dial string")
    for net in cfg.twilio_sources:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise TemplateError(f"twilio source {net!r} is not an IP network") from None
    for queue, weight in cfg.queue_weights.items():
        if queue not in cfg.queues or not 0 <= weight <= MAX_QUEUE_WEIGHT:
            raise TemplateError(f"queue weight {queue!r}: {weight!r} is not a weight of a queue")
    if not 1 <= cfg.max_in_ivr <= MAX_IN_IVR:
        raise TemplateError(f"max_in_ivr {cfg.max_in_ivr!r} is not between 1 and {MAX_IN_IVR}")
    if not 0 <= cfg.max_told_busy <= MAX_IN_IVR:
        raise TemplateError(
            f"max_told_busy {cfg.max_told_busy!r} is not between 0 and {MAX_IN_IVR}"
        )
    if cfg.seat_contacts not in ("static", "register"):
        raise TemplateError(f"seat_contacts {cfg.seat_contacts!r} is not 'static' or 'register'")
    for seat in cfg.seats:
        check_name(seat.name, "seat")
        if seat.position < 1:
            raise TemplateError(f"seat {seat.name!r} has position {seat.position}, expected >= 1")
    for queue in cfg.queues:
        check_name(queue, "queue")
    if names.QUEUE_OPERATOR not in cfg.queues:
        raise TemplateError(f"queues lack the operator queue {names.QUEUE_OPERATOR!r}")
    check_name(cfg.ami_username, "ami username")
    for lang in cfg.languages:
        check_name(lang, "language")
    for host, what in ((cfg.sip_host, "sip host"), (cfg.fastagi_host, "fastagi host")):
        check_name(host, what)
    for trunk, (host, port) in cfg.trunks.items():
        check_name(trunk, "trunk")
        check_name(host, f"trunk {trunk} host")
        if not 1 <= port <= 65535:
            raise TemplateError(f"trunk {trunk} port {port!r} is not a UDP port")
    conf_value(cfg.seat_password, "seat_password")
    conf_value(cfg.ami_secret, "ami secret")
    if not JOURNAL_PATH_RE.fullmatch(cfg.fallback_journal) or "/../" in cfg.fallback_journal + "/":
        raise TemplateError(
            f"fallback journal {cfg.fallback_journal!r} is not an absolute path of "
            "A-Z a-z 0-9 _ . / + @ : % -"
        )
    if cfg.agi_script is not None:
        check_agi_script(cfg.agi_script, (cfg.hotline_extension, cfg.baseline_extension))


def check_agi_script(spec: AgiScriptExtension, taken: tuple[str, ...]) -> None:
    """The AGI-script extension: a free dial string, plain absolute command, safe env."""
    if not _EXTEN_RE.fullmatch(spec.extension) or spec.extension in taken:
        raise TemplateError(f"agi_script extension {spec.extension!r} is not a free dial string")
    if not spec.command or not spec.command[0].startswith("/"):
        raise TemplateError(f"agi_script command {spec.command!r} needs an absolute program")
    for arg in spec.command:
        if not _AGI_ARG_RE.fullmatch(arg):
            raise TemplateError(f"agi_script argument {arg!r} has characters AGI() would mangle")
    for name, value in spec.env.items():
        if not _ENV_NAME_RE.fullmatch(name):
            raise TemplateError(f"agi_script environment name {name!r} is not A-Z0-9_")
        if _ENV_VALUE_BAD.search(value) or value != value.strip():
            raise TemplateError(f"agi_script {name} has a line break, $, \\, ; or edge spaces")


# --- rendering --------------------------------------------------------------


class ConfTemplate(string.Template):
    """`@{name}` placeholders only; `@@` is a literal `@`; `${...}` is left alone."""

    delimiter = "@"
    pattern = r"""
    @(?:
      (?P<escaped>@) |
      \{(?P<braced>[a-z_][a-z0-9_]*)\} |
      (?P<named>(?!x)x) |
      (?P<invalid>(?!x)x)
    )
    """  # type: ignore[assignment]


def name_values() -> dict[str, str]:
    """Every constant of names.py, keyed by its lower-cased name."""
    return {
        key.lower(): str(value)
        for key, value in vars(names).items()
        if key.isupper() and isinstance(value, str)
    }


def pjsip_seat_sections(cfg: AsteriskSettings) -> str:
    """One authenticated endpoint, auth and aor per seat."""
    password = conf_value(cfg.seat_password, "seat_password")
    blocks = []
    for seat in cfg.seats:
        if cfg.seat_contacts == "static":
            contact = f"sip:{seat.name}@{cfg.sip_host}:{cfg.seat_port(seat)}"
            aor = f"contact={contact}\n"
        else:
            aor = "max_contacts=1\nremove_existing=yes\n"
        blocks.append(
            f"[{seat.name}]\ntype=endpoint\ncontext={names.CONTEXT_SEATS}\n"
            "disallow=all\nallow=ulaw,alaw\ndtmf_mode=rfc4733\ndirect_media=no\n"
            f"rtp_symmetric=yes\nauth={seat.name}-auth\naors={seat.name}\n\n"
            f"[{seat.name}-auth]\ntype=auth\nauth_type=userpass\n"
            f"username={seat.name}\npassword={password}\n\n"
            f"[{seat.name}]\ntype=aor\n{aor}"
        )
    return "\n".join(blocks)


def trunk_sections(cfg: AsteriskSettings) -> str:
    """One endpoint and aor per SIP trunk: Dial(PJSIP/<number>@trunk-<name>) sends the
    INVITE to sip:<number>@<host>:<port>. No identify section: the carrier's requests
    are not taken as the trunk's (incoming calls come in as any caller's)."""
    blocks = []
    for trunk, (host, port) in cfg.trunks.items():
        name = names.TRUNK_ENDPOINT_PREFIX + trunk
        blocks.append(
            f"; routing.yaml trunk {trunk!r}: external numbers.\n"
            f"[{name}]\ntype=endpoint\ncontext={names.CONTEXT_TRUNK}\n"
            "disallow=all\nallow=ulaw,alaw\ndtmf_mode=rfc4733\ndirect_media=no\n"
            f"rtp_symmetric=yes\naors={name}\n\n"
            f"[{name}]\ntype=aor\ncontact=sip:{host}:{port}\n"
        )
    return "\n".join(blocks)


def queue_sections(cfg: AsteriskSettings) -> str:
    """One queue per branch plus the operator queue, all inheriting [hotline-queue].

    A queue's `weight` is its branch's priority: an agent in several queues is
    offered first to a caller waiting in the heavier one (an emergency caller
    outranks enquiries waiting for the same agent); inside one queue the caller's
    own priority (QUEUE_PRIO) orders them.
    """
    sections = []
    for queue in cfg.queues:
        weight = cfg.queue_weights.get(queue, 0)
        sections.append(f"[{queue}](hotline-queue)\n" + (f"weight = {weight}\n" if weight else ""))
    return "\n".join(sections)


def selftest_include(cfg: AsteriskSettings) -> str:
    return "include => hotline-selftest" if cfg.selftest_extensions else ""


def selftest_seat_extensions(cfg: AsteriskSettings) -> str:
    """Extension N dials the seat at position N (1-9), for the seat probe 4997."""
    lines = [
        f"exten => {seat.position},1,Dial(PJSIP/{seat.name},10)\n same => n,Hangup()"
        for seat in cfg.seats
        if 1 <= seat.position <= 9
    ]
    return "\n".join(lines)


def agi_script_extension(cfg: AsteriskSettings) -> str:
    """The AGI-script extension (see AgiScriptExtension), or nothing."""
    spec = cfg.agi_script
    if spec is None:
        return ""
    lines = [
        f"; Process-per-call AGI (agi_scripts/hotline.py), then the route logic of "
        f"{cfg.hotline_extension}.",
        f"exten => {spec.extension},1,Set(CHANNEL(accountcode)={names.ACCOUNTCODE_INBOUND})",
        f" same => n,Set({names.VAR_ENTERED}=${{STRFTIME(,,%s.%6q)}})",
        admission_gate(cfg),
        " same => n,Answer()",
        f" same => n,Set({names.VAR_LANGUAGE}={cfg.default_language})",
        *(f" same => n,Set(ENV({name})={value})" for name, value in sorted(spec.env.items())),
        f" same => n,AGI({','.join(spec.command)})",
        f" same => n,Goto({cfg.hotline_extension},decide)",
    ]
    return "\n".join(lines)


def twilio_sections(cfg: AsteriskSettings) -> str:
    """The PJSIP endpoint for Twilio's SIP legs, identified by source network only."""
    if not cfg.twilio_sources:
        return ""
    return "\n".join(
        [
            "; Twilio's <Dial><Sip> legs (hotline.yaml twilio.sip_source_ips).",
            f"[{names.ENDPOINT_TWILIO}]",
            "type = endpoint",
            # by address only: a caller naming itself "twilio" is not Twilio
            "identify_by = ip",
            f"context = {names.CONTEXT_TWILIO}",
            "disallow = all",
            "allow = ulaw,alaw",
            "dtmf_mode = rfc4733",
            "direct_media = no",
            "rtp_symmetric = yes",
            "",
            f"[{names.ENDPOINT_TWILIO}-identify]",
            "type = identify",
            f"endpoint = {names.ENDPOINT_TWILIO}",
            *(f"match = {net}" for net in cfg.twilio_sources),
        ]
    )


def twilio_context(cfg: AsteriskSettings) -> str:
    """Twilio's legs: sip:queue-<branch>@ joins that queue, sip:<seat>@ rings that seat.

    One extension per known queue and seat, so nothing else is reachable. The account
    code carries the Twilio CallSid (X-Twilio-CallSid, letters and digits only): the
    AMI events of the leg then put the seat that answers on that call's record.
    """
    if not cfg.twilio_sources:
        return ""
    sid = "${FILTER(A-Za-z0-9,${PJSIP_HEADER(read,X-Twilio-CallSid)})}"
    head = [
        f" same => n,Set(CHANNEL(accountcode)={names.ACCOUNTCODE_TWILIO_PREFIX}{sid})",
        f" same => n,Set({names.VAR_LANGUAGE}={cfg.default_language})",
    ]
    lines = [f"[{names.CONTEXT_TWILIO}]"]
    for queue in cfg.queues:
        lines += [
            f"exten => {SIP_QUEUE_PREFIX}{queue},1,NoOp(Twilio leg for queue {queue})",
            *head,
            f" same => n,Queue({queue},r,,,{cfg.queue_max_wait_seconds})",
            " same => n,Hangup()",
        ]
    for seat in cfg.seats:
        lines += [
            f"exten => {seat.name},1,NoOp(Twilio leg for seat {seat.name})",
            *head,
            f" same => n,Dial(PJSIP/{seat.name},{cfg.queue_ring_seconds})",
            " same => n,Hangup()",
        ]
    return "\n".join(lines)


# What the fallback journal's lines hold, as dialplan expressions: every value
# FILTERed to its characters (and cut to a length) or base64, so nothing a caller
# sends can break a line or a field (journal.py parses them back).
_NOW = "${STRFTIME(,,%s.%6q)}"
_UID = "${FILTER(-.0-9A-Za-z_,${UNIQUEID}):0:64}"
_ENTERED = f"${{FILTER(.0-9,${{{names.VAR_ENTERED}}}):0:24}}"
_CALLER = "${FILTER(0-9A-Za-z+*#,${CALLERID(num)}):0:64}"  # as the fallback UserEvent's
_NAME = "${BASE64_ENCODE(${CALLERID(name):0:1024})}"
_CHANNEL = "${FILTER(-.0-9A-Za-z_/@,${CHANNEL(name)}):0:128}"
_LINKED = "${FILTER(-.0-9A-Za-z_,${CHANNEL(linkedid)}):0:64}"
# In a hangup handler Asterisk has no cause yet (0 for a BYE too): the journal
# also says who hung up (the hang-up source is the caller's own channel, or none).
_CAUSE = "${FILTER(0-9,${HANGUPCAUSE}):0:4}"
_SIDE = (
    f'${{IF($["${{CHANNEL(hangupsource)}}" = "${{CHANNEL(name)}}"]'
    f"?{names.JOURNAL_CALLER_HUNG_UP}:{names.JOURNAL_SYSTEM_HUNG_UP})}}"
)
JOURNAL_FIELDS = {
    names.JOURNAL_START: (_UID, _NOW, _ENTERED, _CALLER, _NAME, _CHANNEL),
    names.JOURNAL_VOICEMAIL: (_UID, _NOW),
    names.JOURNAL_ANSWERED: (_LINKED, _NOW, _CHANNEL),  # on the operator's channel
    names.JOURNAL_END: (_UID, _NOW, _ENTERED, _CAUSE, _SIDE, _CALLER),
}


def journal_write(cfg: AsteriskSettings, kind: str) -> str:
    """The application that appends one journal line of `kind` (FILE in append and
    line mode, Unix line ends: without the format FILE() refuses a new file)."""
    line = names.JOURNAL_SEPARATOR.join((kind, *JOURNAL_FIELDS[kind]))
    return f"Set(FILE({cfg.fallback_journal},,,al,u)={line})"


def admission_gate(cfg: AsteriskSettings) -> str:
    """The dialplan lines that count the caller into the IVR and turn it away when
    more than the global `names.GLOBAL_MAX_IN_IVR` are there already (see
    names.GROUP_CATEGORY)."""
    group = f"{names.GROUP_IN_IVR}@{names.GROUP_CATEGORY}"
    return "\n".join(
        [
            f" same => n,Set(GROUP({names.GROUP_CATEGORY})={names.GROUP_IN_IVR})",
            f" same => n,GotoIf($[${{GROUP_COUNT({group})}} > ${{{names.GLOBAL_MAX_IN_IVR}}}]"
            f"?{names.CONTEXT_SHED},s,1)",
        ]
    )


def template_values(cfg: AsteriskSettings) -> dict[str, str]:
    """The full placeholder mapping for one settings object."""
    values = name_values()
    values.update(
        hotline_extension=cfg.hotline_extension,
        baseline_extension=cfg.baseline_extension,
        menu_bench_extension=cfg.menu_bench_extension,
        menu_start_prompt=check_name(cfg.menu_start_prompt, "menu start prompt"),
        menu_start_timeout=f"{cfg.menu_start_timeout:g}",
        sip_host=cfg.sip_host,
        sip_port=str(cfg.sip_port),
        ami_host=cfg.ami_host,
        ami_port=str(cfg.ami_port),
        ami_username=cfg.ami_username,
        ami_secret=conf_value(cfg.ami_secret, "ami secret"),
        ami_event_filters="\n".join(
            f"eventfilter(action(include),name({event})) =" for event in names.AMI_EVENTS
        ),
        fastagi=f"agi://{cfg.fastagi_host}:{cfg.fastagi_port}",
        default_language=cfg.default_language,
        queue_ring_seconds=str(cfg.queue_ring_seconds),
        queue_max_wait_seconds=str(cfg.queue_max_wait_seconds),
        fallback_queue_seconds=str(cfg.fallback_queue_seconds),
        fallback_journal_start=journal_write(cfg, names.JOURNAL_START),
        fallback_journal_voicemail=journal_write(cfg, names.JOURNAL_VOICEMAIL),
        fallback_journal_answered=journal_write(cfg, names.JOURNAL_ANSWERED),
        fallback_journal_end=journal_write(cfg, names.JOURNAL_END),
        voicemail_max_seconds=str(cfg.voicemail_max_seconds),
        max_in_ivr=str(cfg.max_in_ivr),
        max_told_busy=str(cfg.max_told_busy),
        admission_gate=admission_gate(cfg),
        twilio_sections=twilio_sections(cfg),
        twilio_context=twilio_context(cfg),
        busy_prompts="&".join(f"{names.SOUNDS_SUBDIR}/{lang}/busy" for lang in cfg.languages),
        seat_sections=pjsip_seat_sections(cfg),
        trunk_sections=trunk_sections(cfg),
        queue_sections=queue_sections(cfg),
        selftest_include=selftest_include(cfg),
        agi_script_extension=agi_script_extension(cfg),
        selftest_seat_extensions=selftest_seat_extensions(cfg),
    )
    values.update({k: conf_value(v, f"extra value {k}") for k, v in cfg.extra.items()})
    return values


def render_text(template: str, values: Mapping[str, str], source: str) -> str:
    try:
        return ConfTemplate(template).substitute(values)
    except KeyError as exc:
        raise TemplateError(f"{source}: unknown placeholder @{{{exc.args[0]}}}") from exc
    except ValueError as exc:
        raise TemplateError(f"{source}: {exc}") from exc


def render_files(
    filenames: Iterable[str], values: Mapping[str, str], template_dir: Path | None = None
) -> dict[str, str]:
    """Render the named templates with `values`: file name -> text."""
    directory = template_dir or TEMPLATE_DIR
    rendered = {}
    for filename in filenames:
        path = directory / filename
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TemplateError(f"cannot read template {path}: {exc}") from exc
        rendered[filename] = render_text(text, values, str(path))
    return rendered


def render_all(cfg: AsteriskSettings, template_dir: Path | None = None) -> dict[str, str]:
    """Render every template: file name -> text. Pure apart from reading the templates."""
    check_settings(cfg)
    return render_files(TEMPLATE_FILES, template_values(cfg), template_dir)


# --- minimal YAML reading (to be replaced by the validated config) ----------


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: expected a mapping at the top level")
    return data


@functools.cache
def _process_secret(kind: str) -> str:
    """A random secret for this process (the YAML holds none; see ivr.adapters.files)."""
    return secrets.token_urlsafe(18)


def settings_from_yaml_dir(path: Path | str) -> AsteriskSettings:
    """Read hotline.yaml, seats.yaml and routing.yaml minimally (no validation).

    Secrets are not in the YAML: the AMI secret and the seat password are random,
    the same for every call in this process.
    """
    directory = Path(path)
    hotline = _load_yaml(directory / "hotline.yaml")
    seats_doc = _load_yaml(directory / "seats.yaml")
    routing = _load_yaml(directory / "routing.yaml")
    site, sip = hotline.get("site", {}), hotline.get("sip", {})
    ami, agi = hotline.get("ami", {}), hotline.get("fastagi", {})
    overflow, admission = routing.get("overflow", {}), hotline.get("admission", {})
    seats = tuple(
        SeatSpec(name=str(agent["seat"]), position=index)
        for index, agent in enumerate(seats_doc.get("agents", []), start=1)
    )
    queues = tuple(str(b) for b in routing.get("branches", {})) + (names.QUEUE_OPERATOR,)
    trunks = {
        str(name): (str(t.get("host", "")), int(t.get("port", 5060)))
        for name, t in (routing.get("trunks") or {}).items()
    }
    return AsteriskSettings(
        hotline_extension=str(site.get("hotline_extension", "4000")),
        seats=seats,
        queues=tuple(dict.fromkeys(queues)),
        languages=tuple(str(x) for x in site.get("languages", ["zh-CN", "en"])),
        sip_host=str(sip.get("host", "127.0.0.1")),
        sip_port=int(sip.get("port", 5060)),
        seat_contacts=sip.get("seat_contacts", "static"),
        seat_port_base=int(sip.get("seat_port_base", 5090)),
        seat_password=_process_secret("seat_password"),
        ami_host=str(ami.get("host", "127.0.0.1")),
        ami_port=int(ami.get("port", 5038)),
        ami_username=str(ami.get("username", "hotline")),
        ami_secret=_process_secret("ami_secret"),
        fastagi_host=str(agi.get("host", "127.0.0.1")),
        fastagi_port=int(agi.get("port", 4573)),
        queue_ring_seconds=int(overflow.get("ring_seconds", 20)),
        queue_max_wait_seconds=int(overflow.get("max_wait_seconds", 120)),
        max_in_ivr=int(admission.get("max_in_ivr", Admission.max_in_ivr)),
        max_told_busy=int(admission.get("max_told_busy", Admission.max_told_busy)),
        trunks=trunks,
    )
