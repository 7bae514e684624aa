"""Files the hotline keeps at rest: readable by their owner only, whatever the umask.

The data directory holds the SQLite database, the call-log spool, the rejected
events, backups and the secrets: password hashes, full caller numbers and keys.
Every such directory is 0700 and every such file 0600. The modes are set
explicitly (``os.open`` with a mode, then ``fchmod``/``chmod``) rather than
through the process umask, which belongs to the whole process and may be 0.

Secrets (AMI secret, seat SIP password, web session key) come from the
environment when set, else from a 0600 file in the data directory, generated
on first use and reused afterwards; never from the committed configuration.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Final

PRIVATE_DIR: Final = 0o700
PRIVATE_FILE: Final = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) and make it 0700; returns `path`."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Make sure `path` exists and is 0600 (an existing file keeps its content).

    An existing file is never opened, only chmod-ed by path: closing a descriptor
    drops every POSIX lock this process holds on the file, and the file may be a
    SQLite database this process has open (the engine calls this for every new
    engine). With its locks gone, another process closing the database takes
    itself for the last connection and deletes the -wal under the open ones.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        os.chmod(path, PRIVATE_FILE)
        return path
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return path


def fsync_path(path: Path) -> None:
    """Make `path` durable: a file's content, or a rename or unlink in a directory."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_private(path: Path, mode: str = "a") -> int:
    """A file descriptor on `path` opened for writing ("a" append, "w" truncate), 0600.

    Wrap it with ``os.fdopen(fd, "a", encoding=...)``.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    return fd


def write_private(path: Path, text: str) -> Path:
    """Replace `path` with `text` (UTF-8), mode 0600."""
    with os.fdopen(open_private(path, "w"), "w", encoding="utf-8") as f:
        f.write(text)
    return path


def chmod_private(*paths: Path) -> None:
    """Make each existing path 0600 (a missing one is skipped)."""
    for path in paths:
        try:
            os.chmod(path, PRIVATE_FILE)
        except FileNotFoundError:
            continue


def file_secret(path: Path, nbytes: int = 24) -> str:
    """The secret kept in `path`; generated (0600, in a 0700 directory) on first use.

    Two processes starting at once agree: the file is created exclusively and
    the loser reads the winner's secret.
    """
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        chmod_private(path)
    else:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), PRIVATE_FILE)
            f.write(secrets.token_urlsafe(nbytes) + "\n")
            f.flush()
            os.fsync(f.fileno())
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise ValueError(f"secret file {path} is empty: delete it to have a new one generated")
    return value


def secret(env: Mapping[str, str], name: str, path: Path, nbytes: int = 24) -> str:
    """`env[name]` when set and not empty, else the secret kept in `path` (see file_secret)."""
    value = env.get(name, "").strip()
    return value or file_secret(path, nbytes)
