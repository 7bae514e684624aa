"""Sign in and out of the web app; user accounts and the audit log for admins."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from web import i18n, messages, params, store
from web.context import ctx, db, end_session, start_session
from web.security import ROLES, current_user, require, safe_next

bp = Blueprint("auth", __name__)

HOME = {
    "agent": "agent.page",
    "supervisor": "board.page",
    "manager": "reports.page",
    "admin": "board.page",
}


def remote_addr() -> str:
    return request.remote_addr or ""


@bp.get("/")
def index() -> ResponseReturnValue:
    user = current_user()
    if user is None:
        return redirect(url_for("auth.login"))
    return redirect(url_for(HOME[user.role]))


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    after = params.one("next")  # where to go once signed in (the form posts to this URL)
    if request.method == "GET":
        return render_template("login.html")
    c = ctx()
    username = params.username_param("username", source=request.form)
    password = params.secret_param("password")
    keys = (f"user:{username}", f"addr:{remote_addr()}")
    if c.limiter.blocked(*keys):
        _audit_login(username, "login_blocked")
        error = gettext("Too many failed attempts: wait and retry.")
        return render_template("login.html", error=error), 429
    with c.runtime.sessions() as s:
        user = store.authenticate(s, username, password)
    if user is None:
        c.limiter.failed(*keys)
        _audit_login(username, "login_failed")
        error = gettext("Wrong user name or password.")
        return render_template("login.html", error=error), 401
    c.limiter.succeeded(keys[0])
    language = session.get(i18n.SESSION_KEY)
    start_session(user.id)  # a fresh cookie: no fixation
    if language:
        session[i18n.SESSION_KEY] = language  # the language chosen on the sign-in page
    _audit_login(username, "login")
    target = safe_next(after) or url_for(HOME[user.role])
    return redirect(target)


def _audit_login(username: str, action: str) -> None:
    c = ctx()
    with c.runtime.sessions.begin() as s:
        store.audit(s, action, target=username, addr=remote_addr(), at=c.now())


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    language = session.get(i18n.SESSION_KEY)
    end_session()
    if language:
        session[i18n.SESSION_KEY] = language
    return redirect(url_for("auth.login"))


@bp.route("/admin/users", methods=["GET", "POST"])
@require("admin")
def users() -> ResponseReturnValue:
    c = ctx()
    if request.method == "POST":
        f = request.form
        username = params.username_param("username", source=f)
        password = params.secret_param("password")
        role = params.choice_param("role", ROLES, None, source=f)
        agents = [a.id for a in c.runtime.config.roster.agents]
        agent_id = params.choice_param("agent", agents, "", source=f) or None
        try:
            with c.runtime.sessions.begin() as s:
                store.add_user(s, username, password, role, agent_id, c.now())
                store.audit(
                    s, "user_add", user=current_user(), target=username, detail=role,
                    addr=remote_addr(), at=c.now(),
                )  # fmt: skip
            flash(gettext("User added."), "ok")
        except store.UserError as e:
            flash(messages.user_error(e), "error")
        return redirect(url_for("auth.users"))
    return render_template(
        "users.html",
        users=store.list_users(db()),
        roles=ROLES,
        agents=c.runtime.config.roster.agents,
    )


@bp.post("/admin/users/<user_id>/password")
@require("admin")
def user_password(user_id: str) -> ResponseReturnValue:
    """A new password for an account; its sessions end."""
    c = ctx()
    uid = params.id_param("user_id", user_id)
    password = params.secret_param("password")
    try:
        with c.runtime.sessions.begin() as s:
            if not store.set_password(s, uid, password, c.now()):
                abort(404)
            store.audit(
                s, "user_password", user=current_user(), target=str(uid), addr=remote_addr(),
                at=c.now(),
            )  # fmt: skip
        flash(gettext("Password changed; the user's sessions are ended."), "ok")
    except store.UserError as e:
        flash(messages.user_error(e), "error")
    return redirect(url_for("auth.users"))


@bp.post("/admin/users/<user_id>/active")
@require("admin")
def user_active(user_id: str) -> ResponseReturnValue:
    """Activate or deactivate an account; deactivation ends its sessions."""
    c = ctx()
    uid = params.id_param("user_id", user_id)
    active = params.choice_param("active", ("0", "1"), None, source=request.form)
    with c.runtime.sessions.begin() as s:
        if not store.set_active(s, uid, active == "1", c.now()):
            abort(404)
        action = "user_activate" if active == "1" else "user_deactivate"
        store.audit(s, action, user=current_user(), target=str(uid), addr=remote_addr(), at=c.now())
    flash(
        gettext("User activated.")
        if active == "1"
        else gettext("User deactivated; their sessions are ended."),
        "ok",
    )
    return redirect(url_for("auth.users"))


@bp.get("/admin/audit")
@require("admin", "manager")
def audit_log() -> ResponseReturnValue:
    return render_template(
        "audit.html", rows=store.recent_audit(db()), tz=ctx().runtime.config.site.tz
    )
