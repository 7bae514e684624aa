"""A real Asterisk 22 in a Debian-unstable chroot, for development, tests and demos.

The root is built once with debootstrap + apt (see
shared/docs/ASTERISK-SANDBOX.md) under $HOTLINE_SANDBOX_DIR (default
/var/cache/hotline/sandbox), outside the repository, and reused: a marker file
in the root records the recipe version, so a changed recipe rebuilds. Asterisk
in the root shares the host's network namespace (SIP, AMI and FastAGI on
127.0.0.1). Host packages are never changed. Needs root (chroot, mount).

Host directories can be shown inside the root for a while (`Sandbox.bind_mounts`,
used by the process-per-call AGI script, see agi_mounts.py); `stop()` unmounts
everything below the root, so a stopped sandbox never holds the host's tree.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ivr.adapters.asterisk.errors import (
    AsteriskNotRunningError,
    AsteriskStartError,
    SandboxBuildError,
    SandboxNotBuiltError,
)
from ivr.adapters.asterisk.templates import AsteriskSettings, render_all
from ivr.adapters.files import write_private
from ivr.adapters.progress import Steps

DEFAULT_DIR = Path("/var/cache/hotline/sandbox")
ENV_DIR = "HOTLINE_SANDBOX_DIR"
ENV_SESSION_LOCK = "HOTLINE_SANDBOX_LOCK"
DEFAULT_SESSION_LOCK = Path("/tmp/hotline-e2e.lock")  # noqa: S108 - machine-wide, like the ports
PACKAGES = ("asterisk", "asterisk-modules", "asterisk-core-sounds-en-gsm")
RECIPE_VERSION = "hotline-sandbox-1 debootstrap-minbase-sid " + " ".join(PACKAGES)
MARKER = "etc/hotline-sandbox-recipe"
PID_FILE = "run/asterisk/asterisk.pid"  # var/run -> /run is absolute: read it in the root
CONFIG_DIR = "etc/asterisk"
SOUNDS_DIR = "usr/share/asterisk/sounds"  # astdatadir/sounds in Debian's asterisk.conf
SPOOL_DIR = "var/spool/asterisk"
RX_TIMEOUT_S = 10.0
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
REQUIRED_MODULES = ("res_pjsip.so", "chan_pjsip.so")


@dataclass(frozen=True)
class SandboxStatus:
    """What `hotline asterisk status` reports."""

    root: Path
    built: bool
    recipe_ok: bool
    running: bool
    pid: int | None
    version: str | None

    def summary(self) -> str:
        state = "running" if self.running else "stopped"
        built = "built" if self.recipe_ok else ("stale recipe" if self.built else "not built")
        extra = f", pid {self.pid}, {self.version}" if self.running else ""
        return f"sandbox {self.root}: {built}, {state}{extra}"


@dataclass(frozen=True)
class Bind:
    """A host directory shown inside the root at the same absolute path."""

    path: Path
    writable: bool = False


def sandbox_dir() -> Path:
    """$HOTLINE_SANDBOX_DIR or the default cache directory."""
    return Path(os.environ.get(ENV_DIR) or DEFAULT_DIR)


def clean_command(value: str) -> str:
    """A caller-supplied value made safe for one command line: CR/LF removed."""
    return value.replace("\r", " ").replace("\n", " ")


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below path, deepest first (from /proc/mounts)."""
    prefix = str(path.resolve())
    found = []
    with open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            point = line.split()[1].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def _umount(point: Path) -> None:
    """Unmount point; if it is busy (a process still has files open there), detach it."""
    proc = subprocess.run(["umount", str(point)], check=False, capture_output=True)
    if proc.returncode != 0:
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


def _module_running(listing: str, module: str) -> bool:
    """True when `module show` output lists module with status Running."""
    return any(line.split()[:1] == [module] and "Running" in line for line in listing.splitlines())


def listed_modules(modules_conf: str) -> list[str]:
    """The modules a modules.conf loads explicitly.

    >>> listed_modules("[modules]\\nload = app_dial.so  ; dial\\nnoload = x.so\\n")
    ['app_dial.so']
    """
    found = []
    for line in modules_conf.splitlines():
        name, _, value = line.split(";", 1)[0].partition("=")
        if name.strip() == "load" and value.strip():
            found.append(value.strip())
    return found


def run(
    args: list[str], what: str, *, env: dict[str, str] | None = None, timeout: float = 900
) -> str:
    """Run a build step; raise SandboxBuildError naming the step on failure."""
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxBuildError(f"{what}: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise SandboxBuildError(f"{what} failed (exit {proc.returncode}): {tail}")
    return proc.stdout


class _SessionHolds:
    """How deep this process holds each session lock (see Sandbox.exclusive)."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.depth: dict[Path, int] = {}


# Process-wide by nature: it records what this process holds of a machine-wide lock.
_SESSION_HOLDS = _SessionHolds()


class Sandbox:
    """The chroot with Asterisk: build, render configs, start, stop, status, CLI."""

    def __init__(self, base_dir: Path | None = None) -> None:
        self.base_dir = Path(base_dir) if base_dir else sandbox_dir()
        self.root = self.base_dir / "root"

    # --- paths ---------------------------------------------------------------

    @property
    def config_dir(self) -> Path:
        return self.root / CONFIG_DIR

    @property
    def sounds_dir(self) -> Path:
        return self.root / SOUNDS_DIR

    @property
    def spool_dir(self) -> Path:
        return self.root / SPOOL_DIR

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise build/start/stop between processes sharing the sandbox dir."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with open(self.base_dir / ".lock", "w", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def exclusive(self, timeout_s: float = 900.0) -> Iterator[None]:
        """Hold the sandbox for a whole test session or demo.

        The sandbox is one Asterisk on fixed ports (SIP, AMI, seat ports), shared
        by everyone on the machine; sessions that render their own configuration
        or run seats must not overlap. This waits for the other holder, up to
        timeout_s. The lock is machine-wide (the ports are), at
        $HOTLINE_SANDBOX_LOCK or /tmp/hotline-e2e.lock. It is re-entrant within a
        process (flock is per open file, so a second flock in the same process
        would wait for itself). Build/start/stop still take their own short lock.
        """
        lock_path = Path(os.environ.get(ENV_SESSION_LOCK) or DEFAULT_SESSION_LOCK)
        with _SESSION_HOLDS.guard:
            if _SESSION_HOLDS.depth.get(lock_path, 0):
                _SESSION_HOLDS.depth[lock_path] += 1
                reentered = True
            else:
                reentered = False
        if reentered:
            try:
                yield
            finally:
                with _SESSION_HOLDS.guard:
                    _SESSION_HOLDS.depth[lock_path] -= 1
            return
        deadline = time.monotonic() + timeout_s
        with open(lock_path, "w", encoding="utf-8") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise AsteriskStartError(
                            f"sandbox {self.root} held by another session for {timeout_s:.0f} s"
                        ) from None
                    time.sleep(0.2)
            with _SESSION_HOLDS.guard:
                _SESSION_HOLDS.depth[lock_path] = 1
            try:
                yield
            finally:
                with _SESSION_HOLDS.guard:
                    _SESSION_HOLDS.depth[lock_path] = 0
                fcntl.flock(handle, fcntl.LOCK_UN)

    # --- build ---------------------------------------------------------------

    def is_built(self) -> bool:
        """True when the root exists and was built by the current recipe."""
        marker = self.root / MARKER
        return marker.is_file() and marker.read_text(encoding="utf-8").strip() == RECIPE_VERSION

    def build(self) -> bool:
        """Build the root unless it is current. Returns True when it built."""
        with self._lock():
            if self.is_built():
                return False
            if self.root.exists():
                if self._pid() is not None:
                    raise SandboxBuildError(f"{self.root} is stale but Asterisk runs in it")
                self._remove_tree(self.root)
            tmp = self.base_dir / f"root.tmp-{os.getpid()}"
            if tmp.exists():
                self._remove_tree(tmp)
            done = False
            try:
                self._build_into(tmp)
                tmp.rename(self.root)
                done = True
            finally:
                if not done:
                    self._remove_tree(tmp)
            return True

    def adopt(self, prebuilt: Path) -> None:
        """Take over a root built elsewhere by this same recipe (rename, write marker)."""
        with self._lock():
            if self.is_built():
                return
            if self.root.exists():
                raise SandboxBuildError(f"cannot adopt {prebuilt}: {self.root} already exists")
            if not (prebuilt / "usr/sbin/asterisk").exists():
                raise SandboxBuildError(f"cannot adopt {prebuilt}: no usr/sbin/asterisk in it")
            prebuilt.rename(self.root)
            (self.root / MARKER).write_text(RECIPE_VERSION + "\n", encoding="utf-8")

    def _build_into(self, tmp: Path) -> None:
        with Steps("sandbox Asterisk", 3) as steps:
            steps.step("debootstrap sid (minbase)")
            self._bootstrap(tmp, steps)

    def _bootstrap(self, tmp: Path, steps: Steps) -> None:
        run(["debootstrap", "--variant=minbase", "sid", str(tmp)], "debootstrap sid")
        (tmp / "etc/hosts").write_text(f"127.0.0.1 localhost {socket.gethostname()}\n")
        resolv = tmp / "etc/resolv.conf"
        if resolv.is_symlink():
            resolv.unlink()
        shutil.copyfile("/etc/resolv.conf", resolv)
        policy = tmp / "usr/sbin/policy-rc.d"  # no service starts inside the chroot
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "DEBIAN_FRONTEND": "noninteractive",
            "LANG": "C.UTF-8",
        }
        try:
            chroot = ["chroot", str(tmp), "apt-get", "-o", "Acquire::Check-Valid-Until=false"]
            steps.step("apt-get update")
            run([*chroot, "update"], "apt-get update in the sandbox", env=env)
            steps.step("apt-get install asterisk")
            run(
                [*chroot, "install", "-y", "--no-install-recommends", *PACKAGES],
                "apt-get install asterisk in the sandbox",
                env=env,
            )
        finally:
            resolv.write_text("")  # else PJSIP stalls ~5 s per call on DNS
            policy.unlink(missing_ok=True)
        (tmp / MARKER).write_text(RECIPE_VERSION + "\n", encoding="utf-8")

    def _remove_tree(self, path: Path) -> None:
        """Delete a root, unmounting anything below it first; refuse if that fails."""
        if not path.exists():
            return
        for point in mounts_under(path):
            subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)
        if mounts_under(path):
            raise SandboxBuildError(f"refusing to delete {path}: something is still mounted there")
        shutil.rmtree(path)

    # --- configuration ---------------------------------------------------------

    def render(self, cfg: AsteriskSettings) -> list[Path]:
        """Write the rendered configuration into ROOT/etc/asterisk/ (0600: it holds the
        AMI secret and the seat passwords; Asterisk runs as root in the sandbox)."""
        self._require_built()
        written = []
        for filename, text in render_all(cfg).items():
            written.append(write_private(self.config_dir / filename, text))
        return written

    # --- run -------------------------------------------------------------------

    def _require_built(self) -> None:
        if not self.is_built():
            raise SandboxNotBuiltError(
                f"no sandbox built by recipe {RECIPE_VERSION!r} at {self.root}; run build()"
            )

    def _pid(self) -> int | None:
        """Pid of the Asterisk running in this root, or None."""
        try:
            pid = int((self.root / PID_FILE).read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            if os.readlink(f"/proc/{pid}/root") != str(self.root.resolve()):
                return None
        except OSError:
            return None
        return pid

    def is_running(self) -> bool:
        return self._pid() is not None

    def rx(self, command: str, timeout: float = RX_TIMEOUT_S) -> str:
        """Run one CLI command (`asterisk -rx`) and return its output."""
        command = clean_command(command)
        args = ["chroot", str(self.root), "asterisk", "-rx", command]
        try:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise AsteriskNotRunningError(f"asterisk -rx {command!r} timed out") from exc
        if proc.returncode != 0 or "Unable to connect to remote asterisk" in proc.stdout:
            raise AsteriskNotRunningError(
                f"asterisk -rx {command!r} failed: {(proc.stdout + proc.stderr).strip()}"
            )
        return proc.stdout

    def _mount_proc(self) -> None:
        proc_dir = self.root / "proc"
        if proc_dir in mounts_under(proc_dir):
            return
        subprocess.run(["mount", "-t", "proc", "proc", str(proc_dir)], check=True)

    def _umount_all(self) -> None:
        """Unmount proc and every bind mount below the root, deepest first."""
        for point in mounts_under(self.root):
            _umount(point)
        left = mounts_under(self.root)
        if left:
            raise AsteriskStartError(f"still mounted in the root: {', '.join(map(str, left))}")

    # --- host directories inside the root ----------------------------------------

    def _bind_target(self, path: Path) -> Path:
        """Where host path appears in the root; refuses anything that could escape it.

        A symlink in the root (Debian's /lib -> usr/lib, /var/run -> /run) would be
        followed on the host by mkdir and mount, so no component may be one.
        """
        if not path.is_absolute() or ".." in path.parts or path == Path("/"):
            raise AsteriskStartError(f"cannot bind {path}: not an absolute directory below /")
        root = self.root.resolve()
        real = path.resolve()
        if real == root or root.is_relative_to(real) or real.is_relative_to(root):
            raise AsteriskStartError(f"cannot bind {path}: it overlaps the root {root}")
        if not real.is_dir():
            raise AsteriskStartError(f"cannot bind {path}: not a directory")
        target = root
        for part in path.parts[1:]:
            target = target / part
            if target.is_symlink():
                raise AsteriskStartError(f"cannot bind {path}: {target} is a symlink in the root")
        return target

    def _bind_one(self, bind: Bind, created: list[Path]) -> Path:
        target = self._bind_target(bind.path)
        for point in mounts_under(target):  # left by a session that was killed
            _umount(point)
        missing = [d for d in (target, *target.parents) if not d.exists()]
        for directory in reversed(missing):
            directory.mkdir()
            created.append(directory)
        run(["mount", "--bind", str(bind.path), str(target)], f"bind {bind.path}")
        if not bind.writable:
            try:
                run(["mount", "-o", "remount,bind,ro", str(target)], f"read-only {bind.path}")
            except SandboxBuildError:
                _umount(target)
                raise
            if os.access(target, os.W_OK):
                _umount(target)
                raise AsteriskStartError(f"bind of {bind.path} into the root is not read-only")
        return target

    def _unbind(self, targets: list[Path], created: list[Path]) -> None:
        for target in reversed(targets):
            for point in mounts_under(target):
                _umount(point)
        for directory in reversed(created):
            with contextlib.suppress(OSError):  # not empty: not ours to remove
                directory.rmdir()

    @contextlib.contextmanager
    def bind_mounts(self, binds: Sequence[Bind]) -> Iterator[list[Path]]:
        """Show host directories inside the root at their own paths, for the block.

        Read-only unless `writable`; parents are mounted before the directories
        below them. On leaving (normally or by an exception) everything mounted
        here is unmounted and the empty mount points created in the root are
        removed; `stop()` unmounts them too. The caller holds `exclusive()`.
        Yields the mount points.
        """
        targets: list[Path] = []
        created: list[Path] = []
        with self._lock():
            try:
                for bind in sorted(binds, key=lambda b: len(b.path.parts)):
                    targets.append(self._bind_one(bind, created))
            except BaseException:
                self._unbind(targets, created)
                raise
        try:
            yield list(targets)
        finally:
            with self._lock():
                self._unbind(targets, created)

    def share(self, path: Path) -> Path:
        """Show host directory `path` inside the root at its own path, writable, until
        `stop()` (the fallback journal's directory: Asterisk appends to it, the service
        on the host replays it). Shown again when it already is. The caller holds
        `exclusive()`."""
        with self._lock():
            return self._bind_one(Bind(Path(path), writable=True), [])

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start Asterisk and wait until PJSIP is up; when running, reload the configs."""
        self._require_built()
        with self._lock():
            if self.is_running():
                self.rx("core reload")
                self._load_new_modules()
                self._wait_ready(timeout)
                return
            self._mount_proc()
            proc = subprocess.run(
                ["chroot", str(self.root), "asterisk"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            if proc.returncode != 0:
                raise AsteriskStartError(f"chroot {self.root} asterisk exited {proc.returncode}")
            self._wait_ready(timeout)

    def _load_new_modules(self) -> None:
        """`core reload` reads modules.conf but loads nothing new: load what it lists
        that is not running yet (a rendered config that added a module)."""
        conf = self.root / CONFIG_DIR / "modules.conf"
        if not conf.is_file():
            return
        listing = self.rx("module show")
        for module in listed_modules(conf.read_text(encoding="utf-8")):
            if not _module_running(listing, module):
                self.rx(f"module load {module}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                self.rx("core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
                modules = self.rx("module show like pjsip")
                if all(_module_running(modules, name) for name in REQUIRED_MODULES):
                    return
                last = f"{', '.join(REQUIRED_MODULES)} not all running: {modules.strip()}"
            except AsteriskNotRunningError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise AsteriskStartError(f"Asterisk in {self.root} not ready after {timeout:.0f} s: {last}")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """`core stop now`, wait for the process to exit, unmount proc and any bind mounts."""
        with self._lock():
            pid = self._pid()
            if pid is not None:
                with contextlib.suppress(AsteriskNotRunningError):
                    self.rx("core stop now")
                if not self._wait_exit(pid, timeout):
                    os.kill(pid, signal.SIGKILL)
                    self._wait_exit(pid, 5.0)
            self._umount_all()

    @staticmethod
    def _wait_exit(pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
        return False

    def status(self) -> SandboxStatus:
        pid = self._pid()
        version = None
        if pid is not None:
            with contextlib.suppress(AsteriskNotRunningError):
                version = self.rx("core show version").strip()
        return SandboxStatus(
            root=self.root,
            built=self.root.exists(),
            recipe_ok=self.is_built(),
            running=pid is not None,
            pid=pid,
            version=version,
        )


# --- CLI pieces (hotline asterisk down/status, cli/service_cmds.py) ------------------


def cmd_down(sandbox: Sandbox | None = None) -> SandboxStatus:
    """`hotline asterisk down`: stop Asterisk and unmount everything below the root."""
    box = sandbox or Sandbox()
    box.stop()
    return box.status()


def cmd_status(sandbox: Sandbox | None = None) -> SandboxStatus:
    """`hotline asterisk status`."""
    return (sandbox or Sandbox()).status()
