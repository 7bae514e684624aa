"""Sign in and out of the web app; user accounts and the audit log for admins."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from web import i18n, messages, store
from web.app import ctx, db
from web.security import ROLES, current_user, require

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
    if request.method == "GET":
        return render_template("login.html")
    c = ctx()
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    keys = (f"user:{username.lower()}", f"addr:{remote_addr()}")
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
    session.clear()  # a fresh session on sign-in: no fixation
    if language:
        session[i18n.SESSION_KEY] = language  # the language chosen on the sign-in page
    session.permanent = True
    session["uid"] = user.id
    _audit_login(username, "login")
    target = request.args.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for(HOME[user.role])
    return redirect(target)


def _audit_login(username: str, action: str) -> None:
    c = ctx()
    with c.runtime.sessions.begin() as s:
        store.audit(s, None, action, username[:100], "", remote_addr(), c.now())


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    language = session.get(i18n.SESSION_KEY)
    session.clear()
    if language:
        session[i18n.SESSION_KEY] = language
    return redirect(url_for("auth.login"))


@bp.route("/admin/users", methods=["GET", "POST"])
@require("admin")
def users() -> ResponseReturnValue:
    c = ctx()
    if request.method == "POST":
        f = request.form
        role = f.get("role", "")
        if role not in ROLES:
            abort(400)
        agent_id = f.get("agent", "").strip() or None
        if agent_id and c.runtime.config.roster.agent(agent_id) is None:
            flash(gettext("No agent %(agent)s in seats.yaml.", agent=repr(agent_id)), "error")
            return redirect(url_for("auth.users"))
        try:
            with c.runtime.sessions.begin() as s:
                store.add_user(
                    s, f.get("username", "").strip(), f.get("password", ""), role, agent_id, c.now()
                )
                store.audit(
                    s,
                    current_user(),
                    "user_add",
                    f.get("username", ""),
                    role,
                    remote_addr(),
                    c.now(),
                )
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


@bp.get("/admin/audit")
@require("admin", "manager")
def audit_log() -> ResponseReturnValue:
    return render_template(
        "audit.html", rows=store.recent_audit(db()), tz=ctx().runtime.config.site.tz
    )
