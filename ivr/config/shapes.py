"""The building blocks of the config models (ivr/config/schema.py): scalar types as
lenient as the loaders and worded as they are, the `Section` base that refuses an
unknown key with the nearest known one, and a pydantic error turned into the
package's ConfigError(file, path, reason).
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
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from ivr.config.errors import ConfigError
from ivr.domain.calendar import WEEKDAYS
from ivr.domain.shifts import DAY_SETS

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
    {"type": "array", "items": {"enum": [*WEEKDAYS, *DAY_SETS]}, "minItems": 1},
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


def secret_reason(env: str) -> str:
    return (
        f"secrets do not belong in committed config: remove it and set {env}, "
        "or let the hotline generate one in the data directory (secrets/, mode 0600)"
    )


# --- a pydantic error as the package's error ------------------------------------------


def config_error(name: str, data: Any, error: ValidationError) -> ConfigError:
    """The first problem pydantic found in file `name` (whose YAML is `data`)."""
    first = error.errors(include_url=False)[0]
    return ConfigError(name, _path(data, first), _reason(first))


def _path(data: Any, error: Any) -> str:
    """'branches.emergency.oncal', 'agents[1].shifts[0].hours': the loaders' way."""
    loc = list(error["loc"])
    ctx = error.get("ctx") or {}
    if error["type"] in ("unknown_key", "refused"):
        loc.append(ctx["key"])
    out, here = "", data
    for part in loc:
        if part == "[key]" or (isinstance(part, str) and part.startswith("~")):
            continue  # a dict key's own check, or a tagged union's branch
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
