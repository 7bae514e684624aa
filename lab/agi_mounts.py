"""The process-per-call AGI script under the sandbox Asterisk, which runs chrooted.

`AGI(<program>)` forks and executes inside Asterisk's root (Debian unstable),
where the host's Python, this repository and the data directory do not exist.
Options weighed:

* Install python3 and our dependencies in the root (apt + pip): a second Python
  (sid's, not the venv's), a recipe change and a rebuild, and then the code and
  the wheels under test still have to be copied in on every change.
* Copy the interpreter, venv and repository into the root: hundreds of MB per
  session, and a copy that drifts from what the tests import.
* A host-side helper reached from inside the root: that is FastAGI again, not
  the process-per-call path this proves.
* Bind mounts (chosen): the host's interpreter prefix (`sys.base_prefix`, e.g.
  the pyenv version), the venv and the repository appear read-only inside the
  root at their own absolute paths, and the data directory read-write. Nothing
  is copied or installed; the venv's pyvenv.cfg, the editable install's finder
  and an absolute SQLite URL work unchanged, because every path is the same on
  both sides. The interpreter (built on the host's Debian 12) runs on sid's newer
  glibc with sid's libssl, libffi, libsqlite3, libuuid, liblzma, libbz2, libz and
  zoneinfo, all present in the minbase root (Asterisk pulls them in); psycopg's
  binary wheel carries its own libpq. PostgreSQL on 127.0.0.1 is reachable as
  the root shares the host's network namespace.

The mounts live only as long as `Sandbox.bind_mounts(agi_binds(...))`; any left
behind (a killed session) go with `Sandbox.stop()`. The script's environment is
Asterisk's: the extension rendered from `agi_script_extension()` sets the
database URL, data directory (and, for tests, the pinned clock) with
`Set(ENV(...))` just before `AGI()`, and passes the configuration directory as
the script's argument.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from ivr.adapters.asterisk.templates import AgiScriptExtension
from lab.sandbox import Bind

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "agi_scripts" / "hotline.py"


def agi_binds(data_dir: Path, config_dir: Path | None = None) -> tuple[Bind, ...]:
    """What the AGI script needs inside the root, for the running interpreter.

    Read-only: the interpreter's base prefix, the venv (sys.prefix), the
    repository and the config directory; read-write: the data directory (SQLite
    file, call-log spool). A path inside another of the same mode is left out.
    """
    wanted = [
        Bind(Path(sys.base_prefix)),
        Bind(Path(sys.prefix)),
        Bind(REPO),
        Bind(Path(config_dir).resolve()) if config_dir else Bind(REPO),
        Bind(Path(data_dir).resolve(), writable=True),
    ]
    binds: list[Bind] = []
    for bind in wanted:
        if not any(_inside(bind, other) for other in binds):
            binds = [other for other in binds if not _inside(other, bind)]
            binds.append(bind)
    return tuple(binds)


def _inside(bind: Bind, other: Bind) -> bool:
    """bind is already shown by other (same mode, at or below it)."""
    return bind.writable == other.writable and bind.path.is_relative_to(other.path)


def agi_script_extension(
    extension: str, config_dir: Path, env: Mapping[str, str]
) -> AgiScriptExtension:
    """The dialplan extension that runs agi_scripts/hotline.py with this interpreter."""
    command = (sys.executable, str(SCRIPT), str(Path(config_dir).resolve()))
    return AgiScriptExtension(extension=extension, command=command, env=dict(env))
