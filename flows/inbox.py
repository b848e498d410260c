"""Exported files: ``aied import`` and the inbox folder (a dropped file is an event)."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow

from flows import runtime as rt
from flows.extract import ExtractRequest, land_stream
from flows.process import process_flow
from sources.http import FetchedResponse

log = logging.getLogger(__name__)

INBOX_SUFFIXES = frozenset({".ris", ".bib", ".nbib", ".txt", ".csv", ".enw", ".xml"})


def file_responses(paths: list[Path], fmt: str) -> list[FetchedResponse]:
    """Exported files as landing responses (their bytes unchanged)."""
    return [
        FetchedResponse(url=path.resolve().as_uri(), status=200,
                        headers={"Content-Type": "text/plain"}, body=path.read_bytes(),
                        fetched_at=datetime.now(UTC), kind=fmt)
        for path in paths
    ]


@flow(name="aied-import", flow_run_name="import")
def import_files_flow(paths: list[str], fmt: str = "auto") -> dict[str, Any]:
    """Land exported files as one ``files`` batch and process it."""
    env = rt.open_runtime()
    files = [Path(p) for p in paths]
    request = ExtractRequest(source="files", scope="files", options={"format": fmt})
    batch = land_stream(iter(file_responses(files, fmt)), data_dir=env.settings.data_dir,
                        request=request)
    return process_flow(str(batch.path), batch_id=batch.batch_id)


def pending_inbox_files(inbox: Path) -> list[Path]:
    """Files waiting in the inbox (not hidden, not partial, a known export suffix)."""
    if not inbox.exists():
        return []
    return sorted(p for p in inbox.iterdir()
                  if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in INBOX_SUFFIXES)


def claim_inbox_file(path: Path) -> Path:
    """Move a dropped file to inbox/claimed/<timestamp>-<name> so it is picked up once."""
    claimed = path.parent / "claimed"
    claimed.mkdir(exist_ok=True)
    target = claimed / f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{path.name}"
    shutil.move(str(path), target)
    return target


def watch_inbox(inbox: Path, *, interval: float = 2.0, stop: threading.Event | None = None,
                settle_seconds: float = 1.0) -> None:
    """Poll the inbox; each file that stopped growing is claimed and announced by an event.

    The event ``aied.inbox.file.dropped`` triggers the import deployment.
    """
    stop = stop or threading.Event()
    sizes: dict[Path, int] = {}
    inbox.mkdir(parents=True, exist_ok=True)
    while not stop.is_set():
        for path in pending_inbox_files(inbox):
            size = path.stat().st_size
            if sizes.get(path) != size:
                sizes[path] = size  # still being written? look again next round
                continue
            claimed = claim_inbox_file(path)
            sizes.pop(path, None)
            rt.emit(rt.EVENT_FILE_DROPPED, resource_id=f"aied.inbox.{claimed.name}",
                    payload={"path": str(claimed)})
        stop.wait(interval if settle_seconds else 0)
        time.sleep(0)
