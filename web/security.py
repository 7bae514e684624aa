"""Passwords, CSRF tokens, login rate limiting, roles, number masking, safe CSV cells."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlsplit

from flask import abort, g, jsonify, redirect, request, session, url_for
from flask_babel import gettext, lazy_gettext
from flask_babel.speaklater import LazyString
from werkzeug.security import check_password_hash, generate_password_hash

from ivr import phone

ROLES = ("agent", "supervisor", "manager", "admin")
# The roles in words (web/messages.py has them as ROLES; the API's 403 names the role).
ROLE_WORDS: dict[str, LazyString] = {
    "agent": lazy_gettext("agent"),
    "supervisor": lazy_gettext("supervisor"),
    "manager": lazy_gettext("manager"),
    "admin": lazy_gettext("admin"),
}
STAFF = ("supervisor", "manager", "admin")  # see every call of the team (the whole roster)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

F = TypeVar("F", bound=Callable[..., Any])


def hash_password(password: str) -> str:
    return generate_password_hash(password)  # scrypt, salted


def verify_password(stored_hash: str, password: str) -> bool:
    return check_password_hash(stored_hash, password)


@dataclass(frozen=True)
class CurrentUser:
    id: int
    username: str
    role: str
    agent_id: str | None
    locale: str | None = None  # the web language the user chose (None: not chosen)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    def may_see_full_number(self, call_agent: str | None, active: bool) -> bool:
        """Staff (in call detail, audited); an agent only on their own active call."""
        own = call_agent is not None and call_agent == self.agent_id
        return self.is_staff or (own and active)


def current_user() -> CurrentUser | None:
    return cast(CurrentUser | None, g.get("user"))


mask_number = phone.mask  # the web shows numbers masked, E.164-aware (+86 138****0001)


def csv_safe(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    if text and text[0] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


# --- CSRF ----------------------------------------------------------------------


def csrf_token() -> str:
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def csrf_ok() -> bool:
    """Does an unsafe request carry this session's CSRF token (form field or header)?"""
    expected = session.get(CSRF_FIELD)
    given = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not isinstance(expected, str) or not given.isascii():
        return False  # compare_digest refuses non-ASCII str: a forged token, not an error
    return hmac.compare_digest(expected, given)


# --- redirects after sign-in ----------------------------------------------------------

MAX_NEXT = 2048


def safe_next(target: object) -> str | None:
    """`target` if it is a path of this site, else None (the caller's default page).

    A path starts with one "/" (not "//" nor "/\\": browsers read both as another
    host); it holds no backslash, no whitespace and no control, format or separator
    character anywhere (browsers drop a tab or newline, so "/\t/evil" becomes
    "//evil"); urllib finds no scheme or host in it; it is at most MAX_NEXT long.

    >>> safe_next("/calls?page=2"), safe_next("//evil.example"), safe_next("/\t/evil.example")
    ('/calls?page=2', None, None)
    """
    if not isinstance(target, str) or not 0 < len(target) <= MAX_NEXT:
        return None
    if not (_site_path(target) and _site_path(unquote(target))):
        return None  # decoded once as well: "/%09/evil" or "/%2F/evil" is refused too
    return target


def _site_path(target: str) -> bool:
    if not target.startswith("/") or target.startswith(("//", "/\\")) or "\\" in target:
        return False
    if any(ch.isspace() or unicodedata.category(ch)[0] in "CZ" for ch in target):
        return False
    try:
        parts = urlsplit(target)
    except ValueError:
        return False
    return not parts.scheme and not parts.netloc and parts.path.startswith("/")


# --- login rate limiting ----------------------------------------------------------


class LoginLimiter:
    """At most `max_failures` failed logins per user name and per address in `window` s."""

    def __init__(
        self, max_failures: int, window: float, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._max, self._window, self._now = max_failures, window, now
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        cutoff = self._now() - self._window
        while q and q[0] < cutoff:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> bool:
        with self._lock:
            return any(len(self._recent(k)) >= self._max for k in keys)

    def failed(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._recent(k).append(self._now())

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._failures.pop(k, None)


# --- access control ------------------------------------------------------------------


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def require(*roles: str) -> Callable[[F], F]:
    """Only signed-in users with one of `roles` (all roles when none are named)."""

    def deco(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if _wants_json():
                    return jsonify(error=gettext("authentication required")), 401
                return redirect(url_for("auth.login", next=request.full_path))
            if roles and user.role not in roles:
                if _wants_json():
                    role = str(ROLE_WORDS.get(user.role, user.role))
                    msg = gettext("forbidden for role %(role)s", role=role)
                    return jsonify(error=msg), 403
                abort(403)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return deco
