"""Progress bars for long fetches and loads when a person watches a terminal.

Off when standard error is not a terminal (services, CI, tests) or with AIED_PROGRESS=0.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sources.http import FetchedResponse


def is_interactive() -> bool:
    return os.environ.get("AIED_PROGRESS", "1") != "0" and sys.stderr.isatty()


@contextmanager
def fetch_progress(source: str) -> Iterator[Callable[[FetchedResponse], None]]:
    """Yield a callback that advances a live counter of responses and bytes landed."""
    if not is_interactive():
        yield lambda _response: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.fields[responses]} responses"), DownloadColumn(),
               TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(f"fetching {source}", total=None, responses=0)
        count = 0

        def tick(response: FetchedResponse) -> None:
            nonlocal count
            count += 1
            progress.update(task, advance=len(response.body), responses=count)

        yield tick


@contextmanager
def stage_progress(label: str) -> Iterator[Callable[[str], None]]:
    """Yield a callback naming the current stage of a long step (parse, classify, load...)."""
    if not is_interactive():
        yield lambda _stage: None
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status(f"{label}: starting") as status:
        yield lambda stage: status.update(f"{label}: {stage}")
