"""Pacing: a token bucket for the originate rate, and the progressive cap.

Pure: the bucket is handed the monotonic time on every call, so tests drive
it with a fake clock and the worker with `time.monotonic()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """At most `rate` takes per second on average, `burst` back to back."""

    rate: float
    burst: int = 1
    _tokens: float = field(default=0.0, init=False)
    _at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"token bucket needs rate > 0 and burst >= 1, got {self}")

    def _refill(self, now: float) -> None:
        if self._at is None:
            self._tokens, self._at = float(self.burst), now
            return
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now

    def available(self, now: float) -> int:
        self._refill(now)
        return int(self._tokens + 1e-9)

    def wait_time(self, now: float) -> float:
        """Seconds until one token is there (0 when one is)."""
        self._refill(now)
        return max(0.0, (1.0 - self._tokens) / self.rate)

    def take(self, now: float) -> bool:
        self._refill(now)
        if self._tokens + 1e-9 < 1.0:
            return False
        self._tokens -= 1.0
        return True


def progressive_capacity(free_agents: int, batch_size: int, rate: float, window_s: float) -> int:
    """How many requests to claim now: never more than free agents (each call needs
    an agent who is free for it), never more than the rate allows in one window.

    >>> progressive_capacity(free_agents=3, batch_size=20, rate=5, window_s=0.5)
    3
    >>> progressive_capacity(free_agents=9, batch_size=20, rate=5, window_s=0.5)
    3
    """
    per_window = max(1, int(rate * window_s + 0.999))
    return max(0, min(free_agents, batch_size, per_window))
