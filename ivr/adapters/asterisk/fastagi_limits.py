"""What keeps the FastAGI server answering under abuse: limits and quiet logging.

An idle or dribbling connection must not hold a slot, a flood must not fill
the log, and running out of file descriptors must not stop the server from
accepting once they free up. The numbers live in `FastAgiLimits`; the server
(fastagi.py) applies them.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Descriptors kept free for everything else the process opens (database, log
# files, AMI, the spool, the thread pool's connections) when the dialog cap is
# clipped to the open-file limit.
FD_RESERVE = 100


@dataclass(frozen=True)
class FastAgiLimits:
    """Limits of the FastAGI server (config: the `fastagi` block of hotline.yaml).

    `env_timeout_seconds` bounds the silence before the environment block and,
    from its first bytes, the block itself: Asterisk sends it at once, so a
    connection still silent (or dribbling) after a few seconds is not Asterisk.
    `reply_timeout_seconds` bounds each reply, and must outlast the longest
    command the handlers send (a prompt plus the GET DATA timeout).
    """

    max_dialogs: int = 2000
    env_timeout_seconds: float = 5.0
    reply_timeout_seconds: float = 120.0
    max_line_bytes: int = 8192
    log_every_seconds: float = 10.0
    accept_retry_seconds: float = 0.05
    fd_reserve: int = FD_RESERVE

    def dialog_cap(self, open_files: int | None = None) -> int:
        """The cap in force: `max_dialogs`, lowered to leave descriptors to spare.

        >>> FastAgiLimits(max_dialogs=500).dialog_cap(open_files=1024)
        500
        >>> FastAgiLimits().dialog_cap(open_files=1024)
        924
        >>> FastAgiLimits(max_dialogs=50).dialog_cap(open_files=64)
        1
        """
        if open_files is None:
            open_files = open_file_limit()
        if open_files <= 0:  # unlimited
            return self.max_dialogs
        return max(1, min(self.max_dialogs, open_files - self.fd_reserve))


def open_file_limit() -> int:
    """The process's soft RLIMIT_NOFILE; 0 when unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 0 if soft == resource.RLIM_INFINITY else soft


@dataclass
class LogLimiter:
    """At most one log line per kind every `every` seconds; the rest are counted.

    The next line of a kind says how many were left out since the last one, and
    `flush()` reports what is still pending (at shutdown).
    """

    log: logging.Logger
    every: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _last: dict[str, float] = field(default_factory=dict)
    _suppressed: dict[str, int] = field(default_factory=dict)
    _message: dict[str, str] = field(default_factory=dict)

    _level: dict[str, int] = field(default_factory=dict)

    def warning(self, kind: str, message: str, level: int = logging.WARNING) -> None:
        now = self.clock()
        last = self._last.get(kind)
        self._message[kind], self._level[kind] = message, level
        if last is not None and now - last < self.every:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        self._last[kind] = now
        self.log.log(level, "%s%s", message, self._tail(kind))

    def flush(self) -> None:
        for kind in [k for k, n in self._suppressed.items() if n]:
            self.log.log(self._level[kind], "%s%s", self._message[kind], self._tail(kind))

    def _tail(self, kind: str) -> str:
        n = self._suppressed.pop(kind, 0)
        return f" ({n} more like this not logged)" if n else ""
