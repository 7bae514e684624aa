"""Host directories inside a sandbox root, and the AGI-script extension's dialplan.

The mount tests use a scratch root under tmp_path (never the shared sandbox) and
need root (mount); the rendering tests need nothing.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest

from ivr.adapters.asterisk import names
from ivr.adapters.asterisk.errors import AsteriskStartError, TemplateError
from ivr.adapters.asterisk.templates import render_all, settings_from_yaml_dir
from lab.agi_mounts import REPO, SCRIPT, agi_binds, agi_script_extension
from lab.sandbox import Bind, Sandbox, mounts_under

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mount needs root")


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    sandbox = Sandbox(tmp_path / "sandbox")
    sandbox.root.mkdir(parents=True)
    return sandbox


def host_dir(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "host" / name
    path.mkdir(parents=True)
    (path / "hello.txt").write_text(name)
    return path


def inside(box: Sandbox, path: Path) -> Path:
    return box.root / path.relative_to("/")


@needs_root
def test_binds_show_host_dirs_read_only_or_writable_then_go(tmp_path: Path, box: Sandbox) -> None:
    code, data = host_dir(tmp_path, "code"), host_dir(tmp_path, "data")
    with box.bind_mounts([Bind(code), Bind(data, writable=True)]) as points:
        assert set(points) == set(mounts_under(box.root))
        assert (inside(box, code) / "hello.txt").read_text() == "code"
        with pytest.raises(OSError):
            (inside(box, code) / "new.txt").write_text("x")
        (inside(box, data) / "new.txt").write_text("from the root")
    assert (data / "new.txt").read_text() == "from the root"
    assert mounts_under(box.root) == []
    assert list(box.root.iterdir()) == []  # the mount points made in the root are gone


@needs_root
def test_binds_are_undone_when_the_block_fails(tmp_path: Path, box: Sandbox) -> None:
    code = host_dir(tmp_path, "code")
    with pytest.raises(RuntimeError), box.bind_mounts([Bind(code)]):
        raise RuntimeError("test failed mid-way")
    assert mounts_under(box.root) == []


@needs_root
def test_stop_unmounts_binds_left_behind(tmp_path: Path, box: Sandbox) -> None:
    code = host_dir(tmp_path, "code")
    binding = box.bind_mounts([Bind(code)])
    binding.__enter__()
    try:
        assert mounts_under(box.root)
        box.stop()  # no Asterisk runs here: it only unmounts
        assert mounts_under(box.root) == []
    finally:
        binding.__exit__(None, None, None)


@needs_root
def test_binds_refuse_symlinks_in_the_root_and_overlaps(tmp_path: Path, box: Sandbox) -> None:
    code = host_dir(tmp_path, "code")
    (box.root / "tmp").symlink_to("/var")  # mkdir/mount would follow it on the host
    with pytest.raises(AsteriskStartError, match="symlink"), box.bind_mounts([Bind(code)]):
        pass
    with pytest.raises(AsteriskStartError, match="overlaps"), box.bind_mounts([Bind(tmp_path)]):
        pass
    assert mounts_under(box.root) == []


def test_agi_binds_cover_interpreter_repository_and_data() -> None:
    binds = agi_binds(Path("/srv/hotline-data"))
    assert Bind(Path(sys.base_prefix)) in binds
    assert Bind(REPO) in binds
    assert Bind(Path("/srv/hotline-data"), writable=True) in binds
    assert all(not b.path.is_relative_to(REPO) or b.path == REPO for b in binds if not b.writable)


def sample(**env: str) -> str:
    spec = agi_script_extension("4001", REPO / "config", env)
    settings = settings_from_yaml_dir(REPO / "config")
    return render_all(dataclasses.replace(settings, agi_script=spec))["extensions.conf"]


def test_agi_script_extension_is_rendered_only_when_asked() -> None:
    plain = render_all(settings_from_yaml_dir(REPO / "config"))["extensions.conf"]
    assert "exten => 4001," not in plain and str(SCRIPT) not in plain
    text = sample(HOTLINE_DATABASE_URL="postgresql+psycopg://u@127.0.0.1:5432/db")
    inbound = text.split(f"[{names.CONTEXT_INBOUND}]")[1].split("\n[")[0]
    # account code and entry time before Answer, as for the hotline extension
    # and admission control's count, as for the hotline extension (issue 14)
    assert (
        "exten => 4001,1,Set(CHANNEL(accountcode)=hotline-in)\n"
        " same => n,Set(HOTLINE_ENTERED=${STRFTIME(,,%s.%6q)})\n"
        " same => n,Set(GROUP(hotline)=ivr)\n"
        " same => n,GotoIf($[${GROUP_COUNT(ivr@hotline)} > ${HOTLINE_MAX_IN_IVR}]"
        "?hotline-shed,s,1)\n"
        " same => n,Answer()\n"
    ) in inbound
    assert "Set(ENV(HOTLINE_DATABASE_URL)=postgresql+psycopg://u@127.0.0.1:5432/db)" in inbound
    assert f"AGI({sys.executable},{SCRIPT},{REPO / 'config'})" in inbound
    assert "Goto(4000,decide)" in inbound and "n(decide),Set(GROUP(hotline)=routed)" in inbound


@pytest.mark.parametrize("value", ["a\nb", "${SHELL}", "x;y", "back\\slash", " edge"])
def test_agi_script_environment_values_that_would_break_the_dialplan_are_refused(
    value: str,
) -> None:
    with pytest.raises(TemplateError):
        sample(HOTLINE_DATABASE_URL=value)


def test_agi_script_extension_must_be_free() -> None:
    settings = settings_from_yaml_dir(REPO / "config")
    spec = agi_script_extension(settings.hotline_extension, REPO / "config", {})
    with pytest.raises(TemplateError):
        render_all(dataclasses.replace(settings, agi_script=spec))


@pytest.mark.parametrize(
    "change",
    [
        {"hotline_extension": "4000\n"},
        {"baseline_extension": "4099\n"},
        {"agi_script": ("4001\n", ("/bin/agi",), {})},
        {"agi_script": ("4001", ("/bin/agi\n",), {})},
        {"agi_script": ("4001", ("/bin/agi",), {"HOTLINE_X\n": "1"})},
    ],
)
def test_a_trailing_line_end_in_a_rendered_name_is_refused(change: dict[str, object]) -> None:
    """Dial strings, AGI arguments and environment names must match whole: '$' also
    matches before a final line end, which would split a dialplan line."""
    from ivr.adapters.asterisk.templates import AgiScriptExtension

    settings = settings_from_yaml_dir(REPO / "config")
    spec = change.pop("agi_script", None)
    if spec is not None:
        extension, command, env = spec  # type: ignore[misc]
        change["agi_script"] = AgiScriptExtension(extension, command, env)
    with pytest.raises(TemplateError):
        render_all(dataclasses.replace(settings, **change))  # type: ignore[arg-type]
