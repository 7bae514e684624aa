"""Phone numbers in one canonical form: E.164 ('+', country code, national number).

Every entry of a number goes through here: the caller ID Asterisk gives, the
command line, the web app's filters, the VIP and do-not-call lists, the
callback ledger. Numbers written nationally take the site's region
(`site.region` in hotline.yaml); `00`/`+` prefixes, separators, fullwidth and
other Unicode digits all come to the same string, so a listed number matches
whatever form it arrives in. Parsing is Google's libphonenumber (`phonenumbers`).

    canonical(text, region)    the E.164 form, or NumberError (a NumberProblem code, its
                               English reason; the web words the code: web/messages.py)
    caller_key(text, region)   the E.164 form when there is one, else the text as given
                               (a caller ID is never refused: it is what Asterisk saw),
                               cut to MAX_CALLER_CHARS
    match_key(text, region)    the E.164 form when there is one, else digits and '+'
                               (how lists compare numbers: total, never raises)
    prefix_forms(text, region) the stored prefixes a typed (partial) number stands for
    time_zone(number)          the one time zone libphonenumber gives the number, or None
    twilio_caller(text)        a From Twilio gave, its digit-spelt withheld IDs as their word

The domain stays free of the library: it compares strings, and the config
loader hands it `match_key` bound to the region (`RoutingPolicy.number_key`,
`CallingRules.number_key`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from enum import StrEnum
from functools import lru_cache, partial
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult
from phonenumbers import timezone as number_zones

from ivr.domain.privacy import mask_number
from ivr.domain.routing import normalise_number

MAX_CHARS = 64  # the longest E.164 number written with generous separators, and more
# The longest caller ID stored as given (one that is no number): SIP lets a caller
# send kilobytes, and PostgreSQL cannot index a caller over some 2,700 bytes.
MAX_CALLER_CHARS = 128
MAX_PREFIX_DIGITS = 20  # 15 in E.164, with room for an international or trunk prefix
E164 = re.compile(r"\+[1-9][0-9]{6,14}")  # the shortest real numbers (Niue, St Helena) have 7
# What a written number may hold besides its digits (of any script) and spaces: one
# leading '+', and the separators written between groups (dashes too). Anything else
# (an extension's '#', ';', ',' or '~', a '*', a symbol) is refused: libphonenumber
# would drop it, or the digits after it, without a word.
_PLUS = "+\uff0b"
_SEPARATORS = frozenset("./()[]\uff0e\uff0f\uff08\uff09\uff3b\uff3d\u2212")


class NumberProblem(StrEnum):
    """Why a text is no phone number. The code is for the web, which words it in the
    request's language (web/messages.py); `NumberError.reason` is the English text."""

    EMPTY = "empty"
    TOO_MANY_CHARS = "too_many_chars"  # limit: MAX_CHARS
    NOT_DIGITS = "not_digits"
    NO_REGION = "no_region"
    UNKNOWN_COUNTRY = "unknown_country"
    NOT_A_NUMBER = "not_a_number"
    TOO_SHORT_AFTER_IDD = "too_short_after_idd"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    INVALID_LENGTH = "invalid_length"
    LOCAL_ONLY = "local_only"
    NOT_POSSIBLE = "not_possible"
    NO_ROUND_TRIP = "no_round_trip"
    NO_DIGITS = "no_digits"
    TOO_MANY_DIGITS = "too_many_digits"  # limit: MAX_PREFIX_DIGITS


# The English reason of each code ({limit} filled in): the CLI's and the logs' text.
REASONS: dict[NumberProblem, str] = {
    NumberProblem.EMPTY: "empty",
    NumberProblem.TOO_MANY_CHARS: "longer than {limit} characters",
    NumberProblem.NOT_DIGITS: "only digits, '+' and separators are allowed",
    NumberProblem.NO_REGION: "no country code, no site.region",
    NumberProblem.UNKNOWN_COUNTRY: "unknown country code",
    NumberProblem.NOT_A_NUMBER: "not a phone number",
    NumberProblem.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberProblem.TOO_SHORT: "too short",
    NumberProblem.TOO_LONG: "too long",
    NumberProblem.INVALID_LENGTH: "not a possible length for its country",
    NumberProblem.LOCAL_ONLY: "a local number without its area code",
    NumberProblem.NOT_POSSIBLE: "not a possible number",
    NumberProblem.NO_ROUND_TRIP: "no E.164 form that reads back as the same number",
    NumberProblem.NO_DIGITS: "no digits",
    NumberProblem.TOO_MANY_DIGITS: "more than {limit} digits",
}

_PARSE_PROBLEMS = {
    NumberParseException.INVALID_COUNTRY_CODE: NumberProblem.UNKNOWN_COUNTRY,
    NumberParseException.NOT_A_NUMBER: NumberProblem.NOT_A_NUMBER,
    NumberParseException.TOO_SHORT_AFTER_IDD: NumberProblem.TOO_SHORT_AFTER_IDD,
    NumberParseException.TOO_SHORT_NSN: NumberProblem.TOO_SHORT,
    NumberParseException.TOO_LONG: NumberProblem.TOO_LONG,
}
_POSSIBLE_PROBLEMS = {
    ValidationResult.INVALID_COUNTRY_CODE: NumberProblem.UNKNOWN_COUNTRY,
    ValidationResult.TOO_SHORT: NumberProblem.TOO_SHORT,
    ValidationResult.TOO_LONG: NumberProblem.TOO_LONG,
    ValidationResult.INVALID_LENGTH: NumberProblem.INVALID_LENGTH,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: NumberProblem.LOCAL_ONLY,
}


class NumberError(ValueError):
    """A text that is no possible phone number: `code` says why (with `limit` for the
    codes that have one), `reason` in English."""

    def __init__(
        self,
        number: str,
        code: NumberProblem,
        *,
        limit: int | None = None,
        reason: str | None = None,
    ) -> None:
        self.number, self.code, self.limit = number, code, limit
        self.reason = reason if reason is not None else REASONS[code].format(limit=limit)
        super().__init__(f"{_shown(number)} is not a phone number: {self.reason}")


def _shown(number: str) -> str:
    return repr(number if len(number) <= 24 else number[:20] + "…")


def is_region(region: str) -> bool:
    """Whether `region` is a region phonenumbers knows (ISO 3166 alpha-2, upper case).

    >>> is_region("CN"), is_region("cn"), is_region("XX"), is_region("")
    (True, False, False, False)
    """
    return region in phonenumbers.SUPPORTED_REGIONS


def canonical(number: str, region: str | None = None) -> str:
    """The E.164 form of `number`; national forms take `region` (e.g. "CN").

    Parsing costs about 0.1 ms and one call asks for the same caller several
    times (caller ID, VIP, history, the call log): good answers are cached.

    >>> canonical("13700000000", "CN")
    '+8613700000000'
    >>> canonical("+86 137-0000-0000"), canonical("008613700000000", "CN")
    ('+8613700000000', '+8613700000000')
    >>> canonical("１３７００００００００", "CN"), canonical("١٣٧٠٠٠٠٠٠٠٠", "CN")
    ('+8613700000000', '+8613700000000')
    >>> canonical("(212) 555-0100", "US")
    '+12125550100'
    >>> canonical("0", "CN")
    Traceback (most recent call last):
    ...
    ivr.phone.NumberError: '0' is not a phone number: not a phone number
    >>> canonical("1" * 200, "CN")
    Traceback (most recent call last):
    ...
    ivr.phone.NumberError: '11111111111111111111…' is not a phone number: longer than 64 characters
    >>> canonical("13700000000")
    Traceback (most recent call last):
    ...
    ivr.phone.NumberError: '13700000000' is not a phone number: no country code, no site.region
    """
    out, why = _parsed(number, region)
    if why is not None:
        code, limit, reason = why
        raise NumberError(number, code, limit=limit, reason=reason)
    return out


_PARSED_MAX = 65_536
# Texts longer than this are answered without being kept: a caller ID of kilobytes
# (SIP allows it) from call after call must not fill the cache with kilobyte keys.
_CACHED_CHARS = 2 * MAX_CHARS
_Why = tuple[NumberProblem, int | None, str]  # a refusal: code, limit, English reason
_parsed_cache: dict[tuple[str, str | None], tuple[str, _Why | None]] = {}


def _parsed(number: str, region: str | None) -> tuple[str, _Why | None]:
    """(E.164, None), or ("", why not), cached. Refusals are cached too, since the
    same extension or odd caller ID comes back call after call, and so is the
    E.164 form of a number that parsed (it is its own canonical form, which
    `_round_trips` checked): a call looks its caller up by that form next.
    phonenumbers was a tenth of the FastAGI process's CPU under load. The cache
    starts afresh when full (a plain dict: a thread may at worst parse twice).
    A refusal is kept as its code, limit and reason, and raised as a new NumberError
    each time (one exception raised again and again would grow its traceback)."""
    key = (number, region)
    hit = _parsed_cache.get(key)
    if hit is not None:
        return hit
    try:
        out = _canonical(number, region)
    except NumberError as e:
        hit = ("", (e.code, e.limit, e.reason))
    else:
        hit = (out, None)
    if len(number) > _CACHED_CHARS:
        return hit
    if len(_parsed_cache) >= _PARSED_MAX:
        _parsed_cache.clear()
    _parsed_cache[key] = hit
    if hit[1] is None and hit[0] != number:
        _parsed_cache[(hit[0], region)] = hit
    return hit


def _canonical(number: str, region: str | None) -> str:
    text = number.strip()
    if not text:
        raise NumberError(number, NumberProblem.EMPTY)
    if len(text) > MAX_CHARS:
        raise NumberError(number, NumberProblem.TOO_MANY_CHARS, limit=MAX_CHARS)
    if not _written(text):
        raise NumberError(number, NumberProblem.NOT_DIGITS)
    plus = text[0] in _PLUS
    if not plus and not region:
        raise NumberError(number, NumberProblem.NO_REGION)
    try:
        parsed = phonenumbers.parse(text, region or None)
    except NumberParseException as e:
        code = _PARSE_PROBLEMS.get(e.error_type)
        if code is None:  # a kind of refusal newer than this table: its own English
            raise NumberError(number, NumberProblem.NOT_A_NUMBER, reason=str(e)) from None
        raise NumberError(number, code) from None
    possible = phonenumbers.is_possible_number_with_reason(parsed)
    if possible != ValidationResult.IS_POSSIBLE:
        raise NumberError(number, _POSSIBLE_PROBLEMS.get(possible, NumberProblem.NOT_POSSIBLE))
    out = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    # Given in E.164 already (a leading '+': the region plays no part), `out == text`
    # has just been parsed and checked as `_round_trips` would parse and check it.
    if not E164.fullmatch(out) or (out != text and not _round_trips(out)):
        # e.g. "000000086" in CN: its "E.164 form" reads back as another number
        raise NumberError(number, NumberProblem.NO_ROUND_TRIP)
    return out


def _written(text: str) -> bool:
    """Digits (of any script), spaces and separators, with at most one '+', before the
    first digit.

    >>> _written("(+86) 138-0000-0001"), _written("13800000001#5"), _written("86+138")
    (True, False, False)
    """
    pluses = [i for i, ch in enumerate(text) if ch in _PLUS]
    if pluses and (len(pluses) > 1 or not all(map(_separator, text[: pluses[0]]))):
        return False
    return all(ch.isdecimal() or _separator(ch) for ch in text if ch not in _PLUS)


def _separator(ch: str) -> bool:
    return ch in _SEPARATORS or unicodedata.category(ch) in ("Zs", "Pd")


def _round_trips(e164: str) -> bool:
    """Whether the E.164 text parses back to itself, a possible number (so that
    canonical() is a fixed point on its own results)."""
    try:
        again = phonenumbers.parse(e164, None)
    except NumberParseException:
        return False
    return (
        phonenumbers.format_number(again, PhoneNumberFormat.E164) == e164
        and phonenumbers.is_possible_number_with_reason(again) == ValidationResult.IS_POSSIBLE
    )


def caller_key(number: str, region: str | None = None) -> str:
    """How a caller number is stored: E.164 when it parses, else the text as given,
    cut to its first MAX_CALLER_CHARS characters.

    >>> caller_key("13800000103", "CN"), caller_key("4000", "CN"), caller_key("", "CN")
    ('+8613800000103', '4000', '')
    >>> len(caller_key("x" * 5000, "CN"))
    128
    """
    try:
        return canonical(number, region)
    except NumberError:
        return number[:MAX_CALLER_CHARS]


# A withheld caller ID as Twilio has long given it in From: the word spelt on a phone's
# keypad (ANONYMOUS is 266696687). These are no one's numbers; taken for numbers, every
# withheld caller would be one caller (the same repeat caller, callbacks to nowhere).
WITHHELD_SPELLINGS: Final = {
    "+266696687": "anonymous",
    "+7378742833": "restricted",
    "+8656696": "unknown",
    "+2562533": "blocked",
    "+86282452253": "unavailable",
    "+7748283": "private",
}


def twilio_caller(text: str) -> str:
    """A From or To Twilio gave (a webhook's form, the caller ID of a SIP leg Twilio sent
    into Asterisk) as the hotline keeps it: a withheld caller ID that Twilio spelt in
    digits as its word, anything else as given.

    >>> twilio_caller("+266696687"), twilio_caller("+7378742833")
    ('anonymous', 'restricted')
    >>> twilio_caller("+8613800000101"), twilio_caller("anonymous")
    ('+8613800000101', 'anonymous')
    """
    return WITHHELD_SPELLINGS.get("+" + text.strip().lstrip("+"), text)


def match_key(number: str, region: str | None = None) -> str:
    """How lists compare numbers: E.164 when it parses, else digits and a leading '+'.

    >>> match_key("+86 137 0000 0000", "CN"), match_key("１２３", "CN")
    ('+8613700000000', '123')
    """
    try:
        return canonical(number, region)
    except NumberError:
        return normalise_number(number)


def mask(number: str | None) -> str:
    """A number with its middle hidden; of an E.164 number the country code stays and
    its national part is masked the one way (ivr.domain.privacy.mask_number).

    >>> mask("+8613800000001"), mask("13800000001"), mask("1001")
    ('+86 138****0001', '138****0001', '**01')
    """
    n = number or ""
    e164 = split(n)
    return f"+{e164[0]} {mask_number(e164[1])}" if e164 is not None else mask_number(n)


def split(number: str) -> tuple[int, str] | None:
    """An E.164 number's country code and national significant number (None if not E.164).

    >>> split("+8613800000001"), split("13800000001")
    ((86, '13800000001'), None)
    """
    if not E164.fullmatch(number):
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except NumberParseException:
        return None
    if parsed.country_code is None:
        return None
    return parsed.country_code, phonenumbers.national_significant_number(parsed)


@lru_cache(maxsize=65_536)
def time_zone(number: str) -> str | None:
    """The time zone of an E.164 number by libphonenumber's data, when it names exactly
    one; None when it names several (a North American toll-free number spans the
    continent), none, or the number is not E.164.

    >>> time_zone("+12125550100"), time_zone("+8613800000001"), time_zone("+18005550100")
    ('America/New_York', 'Asia/Shanghai', None)
    """
    if not E164.fullmatch(number):
        return None
    try:
        zones = number_zones.time_zones_for_number(phonenumbers.parse(number, None))
    except NumberParseException:
        return None
    known = [z for z in zones if z != number_zones.UNKNOWN_TIMEZONE]
    return known[0] if len(known) == 1 == len(zones) else None


def keyer(region: str | None) -> Callable[[str], str]:
    """`match_key` bound to a region: what the domain's lists compare with."""
    return partial(match_key, region=region)


def prefix_forms(text: str, region: str | None = None) -> tuple[str, ...]:
    """The stored prefixes a typed, possibly partial, number stands for.

    A whole number gives its E.164 form; a national prefix also its E.164 prefix;
    the digits as typed stay (caller IDs that did not parse are stored as given).
    Raises NumberError when there is no digit at all.

    >>> prefix_forms("138", "CN")
    ('+86138', '138')
    >>> prefix_forms("+86 138", "CN"), prefix_forms("0086138", "CN")
    (('+86138',), ('+86138',))
    >>> prefix_forms("13800000001", "CN")
    ('+8613800000001', '13800000001')
    """
    if len(text.strip()) > MAX_CHARS:
        raise NumberError(text, NumberProblem.TOO_MANY_CHARS, limit=MAX_CHARS)
    digits = normalise_number(text)
    if not digits.lstrip("+"):
        raise NumberError(text, NumberProblem.NO_DIGITS)
    if len(digits.lstrip("+")) > MAX_PREFIX_DIGITS:
        raise NumberError(text, NumberProblem.TOO_MANY_DIGITS, limit=MAX_PREFIX_DIGITS)
    if digits.startswith("+"):
        return (digits,)
    if digits.startswith("00"):
        return ("+" + digits[2:],)
    forms: list[str] = []
    try:
        forms.append(canonical(digits, region))
    except NumberError:
        code = phonenumbers.country_code_for_region(region) if region else 0
        if code and region:
            meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
            national = (meta.national_prefix if meta else None) or ""
            rest = digits[len(national) :] if national and digits.startswith(national) else digits
            if rest:
                forms.append(f"+{code}{rest}")
    forms.append(digits)
    return tuple(dict.fromkeys(forms))
