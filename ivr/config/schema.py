"""The shape of every config file, declared once: pydantic models over the raw YAML.

`check_file(name, data)` runs before the loaders turn a file into domain objects.
It refuses what no loader may see: a key nobody reads (`oncal:` for `oncall:`,
with the nearest known key as a suggestion), a value of the wrong type, a missing
item, a choice off its list. The loaders (hotline.py, callbacks.py, cases.py...)
then check meaning: time windows, time zones, references between files. Errors
are ConfigError(file, path, reason) as everywhere in this package.

`json_schema(name)` is the same models as JSON Schema (`hotline config schema`),
for editors: windows, phone prefixes and the like carry a pattern there, and
choices an enum.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from ivr.config.errors import ConfigError
from ivr.domain.calendar import WEEKDAYS
from ivr.domain.callbacks import RuleKind
from ivr.domain.cases import TimeBasis
from ivr.domain.routing import RouteKind
from ivr.domain.shifts import DAY_SETS, Role

# The languages the web app is translated into (web/translations), as BCP 47 tags.
WEB_LOCALES = ("zh-CN", "en")
WINDOW_PATTERN = r"^[0-2]?[0-9]:[0-5][0-9]-[0-2]?[0-9]:[0-5][0-9]$"

# --- scalar types: the loaders' own leniency, in house wording ------------------------


def _text(value: Any) -> Any:
    """Text as the loaders read it: a string, or a number written without quotes."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PydanticCustomError("text", "must be text, got {got}", {"got": _kind(value)})
    return str(value)


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _day(value: Any) -> Any:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise PydanticCustomError(
            "day", "{value} is not a date (YYYY-MM-DD)", {"value": repr(value)}
        ) from None


@dataclass(frozen=True)
class OneOf:
    """Annotation: text that must be one of `options` (an enum in the JSON Schema)."""

    options: tuple[str, ...]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_before_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> Any:
        return {"enum": list(self.options)}

    def _check(self, value: Any) -> Any:
        text = _text(value)
        if text not in self.options:
            raise PydanticCustomError(
                "choice", "{value} is not one of {options}",
                {"value": repr(text), "options": ", ".join(self.options)},
            )  # fmt: skip
        return text


def _many(value: Any) -> Any:
    """One value or a list of them (a window or windows, a phrase or phrases)."""
    return [_text(v) for v in value] if isinstance(value, list) else [_text(value)]


def _one_or_many(item: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [item, {"type": "array", "items": item}]})


def _days(value: Any) -> Any:
    """A day set's name or a list of weekdays (which ones is the loader's business)."""
    if isinstance(value, list):
        return [_text(v) for v in value]
    return _text(value)


Text = Annotated[str, BeforeValidator(_text)]
Day = Annotated[date, BeforeValidator(_day)]
Windows = Annotated[
    list[str], BeforeValidator(_many), _one_or_many({"type": "string", "pattern": WINDOW_PATTERN})
]
Phrases = Annotated[
    list[str], BeforeValidator(_many), _one_or_many({"type": "string", "minLength": 1})
]
Days = Annotated[Any, BeforeValidator(_days), WithJsonSchema({"anyOf": [
    {"enum": [*DAY_SETS, *WEEKDAYS]},
    {"type": "array", "items": {"enum": list(WEEKDAYS)}, "minItems": 1},
]})]  # fmt: skip
Weekday = Annotated[str, OneOf(WEEKDAYS)]
MenuKey = Annotated[str, BeforeValidator(_text), WithJsonSchema(
    {"type": "string", "pattern": r"^[0-9*#]$"}
)]  # fmt: skip


# --- the strict base: unknown keys refused with the nearest known one --------------------


class Section(BaseModel):
    """A mapping whose keys are all declared: any other key is refused by name."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # Keys refused with their own reason (secrets never belong in committed YAML).
    refused: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # pydantic says "must be a mapping"
        known = [f.alias or name for name, f in cls.model_fields.items()]
        for key in data:
            if str(key) in cls.refused:
                raise PydanticCustomError("refused", cls.refused[str(key)], {"key": str(key)})
            if str(key) not in known:
                raise PydanticCustomError(
                    "unknown_key", "unknown key {name}{hint}",
                    {"key": str(key), "name": repr(str(key)), "hint": suggestion(str(key), known)},
                )  # fmt: skip
        return data


def suggestion(key: str, known: list[str]) -> str:
    """'; did you mean 'oncall'?' for the nearest known key, else the known keys."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known here: {', '.join(sorted(known))}" if known else ""


def _secret(env: str) -> str:
    return (
        f"secrets do not belong in committed config: remove it and set {env}, "
        "or let the hotline generate one in the data directory (secrets/, mode 0600)"
    )


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


class AmiModel(Section):
    refused: ClassVar[dict[str, str]] = {"secret": _secret("HOTLINE_AMI_SECRET")}
    host: Text
    port: int
    username: Text


class SipModel(Section):
    refused: ClassVar[dict[str, str]] = {"seat_password": _secret("HOTLINE_SEAT_PASSWORD")}
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
    refuse_prefixes: list[Text] = ["+86"]
    sip_source_ips: list[Text] = []


class ScaleModel(Section):
    low: int = 1
    high: int = 5


class SurveyModel(Section):
    enabled: bool = True
    scale: ScaleModel = ScaleModel()
    satisfied_from: int = 4
    not_resolved_key: Text = "0"
    timeout_seconds: float = 6.0
    attempts: int = 2
    branches: dict[Text, bool] = {}


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


# --- routing.yaml ---------------------------------------------------------------------

_OVERFLOW = Annotated[str, OneOf((RouteKind.CALLBACK.value, RouteKind.VOICEMAIL.value))]


class BranchModel(Section):
    skill: Text
    priority: int
    oncall: bool = False


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
        first = e.errors(include_url=False)[0]
        raise ConfigError(name, _path(data, first), _reason(first)) from None


def _path(data: Any, error: Any) -> str:
    """'branches.emergency.oncal', 'agents[1].shifts[0].hours': the loaders' way."""
    loc = list(error["loc"])
    ctx = error.get("ctx") or {}
    if error["type"] in ("unknown_key", "refused"):
        loc.append(ctx["key"])
    out, here = "", data
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(here, list) and isinstance(part, int):
            out += f"[{part}]"
            here = here[part] if 0 <= part < len(here) else None
        elif isinstance(here, dict):
            key = next((k for k in here if str(k) == str(part)), part)
            out += f".{key}" if out else str(key)
            here = here.get(key)
        else:  # a part inside a value of another shape: a key of the model
            out += f".{part}" if out else str(part)
            here = None
    return out or "top level"


_REASONS = {
    "missing": "missing",
    "int_type": "must be a whole number, got {input!r}",
    "float_type": "must be a number, got {input!r}",
    "bool_type": "must be true or false, got {input!r}",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "list_type": "must be a list",
    "string_type": "must be text, got {kind}",
    "date_type": "{input!r} is not a date (YYYY-MM-DD)",
}


def _reason(error: Any) -> str:
    template = _REASONS.get(error["type"])
    if template is None:
        return str(error["msg"])
    value = error.get("input")
    return template.format(input=value, kind=_kind(value))


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one config file, for editors."""
    schema = FILES[name].model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = name
    return schema
