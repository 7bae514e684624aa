"""Fixtures shared by the web tests (tests/web) and the browser tests (tests/browser).

`web_runtime` is a full Runtime over the sample config/ on a throw-away database,
parametrised over SQLite and PostgreSQL (tests/dbs.py), with a clock the test
sets (no wall clock). `web_users` creates one account per role.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dbs import BACKENDS, temporary_database
from hypothesis import settings as hypothesis_settings

from ivr.bootstrap import Runtime, build_runtime
from ivr.domain.calllog import CallAnswered, CallEnded, CallStarted, MenuStep, Routed

REPO = Path(__file__).resolve().parents[1]

# Property tests draw the same examples on every run (each test's own seed) and are
# not timed: the suite passes or fails the same way from any clone, every time.
# HYPOTHESIS_PROFILE=explore draws new examples, to look for defects.
hypothesis_settings.register_profile("repeatable", derandomize=True, database=None, deadline=None)
hypothesis_settings.register_profile("explore", deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
MONDAY_10 = datetime.fromisoformat("2026-11-23T10:00:00+08:00")  # open, everybody on shift
PASSWORD = "correct horse battery"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = REPO / "var" / "test-artifacts"


class FixedClock:
    """The hotline's 'now' for a test: it moves only when the test moves it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


def _backend_params() -> list[object]:
    return [
        pytest.param(b, marks=[pytest.mark.postgres] if b == "postgresql" else []) for b in BACKENDS
    ]


@pytest.fixture(params=_backend_params())
def web_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def web_runtime(web_backend: str, tmp_path: Path) -> Iterator[Runtime]:
    with temporary_database(web_backend, tmp_path) as url:
        env = {"HOTLINE_DATABASE_URL": url, "HOTLINE_DATA_DIR": str(tmp_path)}
        rt = build_runtime(str(REPO / "config"), env)
        rt.clock = FixedClock(MONDAY_10)
        try:
            yield rt
        finally:
            rt.close()


@pytest.fixture
def web_users(web_runtime: Runtime) -> dict[str, str]:
    """username -> role: chen and li (agents), lead (supervisor), boss (manager), root (admin)."""
    from web import store

    users = {
        "chen": ("agent", "chen"),
        "li": ("agent", "li"),
        "lead": ("supervisor", "lead"),
        "boss": ("manager", None),
        "root": ("admin", None),
    }
    with web_runtime.sessions.begin() as s:
        for name, (role, agent) in users.items():
            store.add_user(s, name, PASSWORD, role, agent, web_runtime.clock())
    return {k: v[0] for k, v in users.items()}


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


@dataclass
class CallBuilder:
    """Writes calls through the real call log (the same events the FastAGI service emits)."""

    rt: Runtime
    n: int = 0

    def call(
        self,
        start: datetime,
        *,
        caller: str = "13800000001",
        branch: str | None = "enquiries",
        kind: str = "queue",
        wait: float | None = None,
        talk: float | None = None,
        agent: str | None = None,
        seat: str | None = None,
        ended: bool = True,
        menu_seconds: float = 8.0,
    ) -> str:
        """A call routed `menu_seconds` after `start` (unless branch is None), answered after
        `wait` s by `agent` when `agent` is given, ended after `talk` s (or after `wait`)."""
        self.n += 1
        uid = f"test-{self.n}"
        events: list[object] = [
            CallStarted(uid, start, caller, dialed="4000", channel=f"PJSIP/caller-{self.n}"),
            MenuStep(uid, 1, start, "main", "prompt"),
        ]
        end = start + timedelta(seconds=menu_seconds)
        if branch is not None:
            routed = start + timedelta(seconds=menu_seconds)
            events.append(Routed(uid, routed, branch, kind, branch, trace=("test route",)))
            end = routed + timedelta(seconds=wait or 0)
            if agent is not None:
                answered = end
                events.append(CallAnswered(uid, answered, seat or agent, agent))
                end = answered + timedelta(seconds=talk or 0)
        if ended:
            events.append(CallEnded(uid, end, "16"))
        self.rt.calls.record_many(events)  # type: ignore[arg-type]
        return uid


@pytest.fixture
def calls(web_runtime: Runtime) -> CallBuilder:
    return CallBuilder(web_runtime)


@pytest.fixture
def login() -> Callable[..., object]:
    """login(client, username, password=PASSWORD) -> the response of the POST."""

    def do(client: object, username: str, password: str = PASSWORD) -> object:
        page = client.get("/login")  # type: ignore[attr-defined]
        token = csrf_from(page.get_data(as_text=True))
        return client.post(  # type: ignore[attr-defined]
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )

    return do


@pytest.fixture
def t0() -> datetime:
    """Monday 2026-11-23 10:00 in Asia/Shanghai: open, every seat on shift."""
    return MONDAY_10


@pytest.fixture
def csrf() -> Callable[[str], str]:
    """csrf(html) -> the CSRF token of the page's first form."""
    return csrf_from


# --- a real browser (tests/browser, tests/e2e) ---------------------------------------


@pytest.fixture
def browser() -> Iterator[Callable[..., Any]]:
    """browser(lang="en") -> a fresh headless Chromium (Debian's chromium + chromedriver,
    selenium) with its own profile, asking web pages for `lang` (Accept-Language); all quit
    at the end. Selenium Manager stays offline."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("Debian chromium and chromium-driver are needed")
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers: list[Any] = []
    profiles: list[str] = []

    def make(lang: str = "en") -> Any:
        profile = tempfile.mkdtemp(prefix="hotline-chromium-")
        profiles.append(profile)
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        opts.add_argument(f"--lang={lang}")
        opts.add_experimental_option("prefs", {"intl.accept_languages": lang})
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1400,1000",
            f"--user-data-dir={profile}",
        ):
            opts.add_argument(arg)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        drivers.append(driver)
        return driver

    try:
        yield make
    finally:
        for d in drivers:
            d.quit()
        for p in profiles:
            shutil.rmtree(p, ignore_errors=True)


@pytest.fixture
def sign_in() -> Callable[[Any, str, str], None]:
    """sign_in(driver, base_url, username) through the login form."""
    from selenium.webdriver.common.by import By

    def do(driver: Any, base: str, username: str) -> None:
        driver.get(base + "/login")
        driver.find_element(By.ID, "username").send_keys(username)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "login").click()

    return do


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
