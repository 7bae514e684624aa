"""What every group of subcommands shares: the runtime, argument types, output."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from ivr.domain.text import MULTILINE, bad_character, one_line_feed, shown, squeezed

if TYPE_CHECKING:
    from ivr.bootstrap import Runtime
    from ivr.config import HotlineConfig

Command = Callable[[argparse.Namespace], int]
AddCommand = Callable[[str, Command, str], argparse.ArgumentParser]

MAX_LIMIT = 1_000_000


MAX_MESSAGE = 400  # characters of an error message: a 100 kB argument is not echoed whole


def clip(message: str, most: int = MAX_MESSAGE) -> str:
    """A message cut in its middle when longer than `most`: its head names the argument,
    its tail often lists the choices."""
    if len(message) <= most:
        return message
    return f"{message[: most * 2 // 3]} ... {message[-(most // 3) :]}"


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose refusals echo an overlong argument only in part (its
    subcommands' parsers are of the same class)."""

    def error(self, message: str) -> NoReturn:
        super().error(clip(message))


def common_options(defaults: bool) -> Parser:
    """Options every subcommand takes, before or after its name.

    The top-level parser sets the defaults; the copies on the subcommands
    suppress theirs, so `hotline -v calls` and `hotline calls -v` both work.
    """
    p = Parser(add_help=False)
    keep = None if defaults else argparse.SUPPRESS
    p.add_argument(
        "-v", "--verbose", action="store_true", default=False if defaults else keep,
        help="log at INFO (default WARNING)",
    )  # fmt: skip
    p.add_argument(
        "--log-format", choices=("text", "json"), default="text" if defaults else keep,
        help="log lines as text or as one JSON object each (call id as a field)",
    )  # fmt: skip
    return p


def runtime(args: argparse.Namespace) -> Runtime:
    """The composition root's runtime for `--config` (or $HOTLINE_CONFIG, ./config).

    A database that cannot be opened (no such database, server refused, a SQLite
    file in a missing directory) or a data directory that cannot be made is a
    ConfigError naming the setting, not a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from ivr.bootstrap import build_runtime
    from ivr.config import ENV_DATA_DIR, ENV_DATABASE_URL, ConfigError

    config_directory(args)
    try:
        return build_runtime(getattr(args, "config", None))
    except SQLAlchemyError as e:
        where = ("environment", ENV_DATABASE_URL) if os.environ.get(ENV_DATABASE_URL) else (
            "hotline.yaml", "database.url"
        )  # fmt: skip
        raise ConfigError(*where, f"cannot open the database: {driver_reason(e)}") from None
    except OSError as e:  # making the data directory or its secrets/
        reason = f"{e.filename}: {e.strerror}" if e.filename else str(e)
        raise ConfigError("environment", ENV_DATA_DIR, f"cannot be used: {reason}") from None


def driver_reason(e: BaseException) -> str:
    """Why the database driver refused, in one bounded line (SQLAlchemy's wrapper and its
    statement left out: the driver's own words, which never hold the password)."""
    return squeezed(str(getattr(e, "orig", None) or e), 300)


def config(args: argparse.Namespace) -> HotlineConfig:
    """The validated configuration only (no database opened)."""
    from ivr.config import load_config

    return load_config(config_directory(args), os.environ)


def config_directory(args: argparse.Namespace) -> Path:
    """`--config`, else $HOTLINE_CONFIG, else ./config; a path the system refuses to
    look at (a name too long, a NUL in the variable) exits 2 naming where it came
    from, before the loader meets it as an OSError."""
    from ivr.bootstrap import ENV_CONFIG_DIR, config_dir

    explicit = getattr(args, "config", None)
    directory = config_dir(explicit, os.environ)
    try:
        directory.is_dir()
    except (OSError, ValueError) as e:
        where = "argument --config" if explicit else ENV_CONFIG_DIR
        reason = getattr(e, "strerror", None) or str(e)
        raise argparse.ArgumentTypeError(
            f"{where}: {shown(str(directory), 60)} cannot be used: {reason}"
        ) from None
    return directory


MAX_PATH = 4096  # PATH_MAX on Linux


def nonempty(text: str) -> str:
    """An argparse type: text that is not blank (blank would silently mean the default),
    such as a path or a host: one line of printable characters, at most MAX_PATH."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    if len(text) > MAX_PATH:
        raise argparse.ArgumentTypeError(f"{len(text)} characters: at most {MAX_PATH}")
    bad = bad_character(text)
    if bad:
        raise argparse.ArgumentTypeError(f"may not contain the character {bad}")
    return text


def text_arg(most: int, *, lines: bool = False, blank: bool = True) -> Callable[[str], str]:
    """An argparse type: text of at most `most` characters without a character typed
    text may not hold (ivr.domain.text, as the web app and the use cases ask). With
    `lines` (a note, a summary) it may hold line feeds and tabs; a CR LF becomes a
    line feed, a lone CR is refused (it would overwrite a line on a terminal).
    Without `blank`, blank text is refused."""
    allowed = MULTILINE if lines else ""

    def parse(value: str) -> str:
        if lines:
            value = one_line_feed(value)
        if len(value) > most:
            raise argparse.ArgumentTypeError(f"{len(value)} characters: at most {most}")
        bad = bad_character(value, allowed)
        if bad:
            raise argparse.ArgumentTypeError(f"may not contain the character {bad}")
        if not blank and not value.strip():
            raise argparse.ArgumentTypeError("must not be empty")
        return value

    parse.__name__ = "text"
    return parse


def agent_id(value: str) -> str:
    """An argparse type: an agent id (letters and digits of any script, - and _)."""
    if not value or len(value) > 64 or not value.replace("_", "").replace("-", "").isalnum():
        raise argparse.ArgumentTypeError(f"{shown(value)} is not an agent id")
    return value


def known_agent(cfg: HotlineConfig, agent: str | None, item: str) -> bool:
    """Whether `agent` (None: not given) is an agent of the roster; if not, says so,
    naming the argument `item` (the caller exits 2)."""
    if agent is None or cfg.roster.agent(agent) is not None:
        return True
    print(f"error: argument {item}: no agent {agent!r} in seats.yaml", file=sys.stderr)
    return False


def pinned_now() -> datetime | None:
    """$HOTLINE_NOW as an instant, None when unset; a bad value names the variable.

    It must carry a UTC offset, as the service's pinned clock requires
    (ivr.adapters.clock): every command reads the same variable the same way."""
    from ivr.adapters.clock import ENV_NOW

    text = os.environ.get(ENV_NOW)
    if not text:
        return None
    try:
        at = instant(text)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{ENV_NOW}: {e}") from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{ENV_NOW}: {text!r} has no UTC offset, e.g. 2026-11-23T10:00:00+08:00"
        )
    return at


_WHOLE = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


def int_range(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [lo, hi] (argparse exits 2 naming the option)."""

    def parse(text: str) -> int:
        # ASCII digits only: int() would also take "９", "٣" and "1_000"
        if not _WHOLE.fullmatch(text.strip()):
            raise argparse.ArgumentTypeError(f"{shown(text)} is not a whole number")
        value = int(text.strip())
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is not between {lo} and {hi}")
        return value

    parse.__name__ = "whole number"
    return parse


def float_range(lo: float, hi: float) -> Callable[[str], float]:
    """An argparse type: a finite number in [lo, hi]."""

    def parse(text: str) -> float:
        # ASCII digits only (float() would also take "１.５"); nan and inf are out of range
        if not _DECIMAL.fullmatch(text.strip()):
            raise argparse.ArgumentTypeError(f"{shown(text)} is not a number")
        value = float(text.strip())
        if not lo <= value <= hi:  # also refuses inf, and 1e309 (inf too)
            raise argparse.ArgumentTypeError(f"{shown(text)} is not between {lo:g} and {hi:g}")
        return value

    parse.__name__ = "number"
    return parse


def database_url(*stores: str, skip: bool = False) -> Callable[[str], str]:
    """An argparse type: a SQLAlchemy URL of one of `stores` (sqlite, postgresql), or ""
    when `skip` (the benches: no PostgreSQL run). The refusal never echoes the URL: it
    may hold a password."""
    from ivr.config.hotline import database_url_problem

    def parse(text: str) -> str:
        if skip and text == "":
            return text
        problem = database_url_problem(text, stores)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem + ("; '' skips it" if skip else ""))
        return text

    parse.__name__ = "database URL"
    return parse


def dtmf_keys(max_len: int, also: str = "") -> Callable[[str], str]:
    """An argparse type: up to `max_len` phone keys (0-9, * and #, and the characters
    of `also`, such as simulate's T for a timeout)."""
    keys = "0123456789*#" + also

    def parse(text: str) -> str:
        bad = sorted({k for k in text if k not in keys})
        if bad:
            raise argparse.ArgumentTypeError(f"{shown(text)}: {shown(''.join(bad))} is not a key")
        if len(text) > max_len:
            raise argparse.ArgumentTypeError(f"at most {max_len} keys, got {len(text)}")
        return text

    parse.__name__ = "keys"
    return parse


def phone_number(text: str, option: str, region: str) -> str:
    """A number given on the command line in E.164 (national forms in `region`).

    Checked after parsing (the region comes from the config): a text that is no
    possible number exits 2 naming the option, like argparse's own refusals.
    """
    from ivr.phone import NumberError, canonical

    try:
        return canonical(text, region or None)
    except NumberError as e:
        raise argparse.ArgumentTypeError(f"argument {option}: {e}") from None


def instant(text: str) -> datetime:
    """An argparse type: an ISO 8601 instant whose UTC day exists (years 1 and 9999 refused)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:30]!r} is not an ISO 8601 instant") from None
    return _in_years(value, text)


def day(text: str) -> date:
    """An argparse type: a calendar day YYYY-MM-DD (years 1970 to 9998)."""
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:30]!r} is not YYYY-MM-DD") from None
    return _in_years(value, text)


_D = TypeVar("_D", date, datetime)


def _in_years(value: _D, text: str) -> _D:
    if not 1970 <= value.year <= 9998:
        raise argparse.ArgumentTypeError(f"{text[:30]!r}: the year must be between 1970 and 9998")
    return value


def plain(obj: Any) -> Any:
    """A dataclass as a dict (for JSON output); anything else as it is."""
    return asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else obj


def audit_cli(rt: Runtime, action: str, target: str, detail: str) -> None:
    """The OS user read or changed customer records: the same audit log the web app keeps."""
    import getpass

    from ivr.adapters.db.models_web import AuditEntry

    with rt.sessions.begin() as s:
        s.add(
            AuditEntry(
                at=rt.clock(),
                username=getpass.getuser(),
                role="cli",
                action=action,
                target=target[:200],
                detail=detail,
                remote_addr="",
            )
        )
