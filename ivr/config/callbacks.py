"""Load and validate config/callbacks.yaml: calling hours, dialer pacing, retries, rules.

Like `ivr.config`, a problem is refused with a ConfigError naming the file, the
item and the reason, and the result is frozen plain data. Holidays are not
repeated here: `CallbackSettings.calling_rules(holidays)` takes those of
calendar.yaml from the validated hotline configuration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ivr import phone
from ivr.config.reader import MAX_NAME, Cursor, is_word, read_yaml, windows
from ivr.config.schema import check_file
from ivr.domain.calendar import WEEKDAYS, TimeWindow
from ivr.domain.callbacks import (
    CallingRules,
    RetryPolicy,
    RuleKind,
    ServiceRule,
    callback_matter,
)
from ivr.domain.routing import OPERATOR_BRANCH, normalise_number

FILE = "callbacks.yaml"
DEFAULT_IVR_MATTER = "ivr"
MAX_MATTER = 64  # the matter of caller-initiated requests: a word, as the web shows it
MAX_E164_DIGITS = 15  # the longest number, and so the longest prefix of one
# The do-not-call list (numbers: and file: together). A hotline's list is the customers
# who asked not to be called: thousands. Each number costs about 0.05 ms to read at every
# check-config and reload, and the list is held in memory by every process.
MAX_DNC_NUMBERS = 100_000
MAX_DNC_FILE_BYTES = 4 << 20  # 100,000 lines of a number written with spaces, and comments
# The customer's dial string, as the callbacks' dialplan takes it (ivr/dialer/asterisk_conf.py).
_DIAL = re.compile(r"[A-Za-z0-9/@._{}+-]+")
WORD_RULE = f"a plain word: 1 to {MAX_NAME} letters, digits, - or _ (A-Z a-z 0-9)"


@dataclass(frozen=True)
class DialerSettings:
    originate_rate: float = 5.0
    burst: int = 1
    poll_seconds: float = 0.5
    batch_size: int = 20
    agent_ring_seconds: int = 15
    customer_ring_seconds: int = 25
    customer_dial: str = "PJSIP/{number}@customers"
    caller_id: str = "4000"
    reconcile_seconds: float = 10.0
    trunk_host: str = "127.0.0.1"  # where the `customers` PJSIP endpoint sends calls
    trunk_port: int = 5080

    def dial_string(self, number: str) -> str:
        """The customer's dial string; only digits and a leading '+' reach the dialplan."""
        return self.customer_dial.format(number=normalise_number(number))


@dataclass(frozen=True)
class IntakeSettings:
    matter: str = DEFAULT_IVR_MATTER
    voicemail_callbacks: bool = True
    abandoned_calls: bool = False
    abandoned_min_wait_seconds: int = 10
    lookback_hours: int = 24
    scan_seconds: float = 5.0


@dataclass(frozen=True)
class CallbackSettings:
    default_tz: ZoneInfo
    tz_by_prefix: Mapping[str, ZoneInfo]
    weekly: Mapping[str, tuple[TimeWindow, ...]]
    dial_on_holidays: bool
    do_not_call: frozenset[str]
    dialer: DialerSettings
    retry: RetryPolicy
    intake: IntakeSettings
    rules: Mapping[str, ServiceRule] = field(default_factory=dict)
    region: str = ""  # site.region: the country of numbers written nationally

    def calling_rules(self, holidays: Iterable[date] = ()) -> CallingRules:
        """The domain's calling rules, with the hotline calendar's holidays."""
        return CallingRules(
            weekly=self.weekly,
            default_tz=self.default_tz,
            tz_by_prefix=self.tz_by_prefix,
            holidays=frozenset(holidays),
            dial_on_holidays=self.dial_on_holidays,
            do_not_call=self.do_not_call,
            number_key=phone.keyer(self.region or None),
            zone_of=phone.time_zone,
        )

    def rule_for(self, matter: str) -> ServiceRule | None:
        """The service rule a matter names by its prefix ("complaint:202611-0001")."""
        return self.rules.get(matter.split(":", 1)[0])


def load_callbacks_config(
    directory: Path, site_tz: ZoneInfo, branches: Iterable[str], region: str = ""
) -> CallbackSettings:
    """Read and validate `directory`/callbacks.yaml.

    `site_tz`, `branches` and `region` come from the already validated hotline.yaml
    and routing.yaml (the default calling zone, the branches a rule may name, the
    country of numbers written nationally).
    """
    d = Path(directory)
    data = read_yaml(d, FILE)
    check_file(FILE, data)
    c = Cursor(FILE, data)
    hours = c.child("calling_hours")
    settings = CallbackSettings(
        default_tz=_tz(hours.opt("timezone", None), site_tz),
        tz_by_prefix=_prefixes(hours.opt("timezones_by_prefix", {})),
        weekly=_weekly(hours.child("weekly")),
        dial_on_holidays=hours.opt("dial_on_holidays", False).boolean(),
        do_not_call=_dnc(c.opt("do_not_call", {}), d, region),
        dialer=_dialer(c.opt("dialer", {})),
        retry=_retry(c.opt("retry", {})),
        intake=_intake(c.opt("intake", {})),
        rules=_rules(c.opt("rules", {}), frozenset(branches) | {OPERATOR_BRANCH, ""}),
        region=region,
    )
    c.check_unknown()
    return settings


def _tz(c: Cursor, site_tz: ZoneInfo) -> ZoneInfo:
    """The configured default, else the site's time zone."""
    return c.zone() if c.data is not None else site_tz


def _prefixes(c: Cursor) -> dict[str, ZoneInfo]:
    out: dict[str, ZoneInfo] = {}
    for prefix, zone in c.items():
        digits = prefix[1:]  # ASCII: a number's digits are never fullwidth ones
        if not prefix.startswith("+") or not (digits.isdigit() and digits.isascii()):
            raise zone.fail(f"prefix {prefix!r} must be '+' and digits (E.164)")
        if len(digits) > MAX_E164_DIGITS:
            raise zone.fail(f"prefix {prefix!r} is longer than a number ({MAX_E164_DIGITS} digits)")
        out[prefix] = zone.zone()
    return out


def _weekly(c: Cursor) -> dict[str, tuple[TimeWindow, ...]]:
    weekly: dict[str, tuple[TimeWindow, ...]] = {}
    for day, day_windows in c.items():
        if day not in WEEKDAYS:
            raise day_windows.fail(f"unknown weekday {day!r} (use {', '.join(WEEKDAYS)})")
        # [] or nothing: no window that day (a 0 or "" is not a window: refused)
        weekly[day] = () if day_windows.data in (None, []) else windows(day_windows)
    if not any(weekly.values()):
        raise c.fail("no calling window at all: the dialer could never call")
    return weekly


def _dnc(c: Cursor, directory: Path, region: str) -> frozenset[str]:
    """The do-not-call list in E.164, so that every form of a listed number matches:
    at most MAX_DNC_NUMBERS entries, the file at most MAX_DNC_FILE_BYTES."""
    numbers: set[str] = set()
    listed = c.opt("numbers", []).seq()
    for n in listed:
        try:
            numbers.add(phone.canonical(n.text(), region))
        except phone.NumberError as e:
            raise n.fail(str(e)) from None
    file = c.opt("file", None)
    if file.data is not None:
        path = directory / file.text()
        lines = _dnc_lines(file, path)
        entries = [
            (i, line)
            for i, line in enumerate(lines, start=1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
        if len(listed) + len(entries) > MAX_DNC_NUMBERS:
            raise file.fail(
                f"{str(path)!r} lists {len(entries)} numbers (with numbers: {len(listed)}): "
                f"at most {MAX_DNC_NUMBERS}"
            )
        for i, line in entries:
            try:
                numbers.add(phone.canonical(line, region))
            except phone.NumberError as e:
                raise file.fail(f"{path} line {i}: {e}") from None
    return frozenset(numbers)


def _dnc_lines(file: Cursor, path: Path) -> list[str]:
    """The do-not-call file's lines, read no further than MAX_DNC_FILE_BYTES (a file
    that grows, or says it is empty as /proc's do, is read within the bound too)."""
    try:
        if not path.is_file():  # a directory, a FIFO, /dev/zero: never read
            raise file.fail(f"{str(path)!r} is not a file")
        with path.open("rb") as f:
            data = f.read(MAX_DNC_FILE_BYTES + 1)
        if len(data) > MAX_DNC_FILE_BYTES:
            raise file.fail(f"{str(path)!r} is larger than {MAX_DNC_FILE_BYTES} bytes")
        # utf-8-sig: a list saved "UTF-8 with BOM" (a spreadsheet's export), as YAML is read
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise file.fail(f"{path} is not UTF-8 text") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL in the name
        reason = getattr(e, "strerror", None) or e
        raise file.fail(f"cannot read {str(path)!r}: {reason}") from None


def _dialer(c: Cursor) -> DialerSettings:
    dial = c.opt("customer_dial", DialerSettings.customer_dial)
    if "{number}" not in dial.text() or not _DIAL.fullmatch(dial.text()):
        # as the callbacks' dialplan takes it (ivr/dialer/asterisk_conf.py)
        raise dial.fail("must contain {number} and only A-Z a-z 0-9 / @ . _ + - besides")
    caller_id = c.opt("caller_id", DialerSettings.caller_id)
    if not normalise_number(caller_id.text()):
        raise caller_id.fail(f"{caller_id.data!r} has no digits")
    return DialerSettings(
        originate_rate=c.opt("originate_rate", 5).number(),
        burst=c.opt("burst", 1).integer(1),
        poll_seconds=c.opt("poll_seconds", 0.5).number(),
        batch_size=c.opt("batch_size", 20).integer(1),
        agent_ring_seconds=c.opt("agent_ring_seconds", 15).integer(1),
        customer_ring_seconds=c.opt("customer_ring_seconds", 25).integer(1),
        customer_dial=dial.text(),
        caller_id=normalise_number(caller_id.text()),
        reconcile_seconds=c.opt("reconcile_seconds", 10).number(),
        trunk_host=_trunk_host(c.opt("trunk_host", "127.0.0.1")),
        trunk_port=c.opt("trunk_port", 5080).integer(1, 65_535),
    )


def _trunk_host(c: Cursor) -> str:
    """The customer trunk's host, as the callbacks' pjsip.conf takes it (no '_')."""
    host = c.asterisk_host()
    if "_" in host:
        raise c.fail(f"{host!r} is not a host name: no '_'")
    return host


def _retry(c: Cursor) -> RetryPolicy:
    backoff = c.opt("backoff_minutes", [10, 30, 120])
    delays = tuple(timedelta(minutes=m.number()) for m in backoff.seq())
    if not delays:
        raise backoff.fail("at least one delay is needed")
    busy = c.opt("busy_backoff_minutes", 5)
    return RetryPolicy(
        max_attempts=c.opt("max_attempts", 4).integer(1),
        backoff=delays,
        busy_backoff=None if busy.data is None else timedelta(minutes=busy.number()),
        agent_retry=timedelta(seconds=c.opt("agent_retry_seconds", 30).number()),
        expire_after=timedelta(hours=c.opt("expire_after_hours", 168).number()),
    )


def _intake(c: Cursor) -> IntakeSettings:
    matter = c.opt("matter", DEFAULT_IVR_MATTER)
    if ":" in matter.line(MAX_MATTER):
        raise matter.fail("must be a plain word without ':'")
    with matter.reason():  # no spaces at its ends: as every other door takes a matter
        callback_matter(matter.text())
    return IntakeSettings(
        matter=matter.text(),
        voicemail_callbacks=c.opt("voicemail_callbacks", True).boolean(),
        abandoned_calls=c.opt("abandoned_calls", False).boolean(),
        abandoned_min_wait_seconds=c.opt("abandoned_min_wait_seconds", 10).integer(),
        lookback_hours=c.opt("lookback_hours", 24).integer(1),
        scan_seconds=c.opt("scan_seconds", 5).number(),
    )


def _rules(c: Cursor, branches: frozenset[str]) -> dict[str, ServiceRule]:
    out: dict[str, ServiceRule] = {}
    kinds = tuple(k.value for k in RuleKind)
    for name, r in c.items():
        if not is_word(name):  # a matter's prefix ("complaint:202611-0001"): no ':'
            raise r.fail(f"rule name {name!r} must be {WORD_RULE}")
        kind = RuleKind(r.child("kind").choice(kinds))
        days = r.opt("days", 0)
        if kind is RuleKind.WITHIN_DAYS and days.integer(1) < 1:
            raise days.fail("within_days needs days >= 1")
        branch = r.opt("branch", "")
        if branch.data is not None and branch.text() not in branches:  # 0 is no branch
            raise branch.fail(f"no branch {branch.data!r} in routing.yaml")
        rate = r.opt("target_rate", 1.0)
        if isinstance(rate.data, bool) or not isinstance(rate.data, int | float):
            raise rate.fail(f"must be a number, got {rate.data!r}")
        if not 0 < rate.data <= 1:
            raise rate.fail(f"must be in (0, 1], got {rate.data}")
        out[name] = ServiceRule(
            name, kind, days.integer(), str(branch.data or ""), float(rate.data)
        )
    return out
