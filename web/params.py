"""Parsers for every request parameter: a type and a range, or a ParamError naming it.

    page = int_param("page", 1, MAX_PAGE, 1)              # ?page=..., 1 if absent
    day = date_param("from")                               # None if absent
    kind = choice_param("kind", ("sign_in", "sign_out"), None, request.form)  # required
    agent = text_param("agent", 64)

A parser reads `source` (query arguments unless given: request.form, a JSON body,
or {name: value} for a path parameter) through `one`, which refuses a name given
twice (?page=1&page=2). An absent or empty value gives the
default; anything else must parse and lie in range. `ParamError` becomes a 400
(JSON {"error", "param"} under /api/, the error page otherwise) in web.app.

The limits also keep values inside what both stores accept: PostgreSQL refuses NUL
in text and integers beyond int8 (ids are int4), and dates stay far enough from
year 1 and 9999 that a day or a time-zone offset added to them cannot overflow.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import request
from flask_babel import gettext
from werkzeug.datastructures import MultiDict

from ivr.domain.text import MULTILINE, bad_character, one_line_feed

MAX_ID = 2**31 - 1  # an Integer primary key on PostgreSQL (int4)
MIN_DATE = date(1970, 1, 1)
MAX_DATE = date(2999, 12, 31)
MAX_TEXT = 256

_INT_RE = re.compile(r"[0-9]{1,19}")  # ASCII digits only: int() would take "١٢", "+2", " 2"


class ParamError(ValueError):
    """A request parameter that is missing, of the wrong type or out of range."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = f"{param}: {message}"  # the reason is already in the request's language


def one(name: str, source: Mapping[str, Any] | None = None) -> Any:
    """The value of `name` in `source` (the query string unless given), None when absent.

    Every parameter is read here. A name given twice (?page=1&page=2, a form field sent
    twice) is refused naming it: which value the sender meant is not ours to guess, and
    werkzeug's .get() silently took the first."""
    src: Mapping[str, Any] = request.args if source is None else source
    if isinstance(src, MultiDict) and len(src.getlist(name)) > 1:
        raise ParamError(name, gettext("is given more than once"))
    return src.get(name)


FORM_URLENCODED = "application/x-www-form-urlencoded"


# Where to go after signing in or choosing a language: a value that is no path of this
# site is not followed (web.security.safe_next), not refused; an undecodable one too.
_NOT_REFUSED = frozenset({b"next"})


def undecodable(raw: bytes) -> str | None:
    """The name of the first field of URL-encoded `raw` (a query string, a form body)
    whose name or value, percent-decoded, is not UTF-8 (a lone surrogate's bytes
    included); None when every one is (`next` aside: safe_next leaves it unfollowed)."""
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        for part in (name, value) if name not in _NOT_REFUSED else ():
            try:
                unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                text = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace")
                return printable(text, 64) or "?"
    return None


def check_encoding() -> None:
    """Refuse a query string or a URL-encoded form body that is not UTF-8, naming the
    field: werkzeug keeps such bytes percent-encoded as text (a note typed 中文 by a
    GBK form became the note "%D6%D0%CE%C4"), and raw in a body it drops the whole form
    (so "class is required" named the wrong thing)."""
    # the query string of a POST is read by no view (login's next aside): not its to refuse
    name = undecodable(request.query_string) if request.method in ("GET", "HEAD") else None
    if name is None and request.mimetype == FORM_URLENCODED:
        name = undecodable(request.get_data(cache=True))
    if name is not None:
        raise ParamError(name, gettext("is not UTF-8 text"))


def _raw(name: str, source: Mapping[str, Any] | None, strip: bool = True) -> Any:
    value = one(name, source)
    if isinstance(value, str) and strip:
        value = value.strip()
    return None if value is None or value == "" else value


def int_param(
    name: str, lo: int, hi: int, default: int, source: Mapping[str, Any] | None = None
) -> int:
    """A whole number in [lo, hi]; `default` when absent. Written as a path id is: ASCII
    digits and nothing else (no sign, no spaces, no "1e3"), so ?page=+2 or ?page=%202
    is refused, not another way to write 2."""
    value = _raw(name, source, strip=False)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ParamError(name, gettext("must be a whole number"))
    if isinstance(value, str):
        if not _INT_RE.fullmatch(value):
            raise ParamError(
                name, gettext("must be a whole number between %(lo)s and %(hi)s", lo=lo, hi=hi)
            )
        value = int(value)
    if not lo <= value <= hi:
        raise ParamError(name, gettext("must be between %(lo)s and %(hi)s", lo=lo, hi=hi))
    return value


_ID_RE = re.compile(r"[0-9]{1,19}")  # a row's id as written: no sign, no spaces


def id_param(name: str, value: str) -> int:
    """A path parameter that names a row by its id: its digits, nothing else (a blank
    one, /x/%20, is no id; nor is /x/+1, another name for row 1)."""
    got = int(value) if _ID_RE.fullmatch(value) else 0
    if not 1 <= got <= MAX_ID:
        raise ParamError(
            name, gettext("must be a whole number between %(lo)s and %(hi)s", lo=1, hi=MAX_ID)
        )
    return got


def date_param(
    name: str,
    default: date | None = None,
    source: Mapping[str, Any] | None = None,
    lo: date = MIN_DATE,
    hi: date = MAX_DATE,
) -> date | None:
    """A date YYYY-MM-DD in [lo, hi]; `default` when absent."""
    value = _raw(name, source)
    if value is None:
        return default
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ParamError(
            name, gettext("%(text)s is not a date (YYYY-MM-DD)", text=repr(value)[:40])
        )
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ParamError(
            name, gettext("%(text)s is not a date (YYYY-MM-DD)", text=repr(value)[:40])
        ) from None
    if not lo <= day <= hi:
        raise ParamError(
            name, gettext("must be between %(lo)s and %(hi)s", lo=lo.isoformat(), hi=hi.isoformat())
        )
    return day


def choice_param(
    name: str,
    choices: Iterable[str],
    default: str | None,
    source: Mapping[str, Any] | None = None,
) -> str:
    """One of `choices`; `default` when absent (required when the default is None)."""
    allowed = tuple(choices)
    value = _raw(name, source)
    if value is None:
        if default is None:
            raise ParamError(
                name, gettext("is required: one of %(allowed)s", allowed=", ".join(allowed))
            )
        return default
    if not isinstance(value, str) or value not in allowed:
        raise ParamError(name, gettext("must be one of %(allowed)s", allowed=", ".join(allowed)))
    return value


def text_param(
    name: str,
    max_len: int = MAX_TEXT,
    default: str = "",
    source: Mapping[str, Any] | None = None,
    pattern: re.Pattern[str] | None = None,
    lines: bool = False,
) -> str:
    """Text of at most `max_len` characters, without a character typed text may not
    hold (ivr.domain.text); with `lines` (a summary, a note) line feeds and tabs
    too, a CR LF (a browser's line end) becoming a line feed."""
    value = _raw(name, source)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ParamError(name, gettext("must be text"))
    return check_text(name, value, max_len, pattern, lines)


def check_text(
    name: str,
    value: str,
    max_len: int,
    pattern: re.Pattern[str] | None = None,
    lines: bool = False,
) -> str:
    if lines:
        value = one_line_feed(value)
    if len(value) > max_len:
        raise ParamError(name, gettext("must be at most %(n)s characters", n=max_len))
    bad = bad_character(value, MULTILINE if lines else "")
    if bad is not None:
        raise ParamError(name, gettext("may not contain the character %(ch)s", ch=bad))
    if pattern is not None and not pattern.fullmatch(value):
        raise ParamError(name, gettext("has characters that are not allowed here"))
    return value


def secret_param(
    name: str,
    max_len: int = 1024,
    source: Mapping[str, Any] | None = None,
    required: bool = True,
) -> str:
    """A password: any characters that can be encoded (no lone surrogates), bounded, not
    stripped; from the form unless `source` is given."""
    value = one(name, request.form if source is None else source)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ParamError(name, gettext("must be text"))
    if len(value) > max_len:
        raise ParamError(name, gettext("must be at most %(n)s characters", n=max_len))
    if any(unicodedata.category(ch) == "Cs" for ch in value):
        raise ParamError(name, gettext("is not valid Unicode text"))
    if required and not value:
        raise ParamError(name, gettext("is required"))
    return value


def username_param(name: str = "username", source: Mapping[str, Any] | None = None) -> str:
    """A user name, required, in its canonical form (web.store.normalize_username)."""
    from web.messages import user_error
    from web.store import UserError, normalize_username

    value = _raw(name, source)
    if value is None:
        raise ParamError(name, gettext("is required"))
    if not isinstance(value, str):
        raise ParamError(name, gettext("must be text"))
    try:
        return normalize_username(value[: 4 * MAX_TEXT])
    except UserError as e:  # its own text is the CLI's English: worded in the request's language
        raise ParamError(name, user_error(e)) from None


def printable(text: str, max_len: int) -> str:
    """`text` cut to `max_len` with refused characters replaced by '?' (for audit lines)."""
    return "".join("?" if bad_character(ch) else ch for ch in text[:max_len])
