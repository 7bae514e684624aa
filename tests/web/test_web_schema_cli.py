"""Migration 0002_web builds the tables models_web describes; `hotline users add`."""

from __future__ import annotations

import io

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cli.main import main
from ivr.adapters.db.base import Base
from ivr.adapters.db.engine import downgrade, migrate
from ivr.adapters.db.models_web import WEB_TABLES
from web import store


def test_migration_matches_models_and_downgrades(web_runtime) -> None:
    engine = web_runtime.engine
    assert WEB_TABLES <= set(inspect(engine).get_table_names())

    def only_web(obj, name, type_, reflected, compare_to) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in WEB_TABLES

    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": only_web, "compare_type": True}
        )
        assert compare_metadata(ctx, Base.metadata) == []
        assert ctx.get_current_revision() is not None
    downgrade(engine, "0001")
    assert not WEB_TABLES & set(inspect(engine).get_table_names())
    assert "calls" in inspect(engine).get_table_names()
    migrate(engine)
    assert WEB_TABLES <= set(inspect(engine).get_table_names())


def test_users_add_cli(web_runtime, monkeypatch, capsys) -> None:
    url = web_runtime.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", url)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(web_runtime.config.data_dir))
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert (
        main(
            [
                "users",
                "add",
                "wang",
                "--role",
                "agent",
                "--agent",
                "lead",
                "--password-stdin",
                "--config",
                "config",
            ]
        )
        == 0
    )
    assert "user wang (agent) added" in capsys.readouterr().out
    with web_runtime.sessions() as s:
        assert store.authenticate(s, "wang", "a long enough password") is not None
        assert store.authenticate(s, "wang", "wrong") is None
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert (
        main(["users", "add", "x", "--role", "agent", "--password-stdin", "--config", "config"])
        == 2
    )
    assert "needs --agent" in capsys.readouterr().err
    assert (
        main(["users", "add", "y", "--role", "agent", "--agent", "ghost", "--config", "config"])
        == 2
    )


def test_serve_runs_until_stopped(web_runtime) -> None:
    import socket
    import threading
    import urllib.request

    from web.server import serve

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stop = threading.Event()
    t = threading.Thread(
        target=serve, args=(web_runtime, "127.0.0.1", port, stop), kwargs={"secret_key": "k"}
    )
    t.start()
    try:
        for _ in range(50):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as r:  # noqa: S310
                    assert r.status == 200
                    break
            except OSError:
                stop.wait(0.1)
        else:
            raise AssertionError("the web server did not answer")
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive()


def test_demo_pins_the_clock_to_open_hours_when_closed(web_runtime, t0) -> None:
    from lab.demo import demo_instant

    assert demo_instant(web_runtime) is None  # Monday 10:00: open
    web_runtime.clock.at = t0.replace(hour=22)
    at = demo_instant(web_runtime)
    assert at is not None and at.isoformat() == "2026-11-24T10:00:00+08:00"
    # after midnight: this morning's 10:00, not tomorrow's
    web_runtime.clock.at = t0.replace(day=24, hour=2)
    at = demo_instant(web_runtime)
    assert at is not None and at.isoformat() == "2026-11-24T10:00:00+08:00"
    # at lunch (closed 11:30-13:00): today's 10:00 is past, so tomorrow's
    web_runtime.clock.at = t0.replace(hour=12)
    at = demo_instant(web_runtime)
    assert at is not None and at.isoformat() == "2026-11-24T10:00:00+08:00"
