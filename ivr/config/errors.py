"""The one error of the configuration package."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration problem: which file, which item, and why."""

    def __init__(self, file: str, item: str, reason: str) -> None:
        self.file, self.item, self.reason = file, item, reason
        super().__init__(f"{file}: {item}: {reason}" if item else f"{file}: {reason}")
