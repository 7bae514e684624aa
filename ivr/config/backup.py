"""The `backup:` section of hotline.yaml: where copies go, how many stay, when they are made.

```yaml
backup:
  directory: backups   # relative to the data directory (default: backups)
  keep: 14             # newest copies kept; older ones are deleted (default: 14)
  every: 24h           # or  daily: "02:30"  (site time zone); default every 24h
```

Pure parsing: `parse_backup` raises `BackupConfigError(item, reason)`, which the
config loader turns into a ConfigError naming hotline.yaml and the item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, Final

from ivr.domain.text import bad_character

MAX_KEEP: Final = 1000
MIN_EVERY: Final = timedelta(minutes=1)
MAX_EVERY: Final = timedelta(days=7)  # REQUIREMENTS §6: at least weekly
_EVERY_RE: Final = re.compile(r"^([1-9][0-9]{0,5})\s*([mhd])$")
_UNITS: Final = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_DAILY_RE: Final = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_KEYS: Final = frozenset({"directory", "keep", "every", "daily"})


class BackupConfigError(ValueError):
    """A bad item of the backup section: `item` (e.g. "keep") and why."""

    def __init__(self, item: str, reason: str) -> None:
        self.item, self.reason = item, reason
        super().__init__(f"backup.{item}: {reason}" if item else f"backup: {reason}")


@dataclass(frozen=True)
class BackupSettings:
    directory: Path
    keep: int = 14
    every: timedelta | None = timedelta(hours=24)
    daily: time | None = None

    def next_due(self, last: datetime, now: datetime) -> datetime:
        """When the backup after the one made at `last` is due (a time past `now` means
        overdue: make it at once). `daily` is read in `now`'s zone, by the wall clock.
        """
        if self.daily is not None:
            local = last.astimezone(now.tzinfo)
            due = local.replace(
                hour=self.daily.hour, minute=self.daily.minute, second=0, microsecond=0
            )
            return due if due > local else due + timedelta(days=1)
        return last + (self.every or timedelta(hours=24))


def parse_backup(raw: Any, data_dir: Path) -> BackupSettings:
    """The validated backup section (`raw` is the YAML value, None when absent)."""
    if raw is None:
        return BackupSettings(directory=data_dir / "backups")
    if not isinstance(raw, dict):
        raise BackupConfigError("", f"must be a mapping, got {type(raw).__name__}")
    unknown = sorted(str(k) for k in raw if k not in _KEYS)
    if unknown:
        raise BackupConfigError(unknown[0], f"unknown item; expected one of {sorted(_KEYS)}")
    directory = _directory(raw.get("directory", "backups"), data_dir)
    keep = raw.get("keep", 14)
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_KEEP:
        raise BackupConfigError("keep", f"must be a whole number 1 to {MAX_KEEP}, got {keep!r}")
    if "every" in raw and "daily" in raw:
        raise BackupConfigError("every", "give either every or daily, not both")
    if "daily" in raw:
        return BackupSettings(directory, keep, every=None, daily=_daily(raw["daily"]))
    return BackupSettings(directory, keep, every=_every(raw.get("every", "24h")))


def _directory(value: Any, data_dir: Path) -> Path:
    if not isinstance(value, str) or not value.strip() or bad_character(value) or len(value) > 4096:
        raise BackupConfigError("directory", f"must be a path, got {value!r}")
    path = Path(value)
    return path if path.is_absolute() else data_dir / path


def _every(value: Any) -> timedelta:
    match = _EVERY_RE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise BackupConfigError("every", f"must be like 30m, 24h or 7d, got {value!r}")
    every = int(match.group(1)) * _UNITS[match.group(2)]
    if not MIN_EVERY <= every <= MAX_EVERY:
        raise BackupConfigError("every", f"must be from 1m to 7d, got {value!r}")
    return every


def _daily(value: Any) -> time:
    match = _DAILY_RE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise BackupConfigError("daily", f'must be a time "HH:MM", got {value!r}')
    return time(int(match.group(1)), int(match.group(2)))
