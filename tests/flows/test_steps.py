"""Parsing a large batch in several processes gives what parsing it body after body gives."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from bench.synthetic import generate
from flows.steps import parse_batch, split_files
from sources.landing import LandingError, read_manifest

TODAY = date(2026, 1, 20)


@pytest.fixture(scope="module")
def batches(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    data = tmp_path_factory.mktemp("parallel") / "data"
    generated = generate(data, records=4000, seed=11, today=TODAY, batch_records=4000)
    return data, generated.batches


def test_parallel_parse_equals_serial_parse(batches: tuple[Path, list[Path]],
                                            caplog: pytest.LogCaptureFixture) -> None:
    data, paths = batches
    for path in paths:
        serial = parse_batch(path, data, workers=1)
        with caplog.at_level(logging.WARNING):
            parallel = parse_batch(path, data, workers=2, parallel_min_bytes=0)
        assert serial.records.height > 0 and serial.quarantine, "the batch has bad rows"
        assert_frame_equal(parallel.records, serial.records)
        assert parallel.quarantine == serial.quarantine
        assert parallel.fetched == serial.fetched


def test_a_body_failing_its_checksum_in_a_worker_fails_the_parse(
        batches: tuple[Path, list[Path]], tmp_path: Path) -> None:
    data, paths = batches
    source = max(paths, key=lambda p: len(read_manifest(p).files))
    copy = tmp_path / "data" / source.relative_to(data)
    copy.parent.mkdir(parents=True)
    copy.mkdir()
    for item in source.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    last = read_manifest(copy).files[-1]  # parsed by the worker, not by this process
    (copy / last.name).write_bytes(b"{}")
    with pytest.raises(LandingError, match="does not match its manifest sha256"):
        parse_batch(copy, tmp_path / "data", workers=2, parallel_min_bytes=0)


def test_files_are_split_into_consecutive_runs_of_about_equal_bytes(
        batches: tuple[Path, list[Path]]) -> None:
    _, paths = batches
    files = max((read_manifest(p).files for p in paths), key=len)
    runs = split_files(files, 3)
    assert [f for run in runs for f in run] == files
    assert len(runs) == 3 and all(runs)
    sizes = [sum(f.bytes for f in run) for run in runs]
    assert max(sizes) <= 2 * min(sizes)
    assert split_files(files, 1) == [files]
    assert split_files(files[:1], 4) == [files[:1]]


def test_rows_that_cannot_become_a_frame_quarantine_their_body_only() -> None:
    from flows.steps import ParsedFiles, _frames_of
    from sources.landing import LandedFile, Manifest
    from transforms.parsing import ParsedPayload

    def landed(name: str) -> LandedFile:
        return LandedFile(name=name, url=f"http://127.0.0.1/{name}", status=200, sha256="",
                          bytes=2, content_type="application/json", fetched_at="", kind="works")

    good = ParsedPayload.from_rows([{"source": "crossref", "source_id": "1", "title": "A"}])
    also = ParsedPayload.from_rows([{"source": "crossref", "source_id": "2", "title": "B"}])
    bad = ParsedPayload.from_rows([{"source": "crossref", "source_id": "3",
                                    "authors": [{"name": {"not": "text"}}]}])
    manifest = Manifest(batch_id="b", source="crossref", created_at="", completed_at="",
                        files=[])
    out = ParsedFiles(records=None)
    pending = [(good, landed("1.json"), b"{}", "r/1.json"), (bad, landed("2.json"), b"{}",
               "r/2.json"), (also, landed("3.json"), b"{}", "r/3.json")]
    frames = _frames_of(pending, manifest, out, ())
    assert [f.get_column("source_id").to_list() for f in frames] == [["1"], ["2"]]
    assert [(q["raw_ref"], q["reason"].split(":")[0]) for q in out.quarantine] == [
        ("r/2.json", "parser crashed")]
    assert "parser crashed on r/2.json" in out.notes[0][1]


def test_a_parse_worker_that_dies_leaves_its_bodies_to_this_process(
        batches: tuple[Path, list[Path]], caplog: pytest.LogCaptureFixture) -> None:
    import os
    import signal
    import time

    from flows.steps import worker_pool

    data, paths = batches
    path = paths[0]
    serial = parse_batch(path, data, workers=1)
    pool = worker_pool(1)
    worker_pid = pool.submit(os.getpid).result(timeout=60)
    os.kill(worker_pid, signal.SIGKILL)  # as the kernel's OOM killer would
    time.sleep(0.5)
    with caplog.at_level(logging.WARNING):
        rescued = parse_batch(path, data, workers=2, parallel_min_bytes=0)
    assert_frame_equal(rescued.records, serial.records)
    assert rescued.quarantine == serial.quarantine
    assert "a parse worker died" in caplog.text
    again = parse_batch(path, data, workers=2, parallel_min_bytes=0)  # a new pool
    assert_frame_equal(again.records, serial.records)
