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


# The form field each account problem is about (a refusal names it, as a ParamError does).
_USER_FIELDS = {
    store.UserProblem.BAD_ROLE: "role",
    store.UserProblem.AGENT_NEEDS_ID: "agent",
    store.UserProblem.SHORT_PASSWORD: "password",
    store.UserProblem.BAD_PASSWORD: "password",
    store.UserProblem.BAD_USERNAME: "username",
    store.UserProblem.EXISTS: "username",
}


def _user_refusal(e: store.UserError) -> params.ParamError:
    return params.ParamError(_USER_FIELDS.get(e.code, "username"), messages.user_error(e))


def _users_page(
    error: str | None = None, typed: dict[str, str] | None = None
) -> ResponseReturnValue:
    """The users page; with `error`, a 400 showing it above the forms and the add form
    holding what was typed (`typed`: username, role, agent; never a password)."""
    c = ctx()
    page = render_template(
        "users.html",
        users=store.list_users(db()),
        roles=ROLES,
        agents=c.runtime.config.roster.agents,
        error=error,
        typed=typed or {},
    )
    return (page, 400) if error else page


def _typed(agents: list[str]) -> dict[str, str]:
    """What the add form held, to give back with its refusal: the user name as typed
    (cut, a character a page may not show as '?'), the role and agent when they are ones
    the form offers."""
    f = request.form
    raw = {k: f.get(k) for k in ("username", "role", "agent")}
    name = raw["username"] if isinstance(raw["username"], str) else ""
    return {
        "username": params.printable(name, 4 * store.MAX_USERNAME),
        "role": raw["role"] if raw["role"] in ROLES else "",
        "agent": raw["agent"] if raw["agent"] in agents else "",
    }


@bp.route("/admin/users", methods=["GET", "POST"])
@require("admin")
def users() -> ResponseReturnValue:
    """The accounts; POST adds one. A refused account is a 400 with this page and the
    reason (naming the field), the form keeping what was typed: nothing is stored."""
    if request.method == "GET":
        return _users_page()
    c = ctx()
    f = request.form
    agents = [a.id for a in c.runtime.config.roster.agents]
    try:
        username = params.username_param("username", source=f)
        password = params.secret_param("password")
        role = params.choice_param("role", ROLES, None, source=f)
        agent_id = params.choice_param("agent", agents, "", source=f) or None
        try:
            with c.runtime.sessions.begin() as s:
                store.add_user(s, username, password, role, agent_id, c.now())
                store.audit(
                    s, "user_add", user=current_user(), target=username, detail=role,
                    addr=remote_addr(), at=c.now(),
                )  # fmt: skip
        except store.UserError as e:
            raise _user_refusal(e) from None
    except params.ParamError as e:
        return _users_page(e.message, _typed(agents))
    flash(gettext("User added."), "ok")
    return redirect(url_for("auth.users"))


@bp.post("/admin/users/<user_id>/password")
@require("admin")
def user_password(user_id: str) -> ResponseReturnValue:
    """A new password for an account; its sessions end. A refused one (too short, not
    text) is a 400 with the users page and the reason; nothing changes."""
    c = ctx()
    try:
        uid = params.id_param("user_id", user_id)
        password = params.secret_param("password")
        try:
            with c.runtime.sessions.begin() as s:
                if not store.set_password(s, uid, password, c.now()):
                    abort(404)
                store.audit(
                    s, "user_password", user=current_user(), target=str(uid),
                    addr=remote_addr(), at=c.now(),
                )  # fmt: skip
        except store.UserError as e:
            raise _user_refusal(e) from None
    except params.ParamError as e:
        return _users_page(e.message)
    flash(gettext("Password changed; the user's sessions are ended."), "ok")
    return redirect(url_for("auth.users"))


@bp.post("/admin/users/<user_id>/active")
@require("admin")
def user_active(user_id: str) -> ResponseReturnValue:
    """Activate or deactivate an account; deactivation ends its sessions. A refused
    request is a 400 with the users page and the reason."""
    c = ctx()
    try:
        uid = params.id_param("user_id", user_id)
        active = params.choice_param("active", ("0", "1"), None, source=request.form)
    except params.ParamError as e:
        return _users_page(e.message)
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
