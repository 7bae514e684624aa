"""Server-side sessions and user names (issue 9, class 4), on SQLite and PostgreSQL.

Signing out, a password change and deactivation end a session on the server, so a
copied cookie stops working; a session also ends after the configured lifetime.
User names are normalised (NFKC, stripped, lower-case) at creation and at sign-in.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ivr.adapters.db.models_web import User, WebSession
from web import store
from web.app import close_app, create_app

from .conftest import make_app

PASSWORD = "correct horse battery"
COOKIE = "hotline_session"


def _copy_cookie(app, client):
    """A second client holding the same session cookie (a stolen or copied cookie)."""
    value = client.get_cookie(COOKIE).value
    other = app.test_client()
    other.set_cookie(COOKIE, value)
    return other


def _token(client) -> str:
    return client.get("/api/me").get_json()["csrf_token"]


def _sessions(rt):
    with rt.sessions() as s:
        return list(s.scalars(select(WebSession).order_by(WebSession.created_at)))


def _user_id(rt, name: str) -> int:
    with rt.sessions() as s:
        uid = s.scalars(select(User.id).where(User.username == name)).one()
        return int(uid)


def test_a_copied_cookie_no_longer_works_after_sign_out(
    app, client, web_users, login, web_runtime
) -> None:
    login(client, "lead")
    thief = _copy_cookie(app, client)
    assert thief.get("/api/me").status_code == 200
    r = client.post("/logout", data={"csrf_token": _token(client)})
    assert r.status_code == 302
    assert client.get("/api/me").status_code == 401
    assert thief.get("/api/me").status_code == 401
    assert thief.get("/board").status_code == 302  # back to the sign-in page
    (row,) = _sessions(web_runtime)
    assert row.ended_at is not None and row.end_reason == "signed_out"


def test_a_session_ends_on_the_server_after_its_lifetime(
    app, client, web_users, login, web_runtime
) -> None:
    login(client, "lead")
    copy = _copy_cookie(app, client)
    web_runtime.clock.advance(hours=11, minutes=59)
    assert client.get("/api/me").status_code == 200
    (row,) = _sessions(web_runtime)
    assert row.last_seen_at == web_runtime.clock()  # seen again, written down
    web_runtime.clock.advance(minutes=1)
    assert client.get("/api/me").status_code == 401
    assert copy.get("/api/me").status_code == 401


def test_the_lifetime_is_a_setting(web_runtime, web_users, login) -> None:
    app = create_app(web_runtime, secret_key="k", session_lifetime_seconds=600)
    app.config["TESTING"] = True
    try:
        client = app.test_client()
        login(client, "lead")
        web_runtime.clock.advance(seconds=599)
        assert client.get("/api/me").status_code == 200
        web_runtime.clock.advance(seconds=1)
        assert client.get("/api/me").status_code == 401
    finally:
        close_app(app)


def test_a_password_change_ends_the_users_sessions(
    app, client, web_users, login, web_runtime
) -> None:
    login(client, "chen")
    chen = _copy_cookie(app, client)
    admin = app.test_client()
    login(admin, "root")
    uid = _user_id(web_runtime, "chen")
    r = admin.post(
        f"/admin/users/{uid}/password",
        data={"password": "a new long password", "csrf_token": _token(admin)},
    )
    assert r.status_code == 302
    assert chen.get("/api/me").status_code == 401
    assert client.get("/api/me").status_code == 401
    assert admin.get("/api/me").status_code == 200  # nobody else is signed out
    assert login(app.test_client(), "chen").status_code == 401  # the old password is gone
    assert login(app.test_client(), "chen", "a new long password").status_code == 302
    r = admin.post(
        f"/admin/users/{uid}/password", data={"password": "short", "csrf_token": _token(admin)}
    )
    page = r.get_data(as_text=True)  # the users page, with the reason: not a redirect
    assert r.status_code == 400 and "password:" in page and 'action="/admin/users' in page
    assert login(app.test_client(), "chen", "short").status_code == 401
    assert login(app.test_client(), "chen", "a new long password").status_code == 302
    for blank in (" " * 8, "\u3000" * 10, " \t" * 6):  # only spaces, of any kind
        r = admin.post(
            f"/admin/users/{uid}/password", data={"password": blank, "csrf_token": _token(admin)}
        )
        assert r.status_code == 400 and "password:" in r.get_data(as_text=True), repr(blank)
    assert login(app.test_client(), "chen", "a new long password").status_code == 302
    for bad in (str(2**63), "-1", "0"):
        r = admin.post(
            f"/admin/users/{bad}/password",
            data={"password": "a new long password", "csrf_token": _token(admin)},
        )
        assert r.status_code == 400 and "user_id:" in r.get_data(as_text=True)


def test_deactivation_ends_the_users_sessions(app, client, web_users, login, web_runtime) -> None:
    login(client, "li")
    li = _copy_cookie(app, client)
    admin = app.test_client()
    login(admin, "root")
    uid = _user_id(web_runtime, "li")
    r = admin.post(f"/admin/users/{uid}/active", data={"active": "0", "csrf_token": _token(admin)})
    assert r.status_code == 302
    assert li.get("/api/me").status_code == 401
    reasons = {r.end_reason for r in _sessions(web_runtime) if r.user_id == uid}
    assert reasons == {"deactivated"}
    assert login(app.test_client(), "li").status_code == 401
    r = admin.post(f"/admin/users/{uid}/active", data={"active": "1", "csrf_token": _token(admin)})
    assert r.status_code == 302
    assert li.get("/api/me").status_code == 401  # the old session stays ended
    assert login(app.test_client(), "li").status_code == 302
    r = admin.post(f"/admin/users/{uid}/active", data={"active": "2", "csrf_token": _token(admin)})
    assert r.status_code == 400 and "active:" in r.get_data(as_text=True)
    assert "Deactivate" in admin.get("/admin/users").get_data(as_text=True)


def test_cookies_without_a_live_server_session_are_refused(client, web_users, login) -> None:
    login(client, "root")
    with client.session_transaction() as sess:
        sess["sid"] = "forged-token"
    assert client.get("/api/me").status_code == 401
    with client.session_transaction() as sess:
        sess.clear()
        sess["uid"] = 1  # the cookie of the days before server-side sessions
    assert client.get("/api/me").status_code == 401


def test_each_sign_in_is_its_own_session(app, web_users, login, web_runtime) -> None:
    a, b = app.test_client(), app.test_client()
    login(a, "lead")
    login(b, "lead")
    assert a.get_cookie(COOKIE).value != b.get_cookie(COOKIE).value
    a.post("/logout", data={"csrf_token": _token(a)})
    assert a.get("/api/me").status_code == 401
    assert b.get("/api/me").status_code == 200  # the other browser is still signed in
    rows = _sessions(web_runtime)
    assert len(rows) == 2 and sum(r.ended_at is None for r in rows) == 1
    assert all(len(r.id) == 64 for r in rows)  # a SHA-256, not the cookie's token


# --- user names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "name"),
    [("alice", "alice"), ("  Alice ", "alice"), ("ＡＬＩＣＥ", "alice"), ("Li.Wei-2", "li.wei-2")],
)
def test_normalize_username(raw: str, name: str) -> None:
    assert store.normalize_username(raw) == name


@pytest.mark.parametrize(
    "raw", ["", "   ", "\u3000", "a b", "a\x00", "a\u202e", ".alice", "a" * 65, "al/ice", "ä"]
)
def test_normalize_username_refuses(raw: str) -> None:
    with pytest.raises(store.UserError):
        store.normalize_username(raw)


def test_user_names_are_normalised_at_creation_and_sign_in(
    app, client, web_users, login, web_runtime
) -> None:
    with web_runtime.sessions.begin() as s:
        store.add_user(s, "  Alice ", PASSWORD, "manager", None, web_runtime.clock())
        with pytest.raises(store.UserError, match="already exists"):
            store.add_user(s, "ALICE", PASSWORD, "manager", None, web_runtime.clock())
        with pytest.raises(store.UserError, match="empty"):
            store.add_user(s, " ", PASSWORD, "manager", None, web_runtime.clock())
    assert _user_id(web_runtime, "alice")
    for typed in ("Alice", "ALICE", " alice ", "ａｌｉｃｅ"):
        r = login(app.test_client(), typed)
        assert r.status_code == 302, typed
    r = login(client, "Alice")
    assert client.get("/api/me").get_json()["username"] == "alice"


def test_an_empty_user_name_is_refused_naming_it(client, web_users, login) -> None:
    for typed in ("", "   ", "\u3000"):
        r = login(client, typed)
        assert r.status_code == 400, typed
        assert "username:" in r.get_data(as_text=True)
    r = login(client, "lead", "")
    assert r.status_code == 400 and "password:" in r.get_data(as_text=True)
    r = login(client, "lead\x00")
    assert r.status_code == 400 and "username:" in r.get_data(as_text=True)
    assert client.get("/api/me").status_code == 401


def test_existing_mixed_case_names_match_at_sign_in(app, web_users, login, web_runtime) -> None:
    from web.security import hash_password

    with web_runtime.sessions.begin() as s:  # written before names were normalised
        s.add(
            User(
                username="Carol",
                password_hash=hash_password(PASSWORD),
                role="manager",
                active=True,
                created_at=web_runtime.clock(),
            )
        )
    assert login(app.test_client(), "carol").status_code == 302
    assert login(app.test_client(), "CAROL").status_code == 302


def test_the_users_page_normalises_and_checks_names(
    app, client, web_users, login, web_runtime
) -> None:
    login(client, "root")

    def add(**form):
        data = {"password": "a long password", "role": "manager", **form}
        return client.post("/admin/users", data={**data, "csrf_token": _token(client)})

    assert add(username=" Dora ").status_code == 302
    assert _user_id(web_runtime, "dora")
    for bad in ("", "do ra", "d\x00", "x" * 65):
        r = add(username=bad)
        assert r.status_code == 400 and "username:" in r.get_data(as_text=True), bad
    r = add(username="eve", role="emperor")
    assert r.status_code == 400 and "role:" in r.get_data(as_text=True)
    r = add(username="eve", role="agent", agent="nobody")
    assert r.status_code == 400 and "agent:" in r.get_data(as_text=True)
    r = add(username="DORA")
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "username:" in page and "already exists" in page and 'value="DORA"' in page


def _users_and_audit(rt) -> tuple[list[str], list[str]]:
    from ivr.adapters.db.models_web import AuditEntry

    with rt.sessions() as s:
        names = sorted(s.scalars(select(User.username)))
        actions = [a.action for a in s.scalars(select(AuditEntry)) if a.action.startswith("user")]
        return names, actions


def test_a_refused_account_is_a_400_with_the_users_page_keeping_what_was_typed(
    client, web_users, login, web_runtime
) -> None:
    """A refused account (a bad role, name, agent or password, a name taken) answered a
    302 back to the page with a flash message: a script saw success, and the admin lost
    what was typed. Now a 400: the users page, the reason naming the field, the add
    form holding the name, role and agent typed (never the password); nothing stored."""
    login(client, "root")
    before = _users_and_audit(web_runtime)
    ok = {"username": "Eve.Ng", "password": "a long password", "role": "agent", "agent": "li"}
    for change, field in (
        ({"role": "emperor"}, "role"),
        ({"role": ""}, "role"),
        ({"agent": "nobody"}, "agent"),
        ({"agent": ""}, "agent"),  # an agent account needs its agent
        ({"password": "short"}, "password"),
        ({"password": ""}, "password"),
        ({"username": "eve ng"}, "username"),
        ({"username": "chen"}, "username"),  # exists
    ):
        form = {**ok, **change, "csrf_token": _token(client)}
        r = client.post("/admin/users", data=form)
        page = r.get_data(as_text=True)
        assert r.status_code == 400, (change, r.status_code)
        assert f"{field}:" in page and 'role="alert"' in page, change
        assert "Add a user" in page and "root" in page, change  # the page, its list
        assert "<title>400 " in page, change
        assert f'value="{form["username"]}"' in page, change
        assert 'value="a long password"' not in page and 'value="short"' not in page
        if form["role"] == "agent":
            assert '<option value="agent" selected>' in page, change
        if form["agent"] == "li":
            assert '<option value="li" selected>' in page, change
    for name in ("<b>x</b>", "a\x00b", "\u202e" * 300):
        r = client.post("/admin/users", data={**ok, "username": name, "csrf_token": _token(client)})
        assert r.status_code == 400, name
        assert "<b>x</b>" not in r.get_data(as_text=True)
    assert _users_and_audit(web_runtime) == before
    r = client.post("/admin/users/1/active", data={"active": "2", "csrf_token": _token(client)})
    assert r.status_code == 400 and "Add a user" in r.get_data(as_text=True)
    r = client.post("/admin/users", data={**ok, "csrf_token": _token(client)})
    assert r.status_code == 302 and _user_id(web_runtime, "eve.ng")


def test_store_ends_sessions_on_password_change(web_runtime, web_users) -> None:
    uid = _user_id(web_runtime, "lead")
    at = web_runtime.clock()
    with web_runtime.sessions.begin() as s:
        token = store.start_session(s, uid, at)
    life, touch = timedelta(hours=12), timedelta(minutes=1)
    with web_runtime.sessions() as s:
        check = store.check_session(s, token, at, life, touch)
        assert check is not None and check.user.username == "lead"
    with web_runtime.sessions.begin() as s:
        assert store.set_password(s, uid, "another long password", at)
    with web_runtime.sessions() as s:
        assert store.check_session(s, token, at, life, touch) is None


# A cookie signed with the site's own key (only its holder can make one) whose flash
# list is not Flask's list of (category, text) pairs: the pages still render, and the
# bad list is dropped rather than shown.
@pytest.mark.parametrize(
    "flashes",
    [5, "text", None, {"a": 1}, [1, 2], [["ok"]], [["ok", "a", "b"]], [[1, 2]], [None], ["ab"]],
)
def test_a_signed_cookie_with_a_malformed_flash_list_is_no_500(
    client, web_users, login, flashes
) -> None:
    login(client, "root")
    for page in ("/login", "/calls"):
        with client.session_transaction() as sess:
            sess["_flashes"] = flashes
        r = client.get(page)
        assert r.status_code in (200, 302), (page, flashes, r.status_code)
        with client.session_transaction() as sess:
            assert "_flashes" not in sess  # dropped, not kept for the next page
    assert client.get("/api/me").status_code == 200  # still signed in


def test_a_well_formed_flash_list_is_still_shown(client, web_users, login) -> None:
    login(client, "root")
    with client.session_transaction() as sess:
        sess["_flashes"] = [("ok", "saved-marker")]
    assert "saved-marker" in client.get("/calls").get_data(as_text=True)


def _read_until_end(response, seconds: float) -> tuple[bool, str]:
    """(whether the stream ended within `seconds`, what it sent meanwhile)."""
    import time

    chunks, deadline = iter(response.response), time.monotonic() + seconds
    sent = []
    while time.monotonic() < deadline:
        try:
            chunk = next(chunks)
        except StopIteration:
            return True, "".join(sent)
        sent.append(chunk.decode() if isinstance(chunk, bytes) else chunk)
    response.close()
    return False, "".join(sent)


@pytest.mark.parametrize("path, user", [("/board/stream", "lead"), ("/agent/stream", "chen")])
@pytest.mark.parametrize("end", ["sign_out", "deactivate"])
def test_an_open_live_stream_ends_with_its_session(
    web_runtime, web_users, login, path, user, end
) -> None:
    """A board or agent stream opened before the session ended (a copied cookie signed
    out, an account deactivated) went on sending live data for as long as the connection
    stayed open; it now ends within a check of its session."""
    app = make_app(
        web_runtime, sse_heartbeat_seconds=0.05, agent_poll_seconds=0.05, sse_session_seconds=0.1
    )
    try:
        client = app.test_client()
        login(client, user)
        r = client.get(path, buffered=False)
        assert r.status_code == 200 and r.mimetype == "text/event-stream"
        ended, sent = _read_until_end(r, 0.5)
        assert not ended and "event: " in sent  # live while the session is
        r.close()
        r = _copy_cookie(app, client).get(path, buffered=False)
        if end == "sign_out":
            client.post("/logout", data={"csrf_token": _token(client)})
        else:
            with web_runtime.sessions.begin() as s:
                store.set_active(s, _user_id(web_runtime, user), False, web_runtime.clock())
        ended, _ = _read_until_end(r, 5.0)
        assert ended
    finally:
        close_app(app)


@pytest.mark.postgres
@pytest.mark.parametrize("web_backend", ["postgresql"])  # SQLite's BEGIN IMMEDIATE serialises
def test_one_name_added_twice_at_once_is_refused_as_existing(web_runtime) -> None:
    """Two admins (or one form sent twice) add the same name at the same moment: both
    found it free, and the second's insert broke the unique index, a 500. It is now the
    refusal a name already taken gets (UserError EXISTS: the users page says so)."""
    import threading
    import time

    at = web_runtime.clock()
    first = web_runtime.sessions()
    first.begin()
    store.add_user(first, "dora", PASSWORD, "manager", None, at)  # inserted, not committed
    got: list[object] = []

    def second() -> None:
        try:
            with web_runtime.sessions.begin() as s:
                got.append(store.add_user(s, "dora", PASSWORD, "manager", None, at))
        except Exception as e:  # noqa: BLE001 (what the view would have met)
            got.append(e)

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.5)  # the second found the name free and waits on the unique index
    first.commit()
    first.close()
    t.join(10)
    assert len(got) == 1 and isinstance(got[0], store.UserError), got
    assert got[0].code is store.UserProblem.EXISTS
    assert [u.username for u in _users(web_runtime)] == ["dora"]


def _users(rt):
    with rt.sessions() as s:
        return list(s.scalars(select(User)))


def test_signing_in_again_ends_the_session_the_browser_had(
    app, client, web_users, login, web_runtime
) -> None:
    """A supervisor leaves a shared desk signed in and an agent signs in on the same
    browser: the supervisor's session went on living on the server for the rest of its
    12 hours, so a copy of that cookie still read the board. Signing in now ends it."""
    login(client, "lead")
    thief = _copy_cookie(app, client)
    assert thief.get("/api/me").get_json()["username"] == "lead"
    login(client, "chen")
    assert client.get("/api/me").get_json()["username"] == "chen"
    assert thief.get("/api/me").status_code == 401
    assert thief.get("/board").status_code == 302
    ended = [(s.user_id, s.end_reason) for s in _sessions(web_runtime) if s.ended_at is not None]
    assert ended == [(_user_id(web_runtime, "lead"), "signed_in_again")]
