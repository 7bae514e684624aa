"""Options of the web app that the configuration files do not (yet) carry."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.config import WEB_LOCALES

AWAY_MODES = ("refuse", "lead")


@dataclass(frozen=True)
class WebSettings:
    """Service-level target, away rules, login limits and live-board timing.

    away_approval: what happens to a request to go away that breaks the
    "at most N away" or minimum-staffing rule: "refuse" (default) or "lead"
    (it waits for a supervisor's approval on the board).
    """

    sl_seconds: float = 20.0
    sl_level: float = 0.8
    away_approval: str = "refuse"
    away_limit_minutes: int = 30
    shed_alarm_minutes: int = 10  # the board alarms while calls were shed this recently
    late_grace_minutes: int = 5
    login_max_failures: int = 5
    login_window_seconds: int = 900
    board_poll_seconds: float = 0.25
    sse_heartbeat_seconds: float = 15.0
    agent_poll_seconds: float = 2.0  # the agent page's stream (one query per agent per poll)
    sse_session_seconds: float = 5.0  # an open stream checks its session is still live
    secure_cookies: bool = True
    secret_key: str | None = None
    session_lifetime_seconds: int = 12 * 3600  # a sign-in ends on the server after this
    session_touch_seconds: int = 60  # how often a session's last_seen_at is written
    planner_weeks: int = 4
    page_size: int = 50
    export_limit: int = 100_000
    locale: str | None = None  # the default language (None: web.locale of hotline.yaml)
    heavy_slots: int = 2  # reports, exports, call-log scans at once (web.heavy)
    heavy_wait_seconds: float = 2.0  # how long one waits for a slot before 503
    heavy_timeout_seconds: float = 15.0  # a heavy statement is cut off after this (503)

    def __post_init__(self) -> None:
        if self.away_approval not in AWAY_MODES:
            raise ValueError(f"away_approval {self.away_approval!r}: use one of {AWAY_MODES}")
        if not 0 < self.sl_level < 1:
            raise ValueError(f"sl_level {self.sl_level}: must be between 0 and 1")
        if self.session_lifetime_seconds <= 0:
            raise ValueError(
                f"session_lifetime_seconds {self.session_lifetime_seconds}: must be positive"
            )
        if self.locale is not None and self.locale not in WEB_LOCALES:
            raise ValueError(f"locale {self.locale!r}: use one of {', '.join(WEB_LOCALES)}")
        if not 1 <= self.heavy_slots <= 64:
            raise ValueError(f"heavy_slots {self.heavy_slots}: must be 1..64")
        if not 0 <= self.heavy_wait_seconds <= 60:
            raise ValueError(f"heavy_wait_seconds {self.heavy_wait_seconds}: must be 0..60")
        if not 0.001 <= self.heavy_timeout_seconds <= 3600:
            raise ValueError(
                f"heavy_timeout_seconds {self.heavy_timeout_seconds}: must be 0.001..3600"
            )
        if self.sl_seconds <= 0:
            raise ValueError(f"sl_seconds {self.sl_seconds}: must be positive")
