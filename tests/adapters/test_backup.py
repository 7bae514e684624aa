"""Issue 9, class 11: `hotline backup` and `hotline restore`, on SQLite and PostgreSQL.

The restore drill: calls in flight, backup, more calls, restore into a fresh
data directory (SQLite) or a new database (PostgreSQL): every record up to the
backup is there and intact, none after it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from dbs import temporary_database
from sqlalchemy import Engine, select

from cli.main import main
from ivr.adapters.db import models, models_callbacks, models_web  # noqa: F401 (all tables)
from ivr.adapters.db.backup import (
    BackupError,
    backup,
    backup_if_due,
    backups,
    check_backup,
    known_revisions,
    restore_sqlite,
)
from ivr.adapters.db.base import Base
from ivr.bootstrap import Runtime, build_runtime
from ivr.config import ConfigError, load_config
from ivr.config.backup import BackupConfigError, BackupSettings, parse_backup
from ivr.domain.calllog import CallAnswered, CallEnded, CallStarted, MenuStep, Routed

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@dataclass
class Site:
    """A running hotline's database and data directory, and the env the CLI sees."""

    backend: str
    rt: Runtime
    env: dict[str, str]
    tmp: Path


@pytest.fixture(params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    with _site(str(request.param), tmp_path, monkeypatch) as made:
        yield made


@contextmanager
def _site(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """SQLite in the data directory (the default layout), or a fresh PostgreSQL database."""
    env = {"HOTLINE_DATA_DIR": str(tmp_path / "var")}
    monkeypatch.delenv("HOTLINE_DATABASE_URL", raising=False)
    with temporary_database(backend, tmp_path) as url:
        if backend == "postgresql":
            env["HOTLINE_DATABASE_URL"] = url
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        rt = build_runtime(str(CONFIG), env)
        try:
            yield Site(backend, rt, env, tmp_path)
        finally:
            rt.close()


def cli(*args: str) -> int:
    return main([*args, "--config", str(CONFIG)])


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every hotline table, in primary-key order."""
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in Base.metadata.sorted_tables
        }


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def call_events(uid: str, caller: str, *, answered: bool, ended: bool, t: float = 0) -> list[Any]:
    events: list[Any] = [
        CallStarted(uid, at(t), caller, "Li", "4000", f"PJSIP/anonymous-{uid}"),
        MenuStep(uid, 1, at(t + 1), "main", "key", key="2", detail="complaints"),
        Routed(uid, at(t + 3), "complaints", "queue", "complaints", priority=3, trace=("open",)),
    ]
    if answered:
        events.append(CallAnswered(uid, at(t + 10), "seat1", "lead"))
    if ended:
        events.append(CallEnded(uid, at(t + 70), "16"))
    return events


def the_backup(site: Site) -> Path:
    found = backups(site.rt.config.backup.directory)
    assert len(found) == 1, found
    return found[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the drill -----------------------------------------------------------------------


def test_restore_drill(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    rt = site.rt
    rt.calls.record_many(call_events("done", "13800000001", answered=True, ended=True))
    rt.calls.record_many(call_events("in-menu", "13800000002", answered=False, ended=False)[:2])
    rt.calls.record_many(call_events("talking", "13800000003", answered=True, ended=False))
    rt.presence_repo.set_agent_state("lead", "available", "", at(5))
    before = snapshot(rt.engine)

    assert cli("backup") == 0
    copy = the_backup(site)
    assert str(copy) in capsys.readouterr().out

    rt.calls.record_many([CallEnded("in-menu", at(20)), CallEnded("talking", at(90), "16")])
    rt.calls.record_many(call_events("later", "13800000004", answered=True, ended=True, t=100))
    rt.presence_repo.set_agent_state("lead", "away", "lunch", at(120))
    assert snapshot(rt.engine) != before  # the drill would prove nothing otherwise

    if site.backend == "sqlite":
        fresh = site.tmp / "restored"
        assert cli("restore", str(copy), "--data-dir", str(fresh)) == 0
        restored_env = {"HOTLINE_DATA_DIR": str(fresh)}
    else:
        with temporary_database("postgresql", site.tmp) as url:
            assert cli("restore", str(copy), "--database-url", url) == 0
            restored_env = {
                "HOTLINE_DATA_DIR": str(site.tmp / "other"),
                "HOTLINE_DATABASE_URL": url,
            }
            after = _restored(restored_env)
        assert after == before
        return
    assert _restored(restored_env) == before
    assert mode(fresh) == 0o700 and mode(fresh / "hotline.db") == 0o600


def _restored(env: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    """The restored database as the hotline opens it (migrations find nothing to do)."""
    rt = build_runtime(str(CONFIG), env)
    try:
        rec = rt.calls.get_call("talking")
        assert rec is not None and rec.ended_at is None and rec.answered_agent == "lead"
        assert rt.calls.get_call("later") is None
        return snapshot(rt.engine)
    finally:
        rt.close()


# --- the copies ----------------------------------------------------------------------


def test_backups_are_0600_in_a_0700_directory_whatever_the_umask(site: Site) -> None:
    old = os.umask(0)
    try:
        made = backup(site.rt.config.database_url, site.rt.config.backup, T0)
    finally:
        os.umask(old)
    assert mode(made.path) == 0o600 and mode(made.path.parent) == 0o700
    assert made.path.suffix == (".sqlite" if site.backend == "sqlite" else ".pgdump")
    assert check_backup(made.path) in known_revisions()


def test_rotation_keeps_the_newest(site: Site) -> None:
    settings = BackupSettings(site.tmp / "rot", keep=2)
    made = [backup(site.rt.config.database_url, settings, at(i * 3600)) for i in range(4)]
    assert backups(settings.directory) == [m.path for m in made[2:]]
    assert made[3].removed == (made[1].path,)


def test_backup_if_due_every_24h(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    sqlite3.connect(tmp_path / "h.db").close()
    settings = BackupSettings(tmp_path / "b", keep=5, every=timedelta(hours=24))
    started = T0
    assert backup_if_due(url, settings, started + timedelta(hours=23), started) is None
    first = backup_if_due(url, settings, started + timedelta(hours=24), started)
    assert first is not None
    assert backup_if_due(url, settings, started + timedelta(hours=47), started) is None
    assert backup_if_due(url, settings, started + timedelta(hours=48), started) is not None


def test_backup_if_due_daily_at_a_wall_clock_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    sqlite3.connect(tmp_path / "h.db").close()
    settings = parse_backup({"directory": str(tmp_path / "b"), "daily": "02:30"}, tmp_path)
    started = datetime(2026, 11, 23, 1, 0, tzinfo=SHANGHAI)
    due = datetime(2026, 11, 23, 2, 30, tzinfo=SHANGHAI)
    assert backup_if_due(url, settings, due - timedelta(seconds=1), started) is None
    assert backup_if_due(url, settings, due + timedelta(seconds=20), started) is not None
    assert backup_if_due(url, settings, due + timedelta(hours=12), started) is None
    assert backup_if_due(url, settings, due + timedelta(days=1), started) is not None
    # down for three days: the first check after the restart makes one at once
    assert backup_if_due(url, settings, due + timedelta(days=4, hours=5), started) is not None


# --- refusals: exit 2 with a clear message --------------------------------------------


def _refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli("restore", *args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_a_missing_or_foreign_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = str(tmp_path / "fresh")
    assert "no such backup file" in _refused(capsys, str(tmp_path / "nope"), "--data-dir", fresh)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(os.urandom(4096))
    assert "not a hotline backup" in _refused(capsys, str(junk), "--data-dir", fresh)
    assert not Path(fresh).exists()


def test_a_corrupt_sqlite_copy_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with _site("sqlite", tmp_path, monkeypatch) as site:
        _corrupt_sqlite_copies_refused(site, capsys)


def _corrupt_sqlite_copies_refused(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.rt.calls.record_many(call_events("c1", "13800000001", answered=True, ended=True))
    copy = backup(site.rt.config.database_url, site.rt.config.backup, T0).path
    fresh = str(site.tmp / "fresh")

    broken = site.tmp / "broken.sqlite"
    data = bytearray(copy.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page + 100 : 3 * page] = os.urandom(2 * page - 100)  # pages 2-3: b-tree garbage
    broken.write_bytes(bytes(data))
    assert "broken.sqlite" in _refused(capsys, str(broken), "--data-dir", fresh)

    truncated = site.tmp / "truncated.sqlite"
    truncated.write_bytes(copy.read_bytes()[: len(data) // 2])
    assert "truncated.sqlite" in _refused(capsys, str(truncated), "--data-dir", fresh)

    foreign = site.tmp / "foreign.sqlite"
    with sqlite3.connect(foreign) as con:
        con.execute("CREATE TABLE t (x)")
    con.close()
    assert "alembic_version" in _refused(capsys, str(foreign), "--data-dir", fresh)

    future = site.tmp / "future.sqlite"
    shutil.copy(copy, future)
    with sqlite3.connect(future) as con:
        con.execute("UPDATE alembic_version SET version_num = '9999_future'")
    con.close()
    assert "9999_future" in _refused(capsys, str(future), "--data-dir", fresh)
    assert not Path(fresh).exists()


@pytest.mark.postgres
def test_a_corrupt_pg_dump_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with temporary_database("postgresql", tmp_path) as url:
        rt = build_runtime(
            str(CONFIG), {"HOTLINE_DATA_DIR": str(tmp_path), "HOTLINE_DATABASE_URL": url}
        )
        try:
            copy = backup(url, rt.config.backup, T0).path
        finally:
            rt.close()
        truncated = tmp_path / "truncated.pgdump"
        truncated.write_bytes(copy.read_bytes()[:200])
        assert "truncated.pgdump" in _refused(capsys, str(truncated), "--database-url", url)
        err = _refused(capsys, str(copy), "--data-dir", str(tmp_path / "fresh"))
        assert "--database-url" in err  # a dump goes into a database, not a directory


def test_a_non_empty_target_needs_force(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    rt = site.rt
    rt.calls.record_many(call_events("c1", "13800000001", answered=True, ended=True))
    copy = backup(rt.config.database_url, rt.config.backup, T0).path
    rt.calls.record_many(call_events("c2", "13800000002", answered=True, ended=True, t=100))
    if site.backend == "sqlite":
        target = ["--data-dir", str(rt.config.data_dir)]  # the live one: not empty
    else:
        target = ["--database-url", rt.config.database_url]
    assert "not empty" in _refused(capsys, str(copy), *target)
    assert rt.calls.get_call("c2") is not None  # untouched
    rt.engine.dispose()
    assert cli("restore", str(copy), *target, "--force") == 0
    assert rt.calls.get_call("c1") is not None and rt.calls.get_call("c2") is None


def test_restore_sqlite_refuses_a_dump_kind_mismatch(tmp_path: Path) -> None:
    dump = tmp_path / "x.pgdump"
    dump.write_bytes(b"PGDMP" + b"\0" * 100)
    with pytest.raises(BackupError, match="--database-url"):
        restore_sqlite(dump, tmp_path / "fresh", "hotline.db")


def test_restore_refuses_what_is_not_a_regular_file_without_blocking(tmp_path: Path) -> None:
    """A FIFO blocked the first read for ever (no writer comes); a device, a directory:
    each is refused at once, exit 2 naming the argument."""
    fifo = tmp_path / "copy.fifo"
    os.mkfifo(fifo)
    done: list[int] = []
    for path in (fifo, Path("/dev/zero"), tmp_path):
        t = threading.Thread(
            target=lambda p=path: done.append(
                main(["restore", str(p), "--data-dir", str(tmp_path / "new")])
            ),
            daemon=True,
        )
        t.start()
        t.join(10)
        if t.is_alive():  # unblock the thread before failing
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            raise AssertionError(f"restore {path} blocked")
    assert done == [2, 2, 2]
    with pytest.raises(BackupError, match="not a regular file"):
        check_backup(fifo)


# --- configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "item"),
    [
        ({"keep": 0}, "keep"),
        ({"keep": 10**20}, "keep"),
        ({"keep": True}, "keep"),
        ({"every": "5x"}, "every"),
        ({"every": "0h"}, "every"),
        ({"every": "8d"}, "every"),  # REQUIREMENTS §6: at least weekly
        ({"every": "24h", "daily": "02:30"}, "every"),
        ({"daily": "25:00"}, "daily"),
        ({"daily": 230}, "daily"),
        ({"directory": ""}, "directory"),
        ({"directory": ["a"]}, "directory"),
        ({"hourly": True}, "hourly"),
        (["keep", 3], ""),
    ],
)
def test_bad_backup_settings_name_the_item(raw: object, item: str, tmp_path: Path) -> None:
    with pytest.raises(BackupConfigError) as err:
        parse_backup(raw, tmp_path)
    assert err.value.item == item


def test_backup_settings_from_hotline_yaml(tmp_path: Path) -> None:
    cfg = load_config(CONFIG, env={"HOTLINE_DATA_DIR": str(tmp_path)})
    assert cfg.backup == BackupSettings(tmp_path / "backups", 14, timedelta(hours=24))
    conf = tmp_path / "config"
    shutil.copytree(CONFIG, conf)
    main_yaml = yaml.safe_load((conf / "hotline.yaml").read_text(encoding="utf-8"))
    main_yaml["backup"] = {"keep": -1}
    (conf / "hotline.yaml").write_text(yaml.safe_dump(main_yaml), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(conf, env={})
    assert (err.value.file, err.value.item) == ("hotline.yaml", "backup.keep")


def test_copies_made_while_calls_are_written_are_consistent(site: Site) -> None:
    """A writer records whole calls (one transaction each) while backups are made:
    each copy holds whole calls only, never half a transaction."""
    rt, stop = site.rt, threading.Event()
    written: list[str] = []

    def writer() -> None:
        while not stop.is_set():
            uid = f"w{len(written)}"
            rt.calls.record_many(call_events(uid, "13800000001", answered=True, ended=True))
            written.append(uid)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        copies = []
        for i in range(3):
            while len(written) < 5 * (i + 1):  # some calls between two copies
                assert thread.is_alive(), "the writer died"
                time.sleep(0.01)
            copies.append(backup(rt.config.database_url, rt.config.backup, at(i)).path)
    finally:
        stop.set()
        thread.join()
    counts = []
    for i, copy in enumerate(copies):
        env = {"HOTLINE_DATA_DIR": str(site.tmp / f"r{i}")}
        if site.backend == "sqlite":
            assert cli("restore", str(copy), "--data-dir", env["HOTLINE_DATA_DIR"]) == 0
            counts.append(_whole_calls(env))
        else:
            with temporary_database("postgresql", site.tmp) as url:
                assert cli("restore", str(copy), "--database-url", url) == 0
                counts.append(_whole_calls(env | {"HOTLINE_DATABASE_URL": url}))
    assert counts == sorted(counts) and counts[0] >= 5 and counts[-1] <= len(written)


def _whole_calls(env: dict[str, str]) -> int:
    rt = build_runtime(str(CONFIG), env)
    try:
        with rt.sessions() as s:
            uids = s.scalars(select(models.Call.uid)).all()
        for uid in uids:
            rec = rt.calls.get_call(uid)
            assert rec is not None and rec.ended_at is not None and len(rec.steps) == 1
            assert rec.answered_agent == "lead" and rec.decision is not None
        return len(uids)
    finally:
        rt.close()
