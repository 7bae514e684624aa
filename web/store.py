"""The web app's reads and writes of its own tables (users, audit, attendance, states).

Functions take the session they work in; the request (or the CLI) owns it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.adapters.db.models_web import (
    AgentStateChange,
    AttendanceEvent,
    AuditEntry,
    AwayRequest,
    User,
    WebSession,
)
from ivr.domain.metrics import Clocking, StateChange
from web.security import ROLES, CurrentUser, hash_password, verify_password


class UserProblem(StrEnum):
    """Why an account cannot be created: a code the web app words in the user's language."""

    BAD_ROLE = "bad_role"
    AGENT_NEEDS_ID = "agent_needs_id"
    SHORT_PASSWORD = "short_password"  # noqa: S105 (a code, not a password)
    BAD_PASSWORD = "bad_password"  # noqa: S105 (a code, not a password)
    BAD_USERNAME = "bad_username"
    EXISTS = "exists"


class UserError(ValueError):
    """A user account that cannot be created as asked (`code` says why; the text is for the CLI)."""

    def __init__(self, code: UserProblem, username: str, text: str) -> None:
        super().__init__(text)
        self.code, self.username = code, username


MAX_USERNAME = 64
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._@-]*")
MIN_PASSWORD, MAX_PASSWORD = 8, 1024


def normalize_username(raw: str) -> str:
    """The canonical form of a user name: NFKC, stripped, lower-case, checked.

    >>> normalize_username("  Ａlice "), normalize_username("Li.Wei")
    ('alice', 'li.wei')
    """
    name = unicodedata.normalize("NFKC", raw).strip().lower()
    bad = UserProblem.BAD_USERNAME
    if not name:
        raise UserError(bad, name, "the user name is empty")
    if len(name) > MAX_USERNAME:
        raise UserError(bad, name[:MAX_USERNAME], f"the user name is longer than {MAX_USERNAME}")
    if not USERNAME_RE.fullmatch(name):
        raise UserError(
            bad,
            name,
            "a user name holds only letters a-z, digits and . _ @ - and starts with a letter"
            " or digit",
        )
    return name


def _check_password(username: str, password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(
            UserProblem.SHORT_PASSWORD,
            username,
            f"user {username!r}: the password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters",
        )
    if any(unicodedata.category(ch) == "Cs" for ch in password):
        raise UserError(
            UserProblem.BAD_PASSWORD,
            username,
            f"user {username!r}: the password is not valid Unicode text",
        )
    if password.isspace():  # eight spaces (a form filled by a held space bar) guard nothing
        raise UserError(
            UserProblem.BAD_PASSWORD,
            username,
            f"user {username!r}: the password is only spaces",
        )


def _find_user(s: Session, username: str) -> User | None:
    """The account of a normalised name; older accounts match whatever their case."""
    rows = list(s.scalars(select(User).where(func.lower(User.username) == username)))
    exact = [u for u in rows if u.username == username]
    if exact:
        return exact[0]
    return rows[0] if len(rows) == 1 else None


def add_user(
    s: Session, username: str, password: str, role: str, agent_id: str | None, at: datetime
) -> int:
    """Create an account; the name is normalised (normalize_username) and must be new."""
    username = normalize_username(username)
    if role not in ROLES:
        raise UserError(
            UserProblem.BAD_ROLE, username, f"role {role!r} is not one of {', '.join(ROLES)}"
        )
    if role == "agent" and not agent_id:
        raise UserError(
            UserProblem.AGENT_NEEDS_ID,
            username,
            f"user {username!r}: an agent account needs --agent ID",
        )
    _check_password(username, password)
    exists = UserError(UserProblem.EXISTS, username, f"user {username!r} already exists")
    if s.scalars(select(User.id).where(func.lower(User.username) == username)).first():
        raise exists
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        agent_id=agent_id or None,
        active=True,
        created_at=at,
    )
    s.add(user)
    try:
        s.flush()
    except IntegrityError:  # the same name added at the same moment (uq_users_username)
        raise exists from None
    return user.id


def authenticate(s: Session, username: str, password: str) -> CurrentUser | None:
    """The active account of `username` (any case) if `password` is its password."""
    try:
        name = normalize_username(username)
    except UserError:
        name = ""
    user = _find_user(s, name) if name else None
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password)  # same work whether or not the user exists
        return None
    if not verify_password(user.password_hash, password):
        return None
    return _plain(user)


def set_password(s: Session, user_id: int, password: str, at: datetime) -> bool:
    """Give an account a new password and end all its sessions; False if no such account."""
    user = s.get(User, user_id)
    if user is None:
        return False
    _check_password(user.username, password)
    user.password_hash = hash_password(password)
    end_sessions(s, user_id, at, "password_changed")
    return True


def set_active(s: Session, user_id: int, active: bool, at: datetime) -> bool:
    """(De)activate an account; deactivating ends all its sessions. False if no such account."""
    user = s.get(User, user_id)
    if user is None:
        return False
    user.active = active
    if not active:
        end_sessions(s, user_id, at, "deactivated")
    return True


# --- sessions -----------------------------------------------------------------------


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def start_session(s: Session, user_id: int, at: datetime) -> str:
    """A new session of the user; returns the token for the (signed) cookie."""
    token = secrets.token_urlsafe(32)
    s.add(WebSession(id=_token_id(token), user_id=user_id, created_at=at, last_seen_at=at))
    return token


@dataclass(frozen=True)
class SessionCheck:
    user: CurrentUser
    stale: bool  # last seen long enough ago to be worth writing down again


def check_session(
    s: Session, token: str, at: datetime, lifetime: timedelta, touch_every: timedelta
) -> SessionCheck | None:
    """The active user behind a live session token, else None (ended, expired, unknown)."""
    row = s.get(WebSession, _token_id(token))
    if row is None or row.ended_at is not None or at >= row.created_at + lifetime:
        return None
    user = load_user(s, row.user_id)
    if user is None:
        return None
    return SessionCheck(user, at - row.last_seen_at >= touch_every)


def touch_session(s: Session, token: str, at: datetime) -> None:
    s.execute(update(WebSession).where(WebSession.id == _token_id(token)).values(last_seen_at=at))


def end_session(s: Session, token: str, at: datetime, reason: str = "signed_out") -> None:
    s.execute(
        update(WebSession)
        .where(WebSession.id == _token_id(token), WebSession.ended_at.is_(None))
        .values(ended_at=at, end_reason=reason)
    )


def end_sessions(s: Session, user_id: int, at: datetime, reason: str) -> int:
    """End every open session of a user; returns how many there were."""
    result = s.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=at, end_reason=reason)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def load_user(s: Session, user_id: int) -> CurrentUser | None:
    user = s.get(User, user_id)
    return _plain(user) if user is not None and user.active else None


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    role: str
    agent_id: str | None
    active: bool


def list_users(s: Session) -> list[UserRow]:
    return [
        UserRow(u.id, u.username, u.role, u.agent_id, u.active)
        for u in s.scalars(select(User).order_by(User.username))
    ]


def _plain(u: User) -> CurrentUser:
    return CurrentUser(u.id, u.username, u.role, u.agent_id, u.locale)


def set_user_locale(s: Session, user_id: int, locale: str | None) -> None:
    """Save the web language the user chose (a tag such as zh-CN; None: follow the browser)."""
    s.execute(update(User).where(User.id == user_id).values(locale=locale))


_DUMMY_HASH = hash_password("not-a-real-password")


def audit(
    s: Session,
    action: str,
    *,
    at: datetime,
    user: CurrentUser | None = None,
    target: str = "",
    detail: str = "",
    addr: str = "",
) -> None:
    s.add(
        AuditEntry(
            at=at,
            username=user.username if user else "-",
            role=user.role if user else "",
            action=action,
            target=target,
            detail=detail,
            remote_addr=addr,
        )
    )


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    username: str
    role: str
    action: str
    target: str
    detail: str


def recent_audit(s: Session, limit: int = 200) -> list[AuditRow]:
    rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
    return [AuditRow(r.at, r.username, r.role, r.action, r.target, r.detail) for r in rows]


def record_state(
    s: Session, agent_id: str, state: str, reason: str, at: datetime, user_id: int | None
) -> None:
    s.add(AgentStateChange(agent_id=agent_id, state=state, reason=reason, at=at, user_id=user_id))


def record_clocking(
    s: Session, agent_id: str, kind: str, at: datetime, user_id: int | None
) -> None:
    s.add(AttendanceEvent(agent_id=agent_id, kind=kind, at=at, user_id=user_id))


def clockings(s: Session, start: datetime, end: datetime) -> list[Clocking]:
    rows = s.scalars(
        select(AttendanceEvent)
        .where(AttendanceEvent.at >= start, AttendanceEvent.at < end)
        .order_by(AttendanceEvent.at, AttendanceEvent.id)
    )
    return [Clocking(r.agent_id, r.kind, r.at) for r in rows]


def state_changes(s: Session, start: datetime, end: datetime) -> list[StateChange]:
    """Changes within [start, end) plus, per agent, the last one before `start`."""
    rows = list(
        s.scalars(
            select(AgentStateChange)
            .where(AgentStateChange.at < end)
            .where(AgentStateChange.at >= start)
            .order_by(AgentStateChange.at, AgentStateChange.id)
        )
    )
    earlier = s.scalars(
        select(AgentStateChange)
        .where(AgentStateChange.at < start)
        .order_by(AgentStateChange.at.desc())
        .limit(500)
    )
    last_before: dict[str, AgentStateChange] = {}
    for r in earlier:
        last_before.setdefault(r.agent_id, r)
    every = list(last_before.values()) + rows
    return [StateChange(r.agent_id, r.state, r.reason, r.at) for r in every]


@dataclass(frozen=True)
class AwayRequestRow:
    id: int
    agent_id: str
    reason: str
    why_needed: str
    requested_at: datetime
    status: str
    decided_by: str | None


def cancel_away_requests(s: Session, agent_id: str, at: datetime) -> None:
    """End the agent's pending away requests (a new request replaces them; signing out
    ends them: a signed-out agent has nothing to be approved)."""
    s.execute(
        update(AwayRequest)
        .where(AwayRequest.agent_id == agent_id, AwayRequest.status == "pending")
        .values(status="cancelled", decided_at=at)
    )


def add_away_request(s: Session, agent_id: str, reason: str, why: str, at: datetime) -> int:
    cancel_away_requests(s, agent_id, at)
    req = AwayRequest(
        agent_id=agent_id, reason=reason, why_needed=why, requested_at=at, status="pending"
    )
    s.add(req)
    s.flush()
    return req.id


def away_requests(s: Session, status: str | None = "pending") -> list[AwayRequestRow]:
    q = select(AwayRequest).order_by(AwayRequest.id.desc()).limit(100)
    if status is not None:
        q = q.where(AwayRequest.status == status)
    return [
        AwayRequestRow(
            r.id, r.agent_id, r.reason, r.why_needed, r.requested_at, r.status, r.decided_by
        )
        for r in s.scalars(q)
    ]


def decide_away_request(
    s: Session,
    request_id: int,
    approve: bool,
    by: str,
    at: datetime,
    signed_out: frozenset[str] = frozenset(),
) -> AwayRequestRow | None:
    """Approve or refuse a pending request; None when there is none of that id. The request
    of an agent in `signed_out` (signed out since asking) is cancelled instead. Decided
    once: the update takes the row only while it is still pending, so of two supervisors
    answering at the same moment the second finds it decided (None)."""
    req = s.get(AwayRequest, request_id)
    if req is None or req.status != "pending":
        return None
    gone = req.agent_id in signed_out
    status = "cancelled" if gone else ("approved" if approve else "refused")
    taken = s.execute(
        update(AwayRequest)
        .where(AwayRequest.id == request_id, AwayRequest.status == "pending")
        .values(status=status, decided_by=None if gone else by, decided_at=at)
        .execution_options(synchronize_session="fetch")
    )
    if getattr(taken, "rowcount", 0) != 1 or gone:
        return None
    return AwayRequestRow(
        req.id, req.agent_id, req.reason, req.why_needed, req.requested_at, status, by
    )
