"""Sign-in, CSRF, rate limiting, anonymous API access, headers and cookies."""

from __future__ import annotations

from web.security import LoginLimiter, csv_safe, mask_number


def test_anonymous_api_gets_401_but_the_openapi_document_is_public(client) -> None:
    for path in (
        "/api/me",
        "/api/seats",
        "/api/calls",
        "/api/calls/x",
        "/api/reports",
        "/api/planner",
        "/api/agent/status",
        "/api/away-requests",
    ):
        r = client.get(path)
        assert r.status_code == 401, path
        assert r.get_json() == {"error": "authentication required"}
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/calls", "/api/seats", "/api/reports", "/api/planner"} <= set(doc["paths"])


def test_wrong_password_is_refused_then_rate_limited(client, web_users, login) -> None:
    for _ in range(5):
        r = login(client, "lead", "wrong password")
        assert r.status_code == 401
        assert b"Wrong user name or password" in r.data
    r = login(client, "lead")  # right password, but locked for the window
    assert r.status_code == 429
    assert client.get("/api/me").status_code == 401


def test_unknown_user_is_refused_like_a_wrong_password(client, web_users, login) -> None:
    assert login(client, "nobody", "whatever").status_code == 401


def test_login_without_csrf_token_is_refused(client, web_users) -> None:
    client.get("/login")
    r = client.post("/login", data={"username": "lead", "password": "correct horse battery"})
    assert r.status_code == 400
    assert client.get("/api/me").status_code == 401


def test_unsafe_requests_need_the_csrf_token(client, web_users, login, csrf) -> None:
    login(client, "chen")
    r = client.post("/agent/attendance", data={"kind": "sign_in"})
    assert r.status_code == 400
    r = client.post("/api/agent/attendance", json={"kind": "sign_in"})
    assert r.status_code == 400 and "CSRF" in r.get_json()["error"]
    token = client.get("/api/me").get_json()["csrf_token"]
    r = client.post(
        "/api/agent/attendance", json={"kind": "sign_in"}, headers={"X-CSRF-Token": "forged"}
    )
    assert r.status_code == 400
    r = client.post(
        "/api/agent/attendance", json={"kind": "sign_in"}, headers={"X-CSRF-Token": token}
    )
    assert r.status_code == 200
    page = client.get("/agent").get_data(as_text=True)
    r = client.post("/agent/status", data={"state": "wrap_up", "csrf_token": csrf(page)})
    assert r.status_code == 302


def test_session_cookie_flags_and_security_headers(client, web_users, login) -> None:
    r = login(client, "lead")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
    page = client.get("/board")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"


def test_login_redirect_stays_on_this_site(client, web_users, csrf) -> None:
    token = csrf(client.get("/login").get_data(as_text=True))
    r = client.post(
        "/login?next=//evil.example/x",
        data={"username": "lead", "password": "correct horse battery", "csrf_token": token},
    )
    assert r.headers["Location"] == "/board"


def test_logout(client, web_users, login, csrf) -> None:
    login(client, "lead")
    token = csrf(client.get("/board").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/api/me").status_code == 401


def test_limiter_window() -> None:
    now = [0.0]
    lim = LoginLimiter(2, 60, lambda: now[0])
    lim.failed("u")
    lim.failed("u")
    assert lim.blocked("u")
    now[0] = 61
    assert not lim.blocked("u")


def test_masking_and_csv_cells() -> None:
    assert mask_number("13800000001") == "138****0001"
    assert mask_number("+8613800000001") == "+86 138****0001"  # the country code is no secret
    assert csv_safe('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    for bad in ("+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert csv_safe(bad).startswith("'")
    assert csv_safe("13800000001") == "13800000001" and csv_safe(None) == ""


def test_openapi_documents_every_api_route(app, client) -> None:
    import re

    doc = client.get("/api/openapi.json").get_json()
    routes: dict[str, set[str]] = {}
    for r in app.url_map.iter_rules():
        if r.rule.startswith("/api/") and r.rule != "/api/openapi.json":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule)
            routes.setdefault(path, set()).update(r.methods - {"HEAD", "OPTIONS"})
    assert set(routes) == set(doc["paths"])
    for path, methods in routes.items():
        assert {m.lower() for m in methods} == set(doc["paths"][path]), path
        for op in doc["paths"][path].values():
            names = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert names == set(re.findall(r"{(\w+)}", path)), path
