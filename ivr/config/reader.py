"""Reading YAML strictly and walking it with a cursor that names where it is.

Every loader in this package reads its file with `read_yaml` (duplicate keys
refused) and walks it with a `Cursor`, so every error names the file, the item's
path and the reason.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml

from ivr.config.errors import ConfigError
from ivr.domain.calendar import TimeWindow, parse_window
from ivr.domain.text import bad_character

# --- YAML read within limits, duplicate keys refused -------------------------

MAX_FILE_BYTES = 1 << 20  # a hotline's largest file (a do-not-call list) is far smaller
MAX_DEPTH = 32  # mappings and lists inside each other
MAX_NODES = 200_000  # scalars, mappings and lists, aliases counted as they expand
MAX_ALIASES = 100
MAX_NUMBER_DIGITS = 30  # a whole number any setting could need, and then some
# The largest value any number setting takes unless it says otherwise (seconds,
# minutes, hours, counts): past it a duration overflows a date or a timer's limit.
MAX_SETTING = 1_000_000
# A plain scalar YAML reads as an integer: decimal, or 0x / 0o / 0b with their digits
# (an identifier such as a Twilio account SID "AC0000…" is text, however long).
# A name Asterisk takes as a section, a queue, a SIP user part (seats, branches, the AMI
# user): the rule of ivr/adapters/asterisk/templates.py, checked here before the first call.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NAME_RULE = "a plain name: A-Z a-z 0-9 _ . -, at most 64, starting with a letter or digit"
MAX_NAME = 64  # any name a file gives its own things (a rota, a term, a rule): NAME's bound
HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
MAX_LINE = 200  # a name shown to people (the site, an agent, a holiday)
_NUMBER = re.compile(r"[-+]?(?:0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|[0-9][0-9_]*)")


# A plain scalar YAML 1.1 reads as a number but whose digits would then change: an
# octal (0400 is 256, 01012345670 is 136956856), a sign '+' dropped (+8613800000001),
# a base-60 number (12:30 is 750). Phone numbers, extensions and times are written so;
# the loaders read each as the text it is (a setting wanting a number then refuses it).
_ALTERED_NUMBER = re.compile(r"\+.*|-?0[0-9_].*|.*:.*")
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


_NOT_ZONES = frozenset({"localtime", "Factory"})


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


class _StrictLoader(yaml.SafeLoader):
    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        if tag in _NUMBER_TAGS and implicit[0] and _ALTERED_NUMBER.fullmatch(value):
            return yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG
        return tag


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    """A mapping whose keys differ as text: the loaders read every key as text, so
    `0:` beside `"0":` (or `true:` beside `"True":`) is one key written twice. A merge
    key (`<<: *defaults`, once) is YAML's own: the keys written beside it override its keys."""
    first_line: dict[str, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be plain text, not a list or a mapping",
                key_node.start_mark,
            )  # fmt: skip
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`: merged below
            key = "<<"  # (SafeConstructor), its keys overridden by those written here
        else:
            key = str(loader.construct_object(key_node, deep=deep))
        if key in first_line:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {first_line[key]})",
                key_node.start_mark,
            )
        first_line[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


class _Frame:
    """One open mapping or list while scanning events: where we are inside it."""

    def __init__(self, kind: str, path: str, anchor: str | None) -> None:
        self.kind, self.path, self.anchor = kind, path, anchor
        self.index = 0  # lists: the next item's index
        self.key: str | None = None  # mappings: the key whose value comes next
        self.size = 1  # nodes below, for anchors that aliases will repeat

    def child_path(self) -> str:
        if self.kind == "list":
            return f"{self.path}[{self.index}]"
        return f"{self.path}.{self.key}" if self.path else str(self.key)

    def done_child(self) -> None:
        if self.kind == "list":
            self.index += 1
        else:
            self.key = None


def check_limits(name: str, text: str) -> None:
    """Refuse, before anything is built, what would make building slow or unsafe:
    nesting past MAX_DEPTH, too many nodes or aliases (alias bombs), an alias or a
    collection as a key, and numbers too long to mean anything. The error names the
    item's path, as every other config error does. Scanning events is iterative, so
    any depth is refused without recursion."""
    stack: list[_Frame] = []
    anchors: dict[str, int] = {}  # anchor -> nodes it stands for
    nodes = aliases = 0

    def fail(where: str, reason: str) -> ConfigError:
        return ConfigError(name, where or "top level", reason)

    def child_path() -> str:
        return stack[-1].child_path() if stack else ""

    def add(count: int) -> None:
        nonlocal nodes
        nodes += count
        for frame in stack:
            frame.size += count
        if nodes > MAX_NODES:
            raise fail(child_path(), f"more than {MAX_NODES} values in one file")

    def value_done(size: int, anchor: str | None) -> None:
        if anchor:
            anchors[anchor] = size
        if stack:
            stack[-1].done_child()

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        key_expected = bool(stack) and stack[-1].kind == "map" and stack[-1].key is None
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if key_expected:
                raise fail(stack[-1].path, f"an alias (*{event.anchor}) cannot be a key")
            if aliases > MAX_ALIASES:
                raise fail(child_path(), f"more than {MAX_ALIASES} aliases")
            add(anchors.get(event.anchor or "", 1))
            value_done(0, None)
        elif isinstance(event, yaml.ScalarEvent):
            where = child_path()
            value = event.value
            if event.style is None and len(value) > MAX_NUMBER_DIGITS and _NUMBER.fullmatch(value):
                raise fail(where, f"a number of {len(value)} digits (at most {MAX_NUMBER_DIGITS})")
            add(1)
            if key_expected:
                stack[-1].key = value if len(value) <= 80 else value[:77] + "..."
            else:
                value_done(1, event.anchor)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            if key_expected:
                raise fail(stack[-1].path, "a key must be plain text, not a list or a mapping")
            if len(stack) >= MAX_DEPTH:
                raise fail(child_path(), f"nested deeper than {MAX_DEPTH} levels")
            add(1)
            kind = "map" if isinstance(event, yaml.MappingStartEvent) else "list"
            stack.append(_Frame(kind, child_path(), event.anchor))
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            frame = stack.pop()
            value_done(frame.size, frame.anchor)


def read_yaml(directory: Path, name: str) -> dict[str, Any]:
    path = directory / name
    if path.is_dir():
        raise ConfigError(name, "", f"a directory, not a file, in {directory}")
    if not path.is_file():
        raise ConfigError(name, "", f"file missing in {directory}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ConfigError(name, "", f"{size} bytes: larger than {MAX_FILE_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
        check_limits(name, text)
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise ConfigError(name, where, f"malformed YAML: {e.problem or e.context}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:  # on one line: PyYAML's has several
        raise ConfigError(name, "", f"malformed YAML: {' '.join(str(e).split())}") from None
    except OSError as e:  # unreadable (permissions, I/O): named, never a traceback
        raise ConfigError(name, "", f"cannot be read: {e.strerror or e}") from None
    except (ValueError, TypeError, RecursionError) as e:  # past the checks: never a traceback
        raise ConfigError(name, "", f"cannot be read: {type(e).__name__}: {e}"[:300]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(name, "", "the top level must be a mapping")
    return data


def is_word(name: str, extra: str = "_-", ascii_only: bool = True, most: int = MAX_NAME) -> bool:
    """`name` is a plain word: 1 to `most` letters, digits and characters of `extra`,
    at least one letter or digit, and ASCII unless `ascii_only` is false (a rota
    may be named in the site's script). Nothing blank, no control or format
    character (NUL, CR, a bidirectional override), no 100 kB name.

    >>> is_word("night_crew"), is_word("a b"), is_word("x" * 65), is_word("\u00e9t\u00e9")
    (True, False, False, False)
    >>> is_word("\u00e9t\u00e9", ascii_only=False), is_word("-"), is_word("a\\x00b")
    (True, False, False)
    """
    bare = name
    for ch in extra:
        bare = bare.replace(ch, "")
    return len(name) <= most and bare.isalnum() and (name.isascii() or not ascii_only)


# --- a small cursor that knows where it is ------------------------------------


class _Keys:
    """Which keys of each mapping in one file the loader asked for."""

    def __init__(self) -> None:
        self.maps: dict[int, tuple[str, dict[Any, Any], set[str]]] = {}

    def seen(self, path: str, data: Any) -> set[str] | None:
        if not isinstance(data, dict):
            return None
        return self.maps.setdefault(id(data), (path, data, set()))[2]


class Cursor:
    """A place in one file's data: reads values with their type and range, and
    remembers which keys were asked for, so that `check_unknown()` refuses a key
    nobody reads (a misspelt `oncal:` must not silently turn into a default). The
    models of schema.py refuse undeclared keys first; this stays as the check that
    a key a model declares is also read."""

    def __init__(self, file: str, data: Any, path: str = "", keys: _Keys | None = None) -> None:
        self.file, self.data, self.path = file, data, path
        self._keys = keys if keys is not None else _Keys()
        self._asked = self._keys.seen(path, data)

    def fail(self, reason: str, item: str | None = None) -> ConfigError:
        return ConfigError(self.file, item if item is not None else self.path, reason)

    def _at(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else str(key)

    def child(self, key: str | int) -> Cursor:
        if self._asked is not None:  # a mapping (its keys may be numbers: menu options)
            self._asked.add(str(key))
        return Cursor(self.file, self._get(key), self._at(key), self._keys)

    def _get(self, key: str | int) -> Any:
        if isinstance(key, int):
            return self.data[key]
        if not isinstance(self.data, dict):
            raise self.fail("must be a mapping")
        if key not in self.data:
            raise ConfigError(self.file, self._at(key), "missing")
        return self.data[key]

    def opt(self, key: str, default: Any) -> Cursor:
        if self._asked is not None:
            self._asked.add(key)
        if isinstance(self.data, dict) and key in self.data:
            return self.child(key)
        return Cursor(self.file, default, self._at(key), _Keys())

    def items(self) -> Iterator[tuple[str, Cursor]]:
        if not isinstance(self.data, dict):
            raise self.fail("must be a mapping")
        for k in self.data:
            yield str(k), self.child(k)

    def accept_all(self) -> None:
        """Every key here counts as known (a section whose own parser refuses unknown keys)."""
        if self._asked is not None:
            self._asked.update(str(k) for k in self.data)

    def check_unknown(self) -> None:
        """Refuse the first key (by path) that no part of the loader asked for."""
        unknown = []
        for path, data, asked in self._keys.maps.values():
            for key in data:
                if str(key) not in asked:
                    unknown.append((path, str(key), asked))
        if unknown:
            path, key, asked = min(unknown)
            close = difflib.get_close_matches(key, sorted(asked), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else (
                f"; known here: {', '.join(sorted(asked))}" if asked else ""
            )  # fmt: skip
            where = f"{path}.{key}" if path else key
            raise ConfigError(self.file, where, f"unknown key {key!r}{hint}")

    def seq(self) -> list[Cursor]:
        if self.data is None:
            return []
        if not isinstance(self.data, list):
            raise self.fail("must be a list")
        return [self.child(i) for i in range(len(self.data))]

    def text(self) -> str:
        if isinstance(self.data, bool) or not isinstance(self.data, str | int | float):
            raise self.fail(f"must be text, got {type(self.data).__name__}")
        return str(self.data)

    def integer(self, minimum: int = 0, maximum: int = MAX_SETTING) -> int:
        if isinstance(self.data, bool) or not isinstance(self.data, int):
            raise self.fail(f"must be a whole number, got {self.data!r}")
        if self.data < minimum:
            raise self.fail(f"must be at least {minimum}, got {self.data}")
        if self.data > maximum:
            raise self.fail(f"must be at most {maximum}, got {self.data}")
        return self.data

    def number(self, maximum: float = MAX_SETTING) -> float:
        """A positive, finite number up to `maximum` (NaN and infinities refused)."""
        if isinstance(self.data, bool) or not isinstance(self.data, int | float):
            raise self.fail(f"must be a number, got {self.data!r}")
        if not math.isfinite(self.data):
            raise self.fail(f"must be a finite number, got {self.data}")
        if self.data <= 0:
            raise self.fail(f"must be positive, got {self.data}")
        if self.data > maximum:
            raise self.fail(f"must be at most {maximum:g}, got {self.data:g}")
        return float(self.data)

    def boolean(self) -> bool:
        if not isinstance(self.data, bool):
            raise self.fail(f"must be true or false, got {self.data!r}")
        return self.data

    def day(self) -> date:
        if isinstance(self.data, date):
            return self.data
        try:
            return date.fromisoformat(str(self.data))
        except ValueError:
            raise self.fail(f"{self.data!r} is not a date (YYYY-MM-DD)") from None

    def zone(self) -> ZoneInfo:
        """An IANA time zone (Asia/Shanghai). Not a file of the zone directory that is
        none: `localtime` (this machine's zone: the config would mean another time on
        another machine), `Factory`, `posixrules`, the `right/` (leap seconds) and
        `posix/` copies."""
        key = self.text()
        try:
            zone = ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long
            raise self.fail(f"unknown time zone {self.data!r}") from None
        if key in _NOT_ZONES or key not in _zones():
            raise self.fail(f"{key!r} is not an IANA time zone such as Asia/Shanghai")
        return zone

    def line(self, most: int = MAX_LINE, allowed: str = "") -> str:
        """Text shown to people or spoken: 1 to `most` characters, not blank, none that
        the one text rule refuses (control and format characters: NUL, CR, LF, the
        bidirectional overrides; `allowed` may let some through, e.g. a line feed)."""
        value = self.text()
        bad = bad_character(value, allowed)
        if bad is not None:
            raise self.fail(f"holds the character {bad}: not allowed here")
        if not value.strip() or len(value) > most:
            raise self.fail(f"must be 1 to {most} characters, not blank")
        return value

    def name(self) -> str:
        """A name Asterisk takes as it is (NAME)."""
        value = self.text()
        if not NAME.fullmatch(value):
            raise self.fail(f"{value!r} is not {NAME_RULE}")
        return value

    def host(self) -> str:
        """An IP address or a host name (it goes into a bind address or a dial string)."""
        value = self.text()
        if HOSTNAME.fullmatch(value):
            return value
        try:
            ipaddress.ip_address(value)  # IPv6
        except ValueError:
            raise self.fail(f"must be an IP address or a host name, got {value!r}") from None
        return value

    def asterisk_host(self) -> str:
        """A host written into Asterisk's config (a bind address, the AGI URL, a trunk's
        contact): an IPv4 address or a host name of NAME's characters, as the renderer
        (ivr/adapters/asterisk/templates.py) takes it; an IPv6 address would need brackets."""
        value = self.text()
        if not NAME.fullmatch(value):
            raise self.fail(
                f"{value!r} is not a host Asterisk's config takes: an IPv4 address or a "
                "host name of A-Z a-z 0-9 _ . -, at most 64"
            )
        return value

    def choice(self, options: tuple[str, ...]) -> str:
        value = self.text()
        if value not in options:
            raise self.fail(f"{value!r} is not one of {', '.join(options)}")
        return value

    @contextmanager
    def reason(self) -> Iterator[None]:
        """Turn a ValueError from a domain parser into a ConfigError here."""
        try:
            yield
        except ValueError as e:
            raise self.fail(str(e)) from None


def windows(c: Cursor) -> tuple[TimeWindow, ...]:
    items = c.seq() if isinstance(c.data, list) else [c]
    out: list[TimeWindow] = []
    for w in items:
        with w.reason():
            window = parse_window(w.text())
        clash = next((o for o in out if o.overlaps(window)), None)
        if clash is not None:
            raise w.fail(f"{window} overlaps {clash}")
        out.append(window)
    return tuple(out)
