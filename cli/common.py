"""What every group of subcommands shares: the runtime, argument types, output."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ivr.bootstrap import Runtime
    from ivr.config import HotlineConfig

Command = Callable[[argparse.Namespace], int]
AddCommand = Callable[[str, Command, str], argparse.ArgumentParser]

MAX_LIMIT = 1_000_000


def common_options(defaults: bool) -> argparse.ArgumentParser:
    """Options every subcommand takes, before or after its name.

    The top-level parser sets the defaults; the copies on the subcommands
    suppress theirs, so `hotline -v calls` and `hotline calls -v` both work.
    """
    p = argparse.ArgumentParser(add_help=False)
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

    try:
        return build_runtime(getattr(args, "config", None))
    except SQLAlchemyError as e:
        where = ("environment", ENV_DATABASE_URL) if os.environ.get(ENV_DATABASE_URL) else (
            "hotline.yaml", "database.url"
        )  # fmt: skip
        reason = " ".join(str(getattr(e, "orig", None) or e).split())[:300]
        raise ConfigError(*where, f"cannot open the database: {reason}") from None
    except OSError as e:  # making the data directory or its secrets/
        reason = f"{e.filename}: {e.strerror}" if e.filename else str(e)
        raise ConfigError("environment", ENV_DATA_DIR, f"cannot be used: {reason}") from None


def config(args: argparse.Namespace) -> HotlineConfig:
    """The validated configuration only (no database opened)."""
    from ivr.bootstrap import config_dir
    from ivr.config import load_config

    return load_config(config_dir(getattr(args, "config", None), os.environ), os.environ)


def nonempty(text: str) -> str:
    """An argparse type: text that is not blank (blank would silently mean the default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


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


def int_range(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [lo, hi] (argparse exits 2 naming the option)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is not between {lo} and {hi}")
        return value

    parse.__name__ = "whole number"
    return parse


def float_range(lo: float, hi: float) -> Callable[[str], float]:
    """An argparse type: a finite number in [lo, hi]."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not lo <= value <= hi:  # also refuses nan
            raise argparse.ArgumentTypeError(f"{text} is not between {lo:g} and {hi:g}")
        return value

    parse.__name__ = "number"
    return parse


def dtmf_keys(max_len: int) -> Callable[[str], str]:
    """An argparse type: up to `max_len` phone keys (0-9, * and #)."""

    def parse(text: str) -> str:
        bad = sorted({k for k in text if k not in "0123456789*#"})
        if bad:
            raise argparse.ArgumentTypeError(f"{text!r}: {''.join(bad)!r} is not a phone key")
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
