"""Tables of the web side-app: accounts, attendance, agent state history, audit log,
away requests, sign-in sessions. Same `Base` as the core tables; created by migration
0002_web (web_sessions by 0005_web_sessions).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from ivr.adapters.db.base import Base
from ivr.adapters.db.models import UtcDateTime

ROLES = ("agent", "supervisor", "manager", "admin")


class User(Base):
    """A person who signs in to the web app; an agent account names its roster agent."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("username", name="uq_users_username"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String)
    password_hash: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String)  # one of ROLES
    agent_id: Mapped[str | None] = mapped_column(String)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    locale: Mapped[str | None] = mapped_column(String)  # web language chosen (0004_user_locale)


class AttendanceEvent(Base):
    """A sign-in or sign-out: the attendance record (kind ``sign_in`` | ``sign_out``)."""

    __tablename__ = "attendance_events"
    __table_args__ = (Index("ix_attendance_events_agent_id_at", "agent_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", name="fk_attendance_events_user_id")
    )


class AgentStateChange(Base):
    """Every change of an agent's work status, for time-away reports."""

    __tablename__ = "agent_state_history"
    __table_args__ = (Index("ix_agent_state_history_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[str] = mapped_column(String)
    state: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(String, default="", server_default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", name="fk_agent_state_history_user_id")
    )


class AuditEntry(Base):
    """Who read or changed what (call details, exports, sign-ins, approvals)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    username: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String, default="", server_default="")
    action: Mapped[str] = mapped_column(String)
    target: Mapped[str] = mapped_column(String, default="", server_default="")
    detail: Mapped[str] = mapped_column(String, default="", server_default="")
    remote_addr: Mapped[str] = mapped_column(String, default="", server_default="")


class AwayRequest(Base):
    """A request to go away that breaks a staffing rule and waits for the lead."""

    __tablename__ = "away_requests"
    __table_args__ = (Index("ix_away_requests_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(String)
    why_needed: Mapped[str] = mapped_column(String, default="", server_default="")
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String)  # pending | approved | refused | cancelled
    decided_by: Mapped[str | None] = mapped_column(String)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WebSession(Base):
    """A sign-in: the cookie carries a random token, this row its SHA-256 (`id`).

    A session is valid while `ended_at` is NULL and `created_at` is within the
    configured lifetime; sign-out, a password change and deactivation set `ended_at`.
    """

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user_id", "user_id"),)

    id: Mapped[str] = mapped_column(String, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_web_sessions_user_id")
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    end_reason: Mapped[str] = mapped_column(String, default="", server_default="")


WEB_TABLES = frozenset(
    t.__tablename__
    for t in (User, AttendanceEvent, AgentStateChange, AuditEntry, AwayRequest, WebSession)
)
"""Names of the tables this module (and migrations 0002_web, 0005_web_sessions) owns."""
