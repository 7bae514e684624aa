"""Progress on long work (the sandbox build, prompt synthesis, benchmark data), shown
on a terminal and silent otherwise (a pipe, a log file, CI): tqdm with `disable=None`."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def _stream(file: IO[str] | None) -> IO[str]:
    return file if file is not None else sys.stderr


def progress(
    items: Iterable[T], desc: str, total: int | None = None, file: IO[str] | None = None
) -> Iterator[T]:
    """Iterate `items` with a progress bar on a terminal; a plain iteration elsewhere."""
    out = _stream(file)
    yield from tqdm(items, desc=desc, total=total, file=out, disable=not out.isatty(), leave=False)


class Steps:
    """Named steps of one job: `with Steps("sandbox", 3) as s: s.step("debootstrap")`."""

    def __init__(self, desc: str, total: int, file: IO[str] | None = None) -> None:
        out = _stream(file)
        self._bar = tqdm(
            total=total, desc=desc, file=out, disable=not out.isatty(), leave=False,
            bar_format="{desc}: step {n_fmt}/{total_fmt} {postfix}",
        )  # fmt: skip
        self._started = False

    def step(self, name: str) -> None:
        if self._started:
            self._bar.update(1)
        self._started = True
        self._bar.set_postfix_str(name)

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._started:
            self._bar.update(1)
        self._bar.close()
