"""Issue 9, class 5: data and secrets at rest are readable by their owner only, whatever the umask.

Every test runs under umask 0o022 (the usual one) and 0o000 (the worst), and
checks the modes with os.stat: 0700 directories, 0600 files.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from ivr.adapters.db.engine import make_engine, migrate, sqlite_files
from ivr.adapters.db.spool import SpoolingCallLog
from ivr.adapters.files import file_secret
from ivr.bootstrap import asterisk_settings, build_runtime
from ivr.config import ConfigError, load_config
from ivr.dialer import asterisk_conf
from ivr.domain.calllog import CallEnded, CallStarted
from lab.sandbox import MARKER, RECIPE_VERSION, Sandbox
from web.app import _secret_key

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private_tree(root: Path) -> list[Path]:
    """Every directory under `root` (itself included) is 0700 and every file 0600."""
    seen = [root]
    assert mode(root) == 0o700, root
    for path in root.rglob("*"):
        seen.append(path)
        assert mode(path) == (0o700 if path.is_dir() else 0o600), (path, oct(mode(path)))
    return seen


def test_sqlite_database_and_its_wal_and_shm_files_are_0600(umask: int, tmp_path: Path) -> None:
    db = tmp_path / "hotline.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        migrate(engine)
        with engine.connect() as conn:  # WAL and SHM exist while a connection is open
            conn.exec_driver_sql("SELECT count(*) FROM calls").all()
            files = sqlite_files(db)
            assert all(f.exists() for f in files)
            assert [oct(mode(f)) for f in files] == ["0o600"] * 3
    finally:
        engine.dispose()


def test_an_existing_world_readable_database_is_tightened(umask: int, tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    engine.dispose()
    for f in sqlite_files(db):
        if f.exists():
            f.chmod(0o644)
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1").all()
            assert [oct(mode(f)) for f in sqlite_files(db) if f.exists()] == ["0o600"] * 3
    finally:
        engine.dispose()


def test_the_data_directory_spool_rejected_and_secrets_are_private(
    umask: int, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    rt = build_runtime(str(CONFIG), {"HOTLINE_DATA_DIR": str(data)})
    try:
        log = SpoolingCallLog(rt.calls, rt.spool_path)
        log.record(CallStarted("u1", T0, "13800000001", source="fastagi"))
        log.spool([CallEnded("u1", T0)])  # as during a database outage
        with open(rt.spool_path, "a", encoding="utf-8") as f:
            f.write("not a call event\n")  # refused for good on replay
        assert log.replay() == 1
        log.spool([CallStarted("u2", T0, "13800000002")])  # waits in the spool
        _secret_key(rt)
        with rt.engine.connect() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM calls").all()
            seen = {p.relative_to(data).as_posix() for p in assert_private_tree(data)[1:]}
    finally:
        rt.close()
    assert {
        "hotline.db",
        "hotline.db-wal",
        "hotline.db-shm",
        "spool",
        "spool/calllog.jsonl",
        "spool/calllog.jsonl.rejected",
        "spool/calllog.jsonl.lock",
        "secrets",
        "secrets/ami-secret",
        "secrets/seat-password",
        "web-secret.key",
    } <= seen


def test_rendered_asterisk_configs_holding_secrets_are_0600(umask: int, tmp_path: Path) -> None:
    rt = build_runtime(str(CONFIG), {"HOTLINE_DATA_DIR": str(tmp_path / "var")})
    try:
        box = Sandbox(tmp_path / "sandbox")
        (box.root / MARKER).parent.mkdir(parents=True)
        (box.root / MARKER).write_text(RECIPE_VERSION + "\n", encoding="utf-8")
        box.config_dir.mkdir(parents=True)
        written = box.render(asterisk_settings(rt.config))
        written += asterisk_conf.install_into(box.config_dir, rt.config.callbacks.dialer)
        manager = (box.config_dir / "manager.conf").read_text(encoding="utf-8")
        pjsip = (box.config_dir / "pjsip.conf").read_text(encoding="utf-8")
    finally:
        rt.close()
    assert f"secret = {rt.config.ami.secret}" in manager
    assert f"password={rt.config.sip.seat_password}" in pjsip
    assert {p.name for p in written} >= {"manager.conf", "pjsip.conf", "pjsip_callbacks.conf"}
    assert {p.name: oct(mode(p)) for p in box.config_dir.iterdir()} == {
        p.name: "0o600" for p in box.config_dir.iterdir()
    }


# --- where secrets come from -------------------------------------------------------


def test_secrets_are_generated_once_per_data_directory_and_reused(tmp_path: Path) -> None:
    env = {"HOTLINE_DATA_DIR": str(tmp_path)}
    first = build_runtime(str(CONFIG), env, migrate_db=False)
    second = build_runtime(str(CONFIG), env, migrate_db=False)
    other = build_runtime(str(CONFIG), {"HOTLINE_DATA_DIR": str(tmp_path / "x")}, migrate_db=False)
    for rt in (first, second, other):
        rt.close()
    assert len(first.config.ami.secret) >= 24 and len(first.config.sip.seat_password) >= 24
    assert first.config.ami.secret != first.config.sip.seat_password
    assert (second.config.ami, second.config.sip) == (first.config.ami, first.config.sip)
    assert other.config.ami.secret != first.config.ami.secret
    kept = (tmp_path / "secrets" / "ami-secret").read_text(encoding="utf-8").strip()
    assert kept == first.config.ami.secret


def test_secrets_from_the_environment_win_and_write_nothing(tmp_path: Path) -> None:
    env = {
        "HOTLINE_DATA_DIR": str(tmp_path),
        "HOTLINE_AMI_SECRET": "from-env-ami",
        "HOTLINE_SEAT_PASSWORD": "from-env-seat",
    }
    rt = build_runtime(str(CONFIG), env, migrate_db=False)
    rt.close()
    assert rt.config.ami.secret == "from-env-ami"
    assert rt.config.sip.seat_password == "from-env-seat"
    assert not (tmp_path / "secrets" / "ami-secret").exists()
    assert not (tmp_path / "secrets" / "seat-password").exists()


def test_the_committed_config_holds_no_secret() -> None:
    text = (CONFIG / "hotline.yaml").read_text(encoding="utf-8")
    main = yaml.safe_load(text)
    assert "secret" not in main["ami"] and "seat_password" not in main["sip"]
    assert load_config(CONFIG, env={}).ami.secret == ""  # bootstrap fills it in


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("ami", "secret", "hotline-local-only"), ("sip", "seat_password", "change-me-seat")],
)
def test_a_secret_in_the_yaml_is_refused_naming_file_and_item(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    conf = tmp_path / "config"
    shutil.copytree(CONFIG, conf)
    main = yaml.safe_load((conf / "hotline.yaml").read_text(encoding="utf-8"))
    main[section][key] = value
    (conf / "hotline.yaml").write_text(yaml.safe_dump(main), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(conf, env={})
    assert (err.value.file, err.value.item) == ("hotline.yaml", f"{section}.{key}")
    assert "HOTLINE_" in err.value.reason


def test_an_emptied_secret_file_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "ami-secret"
    file_secret(path)
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match=str(path)):
        file_secret(path)


HOSTILE_SECRETS = [
    "a\r\nAction: Originate",  # a second AMI action, or a second .conf line
    "a\nsecret=known",
    "tab\there",
    "inner space",
    "nul\x00byte",
    "ünïcode",
    "\u202eoverride",
    "x" * 129,
]


@pytest.mark.parametrize("name", ["HOTLINE_AMI_SECRET", "HOTLINE_SEAT_PASSWORD"])
@pytest.mark.parametrize("value", HOSTILE_SECRETS)
def test_a_secret_from_the_environment_that_asterisk_cannot_take_is_refused_unquoted(
    tmp_path: Path, name: str, value: str
) -> None:
    """It goes into manager.conf or pjsip.conf and into AMI's Login: refused when the
    configuration is read (check-config too), naming the variable, never quoting it.
    It used to pass every check and fail when Asterisk's files were rendered, with
    the secret in the error."""
    env = {"HOTLINE_DATA_DIR": str(tmp_path), name: value}
    with pytest.raises(ConfigError) as err:
        load_config(CONFIG, env=env)
    assert (err.value.file, err.value.item) == ("environment", name)
    assert value.strip() not in str(err.value) and "printable ASCII" in err.value.reason
    with pytest.raises(ConfigError):
        build_runtime(str(CONFIG), env, migrate_db=False)


@pytest.mark.parametrize("value", HOSTILE_SECRETS)
def test_a_kept_secret_file_edited_into_what_asterisk_cannot_take_is_refused_with_its_path(
    tmp_path: Path, value: str
) -> None:
    path = tmp_path / "secrets" / "seat-password"
    file_secret(path)
    path.write_text(value + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        build_runtime(str(CONFIG), {"HOTLINE_DATA_DIR": str(tmp_path)}, migrate_db=False)
    assert err.value.file == str(path) and value.strip() not in str(err.value)


@pytest.mark.parametrize("value", ["Zz09-_.~!@#$%^&*()+=;:,<>?/|'\"`{}[]\\", "0", "x" * 128])
def test_any_printable_ascii_secret_without_spaces_is_taken(tmp_path: Path, value: str) -> None:
    env = {"HOTLINE_DATA_DIR": str(tmp_path), "HOTLINE_AMI_SECRET": value}
    rt = build_runtime(str(CONFIG), {**env, "HOTLINE_SEAT_PASSWORD": value}, migrate_db=False)
    rt.close()
    assert rt.config.ami.secret == rt.config.sip.seat_password == value


@pytest.mark.parametrize("value", ["Q", "hunter2", "x" * 31, "  short-with-spaces-around  "])
def test_a_short_web_secret_from_the_environment_is_refused_unquoted(
    tmp_path: Path, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HOTLINE_WEB_SECRET signs the session cookie and the Twilio calls' state: a
    short key could be found offline from one signed value. Refused when the
    configuration is read (check-config too), and by the web app for a runtime built
    from another environment; naming the variable, never quoting it."""
    env = {"HOTLINE_DATA_DIR": str(tmp_path), "HOTLINE_WEB_SECRET": value}
    with pytest.raises(ConfigError) as err:
        load_config(CONFIG, env=env)
    assert (err.value.file, err.value.item) == ("environment", "HOTLINE_WEB_SECRET")
    assert value.strip() not in str(err.value) and "at least 32" in err.value.reason
    rt = build_runtime(str(CONFIG), {"HOTLINE_DATA_DIR": str(tmp_path)}, migrate_db=False)
    rt.close()
    monkeypatch.setenv("HOTLINE_WEB_SECRET", value)
    with pytest.raises(ConfigError) as err:
        _secret_key(rt)
    assert err.value.item == "HOTLINE_WEB_SECRET" and value.strip() not in str(err.value)
    assert not (tmp_path / "web-secret.key").exists()


@pytest.mark.parametrize("value", ["x" * 32, "密" * 32, "", "   "])
def test_a_long_enough_or_empty_web_secret_is_taken(
    tmp_path: Path, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """32 characters or more is taken as given; empty (or blank) means a key generated
    in the data directory, as for the other secrets."""
    env = {"HOTLINE_DATA_DIR": str(tmp_path), "HOTLINE_WEB_SECRET": value}
    rt = build_runtime(str(CONFIG), env, migrate_db=False)
    rt.close()
    monkeypatch.setenv("HOTLINE_WEB_SECRET", value)
    key = _secret_key(rt)
    if value.strip():
        assert key == value and not (tmp_path / "web-secret.key").exists()
    else:
        assert len(key) >= 32 and (tmp_path / "web-secret.key").exists()
