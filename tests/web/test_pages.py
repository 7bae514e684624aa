"""Every page renders for the roles that may see it and refuses the others."""

from __future__ import annotations

import pytest

PAGES = {
    "/board": {"supervisor", "manager", "admin"},
    "/agent": {"agent"},
    "/calls": {"agent", "supervisor", "manager", "admin"},
    "/reports": {"supervisor", "manager", "admin"},
    "/planner": {"supervisor", "manager", "admin"},
    "/admin/users": {"admin"},
    "/admin/audit": {"manager", "admin"},
}
USER_OF = {"agent": "chen", "supervisor": "lead", "manager": "boss", "admin": "root"}


@pytest.mark.parametrize("role", sorted(USER_OF))
def test_each_page_is_shown_or_refused_by_role(client, web_users, login, calls, t0, role) -> None:
    calls.call(t0.replace(hour=9, minute=40), wait=5, talk=30, agent="chen", seat="seat2")
    assert login(client, USER_OF[role]).status_code == 302
    for path, allowed in PAGES.items():
        r = client.get(path)
        expected = 200 if role in allowed else 403
        assert r.status_code == expected, (path, role, r.status_code)


def test_anonymous_pages_redirect_to_login(client) -> None:
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"]
