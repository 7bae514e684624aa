"""The web app in Chinese (the hotline's default) and English: which language a request
gets, that every message has a zh-CN translation, and locale formats."""

from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from sqlalchemy import select

from ivr.adapters.db.models_web import User
from ivr.config import WEB_LOCALES, ConfigError, load_config
from web.app import create_app
from web.i18n import TRANSLATIONS, babel_id, dt, num, pct
from web.settings import WebSettings

REPO = Path(__file__).resolve().parents[2]
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def lang_of(html: str) -> str:
    m = re.search(r'<html lang="([^"]+)">', html)
    assert m, html[:200]
    return m.group(1)


def _token(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


# --- which language ------------------------------------------------------------------


def test_login_page_in_chinese_or_english_by_accept_language(client) -> None:
    zh = client.get("/login", environ_overrides=ZH).get_data(as_text=True)
    assert lang_of(zh) == "zh-CN"
    assert "<h1>登录</h1>" in zh and "用户名" in zh and "密码" in zh
    assert "Sign in" not in zh and "User name" not in zh
    en = client.get("/login", environ_overrides=EN).get_data(as_text=True)
    assert lang_of(en) == "en"
    assert "<h1>Sign in</h1>" in en and "User name" in en and "登录" not in en


@pytest.mark.parametrize(
    ("accept", "lang"),
    [
        ("en-US,en;q=0.9", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.5", "zh-CN"),
        ("en;q=0.4,zh-CN;q=0.8", "zh-CN"),
        ("zh", "zh-CN"),
        ("fr-FR", "zh-CN"),  # not supported: the hotline's web.locale
        ("", "zh-CN"),
    ],
)
def test_accept_language_best_match_else_the_configured_default(client, accept, lang) -> None:
    html = client.get("/login", environ_overrides={"HTTP_ACCEPT_LANGUAGE": accept})
    assert lang_of(html.get_data(as_text=True)) == lang


def test_the_default_language_comes_from_settings_then_config(web_runtime) -> None:
    assert web_runtime.config.web.locale == "zh-CN"  # config/hotline.yaml
    app = create_app(web_runtime, secret_key="k", locale="en")
    try:
        html = app.test_client().get("/login").get_data(as_text=True)
        assert lang_of(html) == "en" and "User name" in html
    finally:
        from web.app import close_app

        close_app(app)
    with pytest.raises(ValueError, match="locale 'fr'"):
        WebSettings(locale="fr")


def test_web_locale_in_config_is_validated(tmp_path) -> None:
    import shutil

    shutil.copytree(REPO / "config", tmp_path / "config")
    main = tmp_path / "config" / "hotline.yaml"
    main.write_text(main.read_text().replace("  locale: zh-CN", "  locale: fr"))
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "config")
    assert e.value.item == "web.locale" and "zh-CN, en" in e.value.reason


def test_a_users_choice_beats_the_browser_and_is_kept_for_the_next_sign_in(
    app, client, web_users, login, web_runtime
) -> None:
    client.environ_base.update(ZH)
    login(client, "lead")
    board = client.get("/board").get_data(as_text=True)
    assert lang_of(board) == "zh-CN" and "监控大屏" in board
    r = client.post(
        "/language", data={"locale": "en", "next": "/board", "csrf_token": _token(board)}
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/board")
    board = client.get("/board").get_data(as_text=True)  # the browser still asks for zh-CN
    assert lang_of(board) == "en" and "Away requests" in board
    with web_runtime.sessions() as s:
        assert s.scalars(select(User.locale).where(User.username == "lead")).one() == "en"
    other = app.test_client()  # another browser, preferring Chinese: the saved choice wins
    other.environ_base.update(ZH)
    login(other, "lead")
    assert lang_of(other.get("/board").get_data(as_text=True)) == "en"
    assert other.get("/api/me").get_json()["locale"] == "en"


def test_a_choice_made_before_signing_in_survives_sign_in_and_out(client, web_users, login) -> None:
    client.environ_base.update(EN)
    page = client.get("/login").get_data(as_text=True)
    client.post("/language", data={"locale": "zh-CN", "csrf_token": _token(page)})
    assert lang_of(client.get("/login").get_data(as_text=True)) == "zh-CN"
    login(client, "chen")
    desk = client.get("/agent").get_data(as_text=True)
    assert lang_of(desk) == "zh-CN" and "我的工作台" in desk
    client.post("/logout", data={"csrf_token": _token(desk)})
    assert lang_of(client.get("/login").get_data(as_text=True)) == "zh-CN"


def test_an_unknown_language_is_a_400_naming_it(client) -> None:
    page = client.get("/login").get_data(as_text=True)
    r = client.post("/language", data={"locale": "xx", "csrf_token": _token(page)})
    assert r.status_code == 400 and "&#39;xx&#39;" in r.get_data(as_text=True)
    r = client.post("/language", data={"locale": "en"})
    assert r.status_code == 400  # no CSRF token


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",  # a browser drops the tab: //evil.example
        "/\r\n/evil.example",
        "/%2F/evil.example",
        "/\u3000/evil.example",
    ],
)
def test_the_switch_goes_back_only_to_this_site(client, target) -> None:
    page = client.get("/login").get_data(as_text=True)
    r = client.post("/language", data={"locale": "en", "next": target, "csrf_token": _token(page)})
    assert r.status_code == 302 and r.headers["Location"] == "/"


# --- translated messages ---------------------------------------------------------------


def test_error_pages_and_api_errors_are_translated(client, web_users, login) -> None:
    zh = client.get("/no-such-page", environ_overrides=ZH)
    assert zh.status_code == 404 and "页面不存在" in zh.get_data(as_text=True)
    en = client.get("/no-such-page", environ_overrides=EN)
    assert "There is no such page." in en.get_data(as_text=True)
    assert client.get("/api/me", environ_overrides=ZH).get_json() == {"error": "请先登录"}
    login(client, "chen")
    r = client.get("/reports", environ_overrides=ZH)
    assert r.status_code == 403 and "您无权访问此页面" in r.get_data(as_text=True)
    r = client.get("/calls?from=yesterday", environ_overrides=ZH)
    assert r.status_code == 400 and "不是日期" in r.get_data(as_text=True)


def test_a_refused_away_request_is_worded_from_its_code(client, web_users, login, web_runtime):
    for a in ("lead", "chen", "li", "zhang", "liu"):  # 4 ordinary present, minimum 4
        web_runtime.presence_repo.set_agent_state(a, "available", "", web_runtime.clock())
    login(client, "chen")
    token = client.get("/api/me").get_json()["csrf_token"]
    r = client.post(
        "/api/agent/status",
        json={"state": "away", "reason": "meal"},
        headers={"X-CSRF-Token": token, "Accept-Language": "zh-CN"},
    )
    assert r.status_code == 409
    body = r.get_json()
    assert body["outcome"] == "refused"
    assert body["message"] == "已拒绝：普通坐席在岗将降至 3 个，低于下限 4 个。"
    r = client.post(
        "/api/agent/status",
        json={"state": "sleeping"},
        headers={"X-CSRF-Token": token, "Accept-Language": "zh-CN"},
    )
    assert r.status_code == 400 and r.get_json() == {
        "error": "state: 必须是以下之一：available, wrap_up, away",
        "param": "state",
    }


def test_the_board_gets_its_script_labels_in_the_page_language(client, web_users, login) -> None:
    login(client, "lead")
    html = client.get("/board", environ_overrides=ZH).get_data(as_text=True)
    m = re.search(r'<script type="application/json" id="board-labels">(.*?)</script>', html)
    assert m
    import json

    labels = json.loads(m.group(1))
    assert labels["states"]["available"] == "空闲" and labels["approve"] == "批准"
    assert labels["alarms"]["below_minimum"].startswith("在岗人数低于下限")


# --- catalogs --------------------------------------------------------------------------


def _extracted() -> set[str]:
    """Every message of the templates and the web's Python code (board.js's words are in
    web/messages.py), as pybabel extracts them with web/babel.cfg."""
    method_map = [("web/**.py", "python"), ("web/templates/**.html", "jinja2")]
    keywords = {
        "_": None,
        "gettext": None,
        "ngettext": (1, 2),
        "lazy_gettext": None,
    }
    out = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(REPO), method_map, keywords=keywords
    ):
        out.add(message[0] if isinstance(message, tuple) else message)
    return out


def _catalog(babel_locale: str):
    with open(TRANSLATIONS / babel_locale / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=babel_locale)


def test_every_message_has_a_chinese_translation() -> None:
    messages = _extracted()
    assert (
        "Sign in" in messages
        and "Staffing below minimum: {count} ordinary seats present, {limit} required" in messages
    )  # noqa: E501
    cat = _catalog(babel_id("zh-CN"))
    missing = []
    for msgid in sorted(messages):
        m = cat.get(msgid)
        text = m.string if m is not None else None
        texts = text if isinstance(text, tuple) else (text,)
        if m is None or m.fuzzy or not all(texts):
            missing.append(msgid)
    assert not missing, f"no zh-CN translation (pybabel extract/update, docs/WEB.md): {missing}"


def test_placeholders_survive_translation() -> None:
    cat = _catalog(babel_id("zh-CN"))
    for m in cat:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        texts = m.string if isinstance(m.string, tuple) else (m.string,)
        wanted = set(re.findall(r"%\(\w+\)\w|\{\w+\}", ids[0]))
        for t in texts:
            assert set(re.findall(r"%\(\w+\)\w|\{\w+\}", t)) == wanted, m.id


def _hashable(x):
    return tuple(x) if isinstance(x, list | tuple) else x


def test_compiled_catalogs_match_their_po_files() -> None:
    """The committed .mo is what `pybabel compile` makes of the .po (run it after editing)."""
    for tag in WEB_LOCALES:
        po = TRANSLATIONS / babel_id(tag) / "LC_MESSAGES" / "messages.po"
        if tag == "en":
            assert not po.exists()  # English is the source language
            continue
        buf = io.BytesIO()
        write_mo(buf, _catalog(babel_id(tag)))
        buf.seek(0)
        fresh = {_hashable(m.id): _hashable(m.string) for m in read_mo(buf) if m.id}
        with open(po.with_suffix(".mo"), "rb") as f:
            committed = {_hashable(m.id): _hashable(m.string) for m in read_mo(f) if m.id}
        assert committed == fresh, f"{po.with_suffix('.mo')} is stale: run pybabel compile"


# --- locale formats ------------------------------------------------------------------


def test_dates_and_numbers_follow_the_locale(app) -> None:
    at = datetime.fromisoformat("2026-11-23T04:05:06+00:00")  # 12:05:06 in Asia/Shanghai
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert dt(at) == "2026年11月23日 12:05:06"
        assert dt(at, "hm") == "12:05"
        assert (num(12345.678, 1), pct(0.8)) == ("12,345.7", "80.0%")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert dt(at) == "Nov 23, 2026, 12:05:06"
        assert dt(at.isoformat(), "short") == "Nov 23, 2026, 12:05"


def test_the_audit_page_shows_dates_per_locale(client, web_users, login) -> None:
    login(client, "root")  # the sign-in is in the audit log, at the fixed clock's time
    zh = client.get("/admin/audit", environ_overrides=ZH).get_data(as_text=True)
    en = client.get("/admin/audit", environ_overrides=EN).get_data(as_text=True)
    assert "2026年11月23日 10:00:00" in zh and "Nov 23, 2026" not in zh
    assert "Nov 23, 2026, 10:00:00" in en and "2026年" not in en
    assert "审计日志" in zh and "管理员" in zh  # the page and the role name
