"""Visitor files on SQLite and PostgreSQL: numbered by check-in day and serial, unique
and gapless under concurrent writers; the check-out books the visitor's next-day
callback in the ledger, once; `hotline visitors` with hostile arguments refused by item."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import REPO, FixedClock
from dbs import temporary_database

from cli.main import main
from ivr.adapters.db.base import Base
from ivr.adapters.db.engine import make_engine, make_session_factory
from ivr.adapters.db.models_visitors import VISITOR_TABLES
from ivr.adapters.db.visitors import VisitorRepo
from ivr.app.cases import CaseInput
from ivr.app.visitors import VisitorInputError, VisitorNotFoundError, VisitorService
from ivr.bootstrap import Runtime, callback_parts, visitor_parts
from ivr.domain.callbacks import CallbackState

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def rt(web_runtime: Runtime) -> Runtime:
    return web_runtime


def test_the_migration_builds_what_the_models_describe(rt: Runtime) -> None:
    def only(obj: object, name: str | None, type_: str, *_: object) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in VISITOR_TABLES

    with rt.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": only, "compare_type": True})
        assert list(compare_metadata(ctx, Base.metadata)) == []


def test_files_are_numbered_by_the_check_in_day_not_the_day_entered(rt: Runtime) -> None:
    svc = visitor_parts(rt)
    today = rt.clock().astimezone(SH).date()  # Monday 2026-11-23
    a = svc.check_in("13800000051", by="desk", name="Wang Fang")
    b = svc.check_in("+8613800000052", by="desk", day=today - timedelta(days=2))
    c = svc.check_in("+8613800000053", by="desk")
    assert (a.file_no, b.file_no, c.file_no) == ("20261123-0001", "20261121-0001", "20261123-0002")
    assert a.number == "+8613800000051" and a.check_in == today and a.check_out is None
    assert svc.get(" 20261121-0001 ") == b


def test_check_out_books_the_next_day_callback_once(rt: Runtime) -> None:
    svc = visitor_parts(rt)
    no = svc.check_in("+8613800000054", by="desk").file_no
    out = svc.check_out(no, by="desk")
    assert out.visitor.check_out == date(2026, 11, 23) and out.visitor.checked_out_at == rt.clock()
    cb = out.callback
    assert cb is not None and cb.matter == f"visitor:{no}" and cb.source == "visitor"
    assert cb.state is CallbackState.SCHEDULED
    assert cb.due_at is not None and cb.due_at.astimezone(SH).date() == date(2026, 11, 24)
    assert callback_parts(rt).repo.get(cb.id) == cb
    with pytest.raises(VisitorInputError) as err:
        svc.check_out(no, by="desk")
    assert err.value.item == "file" and err.value.code is CaseInput.CHECKED_OUT
    assert err.value.reason == f"{no} checked out on 2026-11-23"


def test_hostile_input_is_refused_by_item(rt: Runtime) -> None:
    svc = visitor_parts(rt)
    clock = cast(FixedClock, rt.clock)
    today = clock.at.astimezone(SH).date()
    tomorrow = today + timedelta(days=1)
    control = "contains control characters"
    for kwargs, item, code, reason in [
        (
            {"number": "not a number"},
            "number",
            CaseInput.BAD_NUMBER,
            "only digits, '+' and separators are allowed",
        ),
        ({"number": ""}, "number", CaseInput.MISSING, "missing"),
        ({"name": "x" * 101}, "name", CaseInput.TOO_LONG, "101 characters: at most 100"),
        ({"name": "a\0b"}, "name", CaseInput.CONTROL_CHARACTERS, control),
        ({"note": "line\nbreak"}, "note", CaseInput.CONTROL_CHARACTERS, control),
        (
            {"day": tomorrow},
            "check_in",
            CaseInput.AFTER_TODAY,
            f"{tomorrow} is after today ({today})",
        ),
        (
            {"day": today - timedelta(days=400)},
            "check_in",
            CaseInput.TOO_LONG_AGO,
            "more than 366 days ago",
        ),
    ]:
        args: dict[str, object] = {"number": "+8613800000055"} | kwargs
        with pytest.raises(VisitorInputError) as err:
            svc.check_in(by="desk", **args)  # type: ignore[arg-type]
        assert (err.value.item, err.value.code, err.value.reason) == (item, code, reason), kwargs
    with pytest.raises(VisitorInputError) as err:
        svc.get("2026-11-23")
    assert err.value.code is CaseInput.NOT_A_FILE_NO
    assert err.value.reason == "not of the form YYYYMMDD-NNNN"
    with pytest.raises(VisitorNotFoundError):
        svc.get("20261123-0099")


def test_numbers_stay_unique_and_gapless_under_concurrent_writers(rt: Runtime) -> None:
    url = rt.engine.url.render_as_string(hide_password=False)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)
    day = date(2026, 11, 20)

    def run() -> None:
        engine = make_engine(url)
        try:
            svc = VisitorService(VisitorRepo(make_session_factory(engine)), rt.config.calendar,
                                 rt.clock)  # fmt: skip
            barrier.wait(timeout=30)
            for _ in range(10):
                svc.check_in("+8613800000056", by="desk", day=day)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    repo = VisitorRepo(rt.sessions)
    numbers = sorted(v.file_no for v in repo.for_number("+8613800000056", limit=100))
    assert numbers == [f"20261120-{n:04d}" for n in range(1, 41)]


# --- the command line ---------------------------------------------------------------------


@pytest.fixture
def cli_db(web_backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with temporary_database(web_backend, tmp_path) as url:
        monkeypatch.setenv("HOTLINE_DATABASE_URL", url)
        monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("HOTLINE_CONFIG", str(REPO / "config"))
        monkeypatch.setenv("HOTLINE_NOW", "2026-11-23T10:00:00+08:00")
        yield url


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_checks_in_and_out_and_refuses_bad_arguments_by_name(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys, "visitors", "check-in", "--number", "13800000057", "--date", "2026-11-22", "--json"
    )
    assert code == 0 and json.loads(out)["file_no"] == "20261122-0001"
    code, out, _ = _run(capsys, "visitors", "check-out", "20261122-0001", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["check_out"] == "2026-11-23"
    assert shown["callback"]["matter"] == "visitor:20261122-0001"
    assert datetime.fromisoformat(shown["callback"]["due_at"]).astimezone(SH).date() == date(
        2026, 11, 24
    )
    code, _, err = _run(capsys, "visitors", "check-out", "20261122-0001")
    assert code == 2 and "--file" in err
    code, out, _ = _run(capsys, "visitors", "show", "20261122-0001")
    assert code == 0 and json.loads(out)["number"] == "+8613800000057"
    code, _, err = _run(capsys, "visitors", "show", "20261122-0009")
    assert code == 1 and "no visitor file" in err
    for argv, option in [
        (("check-in", "--number", "abc"), "--number"),
        (("check-in", "--number", "13800000057", "--date", "2026-13-01"), "--date"),
        (("check-in", "--number", "13800000057", "--date", "2026-11-30"), "--check_in"),
        (("check-in", "--number", "13800000057", "--name", "a\tb"), "--name"),
        (("show", "2026-11-22"), "file_no"),
    ]:
        code, _, err = _run(capsys, "visitors", *argv)
        assert code == 2 and option in err, (argv, err)
