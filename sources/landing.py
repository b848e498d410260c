"""The landing zone: raw response bodies, unchanged, with a manifest written last.

Layout: ``<data_dir>/landing/<source>/<YYYY-MM-DD>/<batch-id>/`` holding ``00000.<ext>``
bodies and ``manifest.json``. A batch without its manifest is incomplete and is never
processed; landed bodies are never rewritten.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sources.http import FetchedResponse, redact_url

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1

_EXTENSIONS = {
    "json": ".json",
    "xml": ".xml",
    "atom": ".xml",
    "html": ".html",
    "plain": ".txt",
}


class LandingError(RuntimeError):
    """A landing batch is missing, incomplete or inconsistent."""


@dataclass(frozen=True)
class LandedFile:
    """One landed body as the manifest describes it."""

    name: str
    url: str
    status: int
    sha256: str
    bytes: int
    content_type: str
    fetched_at: str
    kind: str


@dataclass
class Manifest:
    """What a complete batch holds; written last, so its presence means 'complete'."""

    batch_id: str
    source: str
    created_at: str
    completed_at: str
    files: list[LandedFile]
    params: dict[str, Any] = field(default_factory=dict)
    version: int = MANIFEST_VERSION

    @property
    def count(self) -> int:
        return len(self.files)


def new_batch_id(now: datetime | None = None) -> str:
    """A sortable, unique batch id: ``YYYYMMDDTHHMMSSZ-<8 hex>``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def _extension(content_type: str) -> str:
    lowered = content_type.lower()
    for marker, ext in _EXTENSIONS.items():
        if marker in lowered:
            return ext
    return ".bin"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class BatchWriter:
    """Writes one batch; use as a context manager so the manifest is written last.

    If the block raises, no manifest is written and the batch stays incomplete (its
    bodies remain on disk for inspection, but nothing processes them).
    """

    def __init__(self, data_dir: Path | str, source: str, *, params: dict[str, Any] | None = None,
                 batch_id: str | None = None, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        self.source = source
        self.batch_id = batch_id or new_batch_id(now)
        self.path = Path(data_dir) / "landing" / source / f"{now:%Y-%m-%d}" / self.batch_id
        self.created_at = now.isoformat()
        self.params = _redact_params(params or {})
        self.files: list[LandedFile] = []
        self.manifest: Manifest | None = None

    def __enter__(self) -> BatchWriter:
        self.path.mkdir(parents=True, exist_ok=False)
        return self

    def add(self, response: FetchedResponse) -> LandedFile:
        """Write one response body unchanged and remember it for the manifest."""
        name = f"{len(self.files):05d}{_extension(response.content_type)}"
        _write_atomic(self.path / name, response.body)
        landed = LandedFile(
            name=name, url=redact_url(response.url), status=response.status,
            sha256=response.sha256, bytes=len(response.body),
            content_type=response.content_type, fetched_at=response.fetched_at.isoformat(),
            kind=response.kind,
        )
        self.files.append(landed)
        return landed

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            return
        self.manifest = Manifest(
            batch_id=self.batch_id, source=self.source, created_at=self.created_at,
            completed_at=datetime.now(UTC).isoformat(), files=self.files, params=self.params,
        )
        data = json.dumps(asdict(self.manifest), ensure_ascii=False, indent=2).encode("utf-8")
        _write_atomic(self.path / MANIFEST_NAME, data)


def _redact_params(params: dict[str, Any]) -> dict[str, Any]:
    from sources.http import SECRET_PARAMS

    return {k: v for k, v in params.items() if k.lower() not in SECRET_PARAMS}


def read_manifest(batch_path: Path | str) -> Manifest:
    """Read a complete batch's manifest.

    Raises:
        LandingError: The batch has no manifest (incomplete) or the manifest is unreadable.
    """
    path = Path(batch_path) / MANIFEST_NAME
    if not path.exists():
        msg = f"landing batch {batch_path} is incomplete: it has no {MANIFEST_NAME}"
        raise LandingError(msg)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        files = [LandedFile(**f) for f in raw.pop("files")]
        return Manifest(files=files, **raw)
    except (json.JSONDecodeError, TypeError, KeyError) as exc:
        msg = f"landing manifest {path} is unreadable: {exc}"
        raise LandingError(msg) from exc


def iter_bodies(batch_path: Path | str, manifest: Manifest | None = None, *,
                verify: bool = True) -> Iterator[tuple[LandedFile, bytes]]:
    """Yield each landed file with its bytes, checking the sha256 recorded in the manifest.

    Raises:
        LandingError: A body is missing or its checksum differs from the manifest.
    """
    import hashlib

    batch_path = Path(batch_path)
    manifest = manifest or read_manifest(batch_path)
    for landed in manifest.files:
        try:
            body = (batch_path / landed.name).read_bytes()
        except FileNotFoundError as exc:
            msg = f"landed body {batch_path / landed.name} is missing"
            raise LandingError(msg) from exc
        if verify and hashlib.sha256(body).hexdigest() != landed.sha256:
            msg = f"landed body {batch_path / landed.name} does not match its manifest sha256"
            raise LandingError(msg)
        yield landed, body


def raw_ref(batch_path: Path | str, data_dir: Path | str, name: str,
            position: int | None = None) -> str:
    """A reference to a landed body (and a record position inside it), relative to data_dir."""
    rel = Path(batch_path).resolve().relative_to(Path(data_dir).resolve()) / name
    return f"{rel.as_posix()}#{position}" if position is not None else rel.as_posix()


def list_batches(data_dir: Path | str, source: str | None = None, *,
                 include_incomplete: bool = False) -> list[Path]:
    """Landed batch folders, oldest first (complete ones only unless asked)."""
    root = Path(data_dir) / "landing"
    pattern = f"{source}/*/*" if source else "*/*/*"
    batches = sorted(p for p in root.glob(pattern) if p.is_dir())
    if include_incomplete:
        return batches
    return [p for p in batches if (p / MANIFEST_NAME).exists()]
