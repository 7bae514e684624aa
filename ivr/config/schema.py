"""The shape of every config file, declared once: pydantic models over the raw YAML.

`check_file(name, data)` runs before the loaders turn a file into domain objects.
It refuses what no loader may see: a key nobody reads (`oncal:` for `oncall:`,
with the nearest known key as a suggestion), a value of the wrong type, a missing
item, a choice off its list. The loaders (hotline.py, callbacks.py, cases.py...)
then check meaning: time windows, time zones, references between files. Errors
are ConfigError(file, path, reason) as everywhere in this package. The types and
the strict base are in shapes.py.

`json_schema(name)` is the same models as JSON Schema (`hotline config schema`),
for editors: windows and menu keys carry a pattern there, and choices an enum.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Discriminator, Field, Tag, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError

from ivr.config.shapes import (
    WEB_LOCALES,
    Day,
    Days,
    MenuKey,
    OneOf,
    Phrases,
    Section,
    Text,
    Weekday,
    Windows,
    config_error,
    secret_reason,
)
from ivr.domain.callbacks import RuleKind
from ivr.domain.cases import TimeBasis
from ivr.domain.routing import RouteKind
from ivr.domain.shifts import Role

__all__ = ["FILES", "WEB_LOCALES", "check_file", "json_schema"]


# --- hotline.yaml ---------------------------------------------------------------------


class SiteModel(Section):
    name: Text
    timezone: Text = Field(description="IANA time zone, e.g. Asia/Shanghai")
    default_language: Text
    languages: list[Text]
    hotline_extension: Text
    region: Text | None = Field(None, description="ISO 3166 alpha-2, e.g. CN")


class DatabaseModel(Section):
    url: Text | None = None


class FastAgiModel(Section):
    host: Text
    port: int
    max_dialogs: int = 2000
    env_timeout_seconds: float = 5.0
    reply_timeout_seconds: float = 120.0
    max_line_bytes: int = 8192


class AdmissionModel(Section):
    max_in_ivr: int = 200
    max_told_busy: int = 50


class AmiModel(Section):
    refused: ClassVar[dict[str, str]] = {"secret": secret_reason("HOTLINE_AMI_SECRET")}
    host: Text
    port: int
    username: Text
    sweep_seconds: int = 300
    journal: Text = Field(
        "journal/fallback.log",
        description="the fallback journal Asterisk appends to and the service replays "
        "(relative to the data directory, or absolute)",
    )


class SipModel(Section):
    refused: ClassVar[dict[str, str]] = {"seat_password": secret_reason("HOTLINE_SEAT_PASSWORD")}
    host: Text
    port: int
    seat_contacts: Annotated[str, OneOf(("static", "register"))] = "register"
    seat_port_base: int = 5090


class WebModel(Section):
    host: Text
    port: int
    locale: Annotated[str, OneOf(WEB_LOCALES)] | None = None


class BackupModel(Section):
    directory: Text = "backups"
    keep: int = 14
    every: Text | None = Field(None, description="30m, 24h or 7d")
    daily: Text | None = Field(None, description='"HH:MM" in the site time zone')


class TwilioModel(Section):
    refused: ClassVar[dict[str, str]] = {
        "auth_token": "secrets do not belong in committed config: set "
        "HOTLINE_TWILIO_AUTH_TOKEN or put the token in <data directory>/"
        "secrets/twilio-auth-token (mode 0600)"
    }
    account_sid: Text
    numbers: list[Text]
    base_url: Text
    sip_domain: Text
    say_languages: dict[Text, Text] = {}
    speech_languages: dict[Text, Text] = {}
    record_seconds: int = 120
    dialer: bool = False
    refuse_prefixes: list[Text] | None = ["+86"]  # null: none refused
    sip_source_ips: list[Text] | None = None


class ScaleModel(Section):
    low: int = 1
    high: int = 5


class SurveyModel(Section):
    enabled: bool = True
    scale: ScaleModel | None = None
    satisfied_from: int = 4
    not_resolved_key: Text = "0"
    timeout_seconds: float = 6.0
    attempts: int = 2
    branches: dict[Text, bool] = {}


class SpeechModel(Section):
    enabled: bool = True
    min_confidence: float = 0.6
    host: Text = "127.0.0.1"
    audio_port: int = 4580
    control_port: int = 4581
    connect_timeout_seconds: float = 0.3
    models: dict[Text, Text] = Field(
        {}, description="a vosk model directory per language, or python:<package>"
    )


class HotlineFile(Section):
    site: SiteModel
    database: DatabaseModel | None = None
    fastagi: FastAgiModel
    admission: AdmissionModel | None = None
    ami: AmiModel
    sip: SipModel
    web: WebModel
    backup: BackupModel | None = None
    twilio: TwilioModel | None = None
    survey: SurveyModel | None = None
    speech: SpeechModel | None = None


# --- calendar.yaml --------------------------------------------------------------------


class WeekModel(Section):
    mon: Windows = []
    tue: Windows = []
    wed: Windows = []
    thu: Windows = []
    fri: Windows = []
    sat: Windows = []
    sun: Windows = []


class HolidayModel(Section):
    date_: Day = Field(alias="date")
    to: Day | None = None
    name: Text = "holiday"
    open_branches: list[Text] | None = Field(
        None, description="closed all day except these branches (and operator if listed)"
    )


class MakeupModel(Section):
    date_: Day = Field(alias="date")
    works_as: Weekday
    name: Text = "make-up day"


class CalendarFile(Section):
    open_hours: WeekModel
    holidays: list[HolidayModel] | None = None
    makeup_days: list[MakeupModel] | None = None


# --- seats.yaml -----------------------------------------------------------------------


class ShiftModel(Section):
    days: Days
    hours: Windows


class AgentModel(Section):
    id: Text
    name: Text | None = None
    role: Annotated[str, OneOf(tuple(r.value for r in Role))] = "ordinary"
    seat: Text
    skills: list[Text] | None = None
    shifts: list[ShiftModel] | None = None


class OnCallModel(Section):
    agent: Text
    days: Days
    hours: Windows


class SeatsFile(Section):
    agents: list[AgentModel] | None
    oncall: list[OnCallModel] | None = None
    rotas: dict[Text, list[OnCallModel] | None] | None = Field(
        None, description="named on-call rotas (oncall: is the rota named emergency)"
    )


# --- routing.yaml ---------------------------------------------------------------------

_OVERFLOW = Annotated[str, OneOf((RouteKind.CALLBACK.value, RouteKind.VOICEMAIL.value))]


class WhenModel(Section):
    windows: Windows | None = None
    days: Days = "all"
    holiday: bool | None = None


class TargetModel(Section):
    queue: Text | None = None
    rota: Text | None = None
    number: Text | None = None
    trunk: Text | None = None
    branch: Text | None = None


_BARE = (RouteKind.VOICEMAIL.value, RouteKind.CALLBACK.value)
_KEYED = tuple(TargetModel.model_fields)


def _bare_target(value: Any) -> str:
    if value not in _BARE:
        raise PydanticCustomError(
            "choice",
            "{value} is not a target: use {bare}, or one of {{{keyed}: ...}}",
            {"value": repr(value), "bare": " or ".join(_BARE), "keyed": ": ..., ".join(_KEYED)},
        )
    return str(value)


_BARE_TARGET = Annotated[str, BeforeValidator(_bare_target), WithJsonSchema({"enum": list(_BARE)})]


def _target_form(value: Any) -> str:
    return "~text" if isinstance(value, str) else "~mapping"


# voicemail | callback, or {queue|rota|number|branch: ...}; the tags ("~...") are not
# part of an item's path in the messages (shapes._path skips them)
_TARGET = Annotated[
    Annotated[_BARE_TARGET, Tag("~text")] | Annotated[TargetModel, Tag("~mapping")],
    Discriminator(_target_form),
]


class RouteRuleModel(Section):
    when: WhenModel | None = None
    target: _TARGET


class BranchModel(Section):
    skill: Text
    priority: int
    oncall: bool = False
    rules: list[RouteRuleModel] | None = None


class OperatorModel(Section):
    rules: list[RouteRuleModel] | None = None


class TrunkModel(Section):
    host: Text
    port: int = 5060


class VipModel(Section):
    priority_boost: int = 5
    numbers: list[Text] | None = None


class RepeatCallerModel(Section):
    within_days: int


class OverflowModel(Section):
    max_wait_seconds: int
    when_closed: _OVERFLOW
    when_no_agent: _OVERFLOW
    ring_seconds: int = 20


class StaffingModel(Section):
    min_on_duty_open: int
    min_on_duty_closed: int
    max_away: int


class PresenceModel(Section):
    assume_signed_in: bool = True


class RoutingFile(Section):
    branches: dict[Text, BranchModel]
    vip: VipModel | None = None
    repeat_caller: RepeatCallerModel
    overflow: OverflowModel
    staffing: StaffingModel
    operator: OperatorModel | None = None
    trunks: dict[Text, TrunkModel] | None = None
    presence: PresenceModel | None = None


# --- menu.yaml and prompts.yaml -----------------------------------------------------------

TARGET = Field(
    description="menu:<node>, route:<branch>, callback, voicemail, operator, repeat, "
    "language:<code> or hangup"
)


class NodeModel(Section):
    prompt: Text
    reprompt: Text = ""
    timeout_seconds: float = 5.0
    max_attempts: int = 3
    max_timeouts: int = 0
    options: dict[MenuKey, Annotated[Text, TARGET]]
    on_failure: Annotated[Text, TARGET]
    # What a caller may say instead of a key: {language: {key: phrase or phrases}}.
    speech: dict[Text, dict[MenuKey, Phrases]] | None = None


class MenuFile(Section):
    start: Text
    nodes: dict[Text, NodeModel]


class PromptsFile(Section):
    prompts: dict[Text, dict[Text, Text]]


# --- callbacks.yaml -------------------------------------------------------------------


class CallingWeekModel(Section):
    mon: Windows | None = None
    tue: Windows | None = None
    wed: Windows | None = None
    thu: Windows | None = None
    fri: Windows | None = None
    sat: Windows | None = None
    sun: Windows | None = None


class CallingHoursModel(Section):
    timezone: Text | None = None
    timezones_by_prefix: dict[
        Annotated[Text, WithJsonSchema({"type": "string", "pattern": r"^\+[0-9]+$"})], Text
    ] = {}
    weekly: CallingWeekModel
    dial_on_holidays: bool = False


class DoNotCallModel(Section):
    numbers: list[Text] | None = None
    file: Text | None = None


class DialerModel(Section):
    originate_rate: float = 5.0
    burst: int = 1
    poll_seconds: float = 0.5
    batch_size: int = 20
    agent_ring_seconds: int = 15
    customer_ring_seconds: int = 25
    customer_dial: Text = "PJSIP/{number}@customers"
    caller_id: Text = "4000"
    reconcile_seconds: float = 10.0
    trunk_host: Text = "127.0.0.1"
    trunk_port: int = 5080


class RetryModel(Section):
    max_attempts: int = 4
    backoff_minutes: list[float] | None = None
    busy_backoff_minutes: float | None = 5
    agent_retry_seconds: float = 30
    expire_after_hours: float = 168


class IntakeModel(Section):
    matter: Text = "ivr"
    voicemail_callbacks: bool = True
    abandoned_calls: bool = False
    abandoned_min_wait_seconds: int = 10
    lookback_hours: int = 24
    scan_seconds: float = 5


class RuleModel(Section):
    kind: Annotated[str, OneOf(tuple(k.value for k in RuleKind))]
    days: int = 0
    branch: Text | None = ""
    target_rate: float = 1.0


class CallbacksFile(Section):
    calling_hours: CallingHoursModel
    do_not_call: DoNotCallModel | None = None
    dialer: DialerModel | None = None
    retry: RetryModel | None = None
    intake: IntakeModel | None = None
    rules: dict[Text, RuleModel] | None = None


# --- cases.yaml -----------------------------------------------------------------------


class CaseClassModel(Section):
    definition: Text | None = None
    escalate_at_once: bool = False


class TermModel(Section):
    hours: float | None = None
    working_days: int | None = None
    time: Annotated[str, OneOf(tuple(b.value for b in TimeBasis))] = "calendar"


_PerClass = dict[Text, Text]  # class name (or "*") -> term name


class DeadlinesModel(Section):
    complaint: _PerClass = {}
    request: _PerClass = {}
    follow_up: _PerClass = {}


class EscalationModel(Section):
    lead_at_share: float = 0.5
    near_hours: float = 24
    sweep_seconds: int = 60


class CaseCallbacksModel(Section):
    complaint: Text | None = None
    visitor: Text | None = None
    contract: Text | None = None
    contract_horizon_months: int = 24
    on_done: dict[Text, Text | None] = Field(
        {}, description="callback rule -> the state its completed callback moves the case to"
    )


class CaseIvrModel(Section):
    branch: Text = "complaints"
    after_hours_term: Text = "departed"
    class_: Text | None = Field(None, alias="class")
    matter: Text = "IVR complaint (after hours)"


class ReportsModel(Section):
    complaint_rate_target: float = 0.01


class CasesFile(Section):
    classes: dict[Text, CaseClassModel | None]
    terms: dict[Text, TermModel]
    deadlines: DeadlinesModel
    escalation: EscalationModel | None = None
    callbacks: CaseCallbacksModel | None = None
    ivr: CaseIvrModel | None = None
    reports: ReportsModel | None = None


FILES: dict[str, type[Section]] = {
    "hotline.yaml": HotlineFile,
    "calendar.yaml": CalendarFile,
    "seats.yaml": SeatsFile,
    "routing.yaml": RoutingFile,
    "menu.yaml": MenuFile,
    "prompts.yaml": PromptsFile,
    "callbacks.yaml": CallbacksFile,
    "cases.yaml": CasesFile,
}


# --- checking a file, and its JSON Schema ------------------------------------------------


def check_file(name: str, data: Any) -> None:
    """Refuse `data` (one file's YAML) unless it has the declared shape: the first
    problem as ConfigError(name, path, reason)."""
    try:
        FILES[name].model_validate(data)
    except ValidationError as e:
        raise config_error(name, data, e) from None


DRAFT = "https://json-schema.org/draft/2020-12/schema"


def json_schema(name: str | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one config file, for editors; without a
    name, one schema for the whole directory: an object whose properties are the
    file names (the models' definitions shared under `$defs`)."""
    if name is not None:
        schema = FILES[name].model_json_schema(by_alias=True)
        return {"$schema": DRAFT, "title": name} | schema
    defs: dict[str, Any] = {}
    files: dict[str, Any] = {}
    for file, model in FILES.items():
        schema = model.model_json_schema(by_alias=True)
        defs |= schema.pop("$defs", {})
        files[file] = {"title": file} | schema
    return {
        "$schema": DRAFT,
        "title": "hotline config directory",
        "type": "object",
        "properties": files,
        "required": list(files),
        "$defs": defs,
    }
