"""The web app's reads and writes of its own tables (users, audit, attendance, states).

Functions take the session they work in; the request (or the CLI) owns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ivr.adapters.db.models_web import (
    AgentStateChange,
    AttendanceEvent,
    AuditEntry,
    AwayRequest,
    User,
)
from ivr.domain.metrics import Clocking, StateChange
from web.security import ROLES, CurrentUser, hash_password, verify_password


class UserProblem(StrEnum):
    """Why an account cannot be created: a code the web app words in the user's language."""

    BAD_ROLE = "bad_role"
    AGENT_NEEDS_ID = "agent_needs_id"
    SHORT_PASSWORD = "short_password"  # noqa: S105 (a code, not a password)
    EXISTS = "exists"


MIN_PASSWORD = 8


class UserError(ValueError):
    """A user account that cannot be created as asked (`code` says why; the text is for the CLI)."""

    def __init__(self, code: UserProblem, username: str, text: str) -> None:
        super().__init__(text)
        self.code, self.username = code, username


def add_user(
    s: Session, username: str, password: str, role: str, agent_id: str | None, at: datetime
) -> int:
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
    if len(password) < MIN_PASSWORD:
        raise UserError(
            UserProblem.SHORT_PASSWORD,
            username,
            f"user {username!r}: the password needs at least {MIN_PASSWORD} characters",
        )
    if s.scalars(select(User.id).where(User.username == username)).first() is not None:
        raise UserError(UserProblem.EXISTS, username, f"user {username!r} already exists")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        agent_id=agent_id or None,
        active=True,
        created_at=at,
    )
    s.add(user)
    s.flush()
    return user.id


def authenticate(s: Session, username: str, password: str) -> CurrentUser | None:
    user = s.scalars(select(User).where(User.username == username)).first()
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password)  # same work whether or not the user exists
        return None
    if not verify_password(user.password_hash, password):
        return None
    return _plain(user)


def load_user(s: Session, user_id: int) -> CurrentUser | None:
    user = s.get(User, user_id)
    return _plain(user) if user is not None and user.active else None


def list_users(s: Session) -> list[CurrentUser]:
    return [_plain(u) for u in s.scalars(select(User).order_by(User.username))]


def _plain(u: User) -> CurrentUser:
    return CurrentUser(u.id, u.username, u.role, u.agent_id, u.locale)


def set_user_locale(s: Session, user_id: int, locale: str | None) -> None:
    """Save the web language the user chose (a tag such as zh-CN; None: follow the browser)."""
    s.execute(update(User).where(User.id == user_id).values(locale=locale))


_DUMMY_HASH = hash_password("not-a-real-password")


def audit(
    s: Session,
    user: CurrentUser | None,
    action: str,
    target: str,
    detail: str,
    addr: str,
    at: datetime,
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


def add_away_request(s: Session, agent_id: str, reason: str, why: str, at: datetime) -> int:
    s.execute(
        update(AwayRequest)
        .where(AwayRequest.agent_id == agent_id, AwayRequest.status == "pending")
        .values(status="cancelled", decided_at=at)
    )
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
    s: Session, request_id: int, approve: bool, by: str, at: datetime
) -> AwayRequestRow | None:
    req = s.get(AwayRequest, request_id)
    if req is None or req.status != "pending":
        return None
    req.status = "approved" if approve else "refused"
    req.decided_by, req.decided_at = by, at
    return AwayRequestRow(
        req.id,
        req.agent_id,
        req.reason,
        req.why_needed,
        req.requested_at,
        req.status,
        req.decided_by,
    )
