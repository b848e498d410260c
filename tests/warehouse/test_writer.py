"""The background writer runs calls in order and never loses a failure."""

from __future__ import annotations

import threading

import pytest

from warehouse.writer import BackgroundWriter, WritesAbortedError, background_writes


class WriteFailedError(RuntimeError):
    pass


def test_calls_run_in_order_on_one_other_thread() -> None:
    seen: list[tuple[int, str]] = []
    with background_writes() as writer:
        for number in range(50):
            writer.submit(lambda n: seen.append((n, threading.current_thread().name)), number)
    assert [n for n, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"aied-load-writer"}


def test_a_failure_is_raised_by_drain_and_later_calls_are_skipped() -> None:
    seen: list[int] = []

    def fail() -> None:
        raise WriteFailedError("disk full")

    with pytest.raises(WriteFailedError, match="disk full"), background_writes() as writer:
        writer.submit(seen.append, 1)
        writer.submit(fail)
        writer.submit(seen.append, 2)
    assert seen == [1]


def test_a_failure_is_raised_by_drain_and_again_by_the_next_submit() -> None:
    writer = BackgroundWriter()

    def fail() -> None:
        raise WriteFailedError("constraint")

    try:
        writer.submit(fail)
        with pytest.raises(WriteFailedError, match="constraint"):
            writer.drain()
        with pytest.raises(WriteFailedError, match="constraint"):
            writer.submit(print, "never")
    finally:
        writer.stop()


def test_an_error_in_the_block_skips_queued_calls_and_stops_the_thread() -> None:
    seen: list[int] = []
    started, gate = threading.Event(), threading.Event()
    opener = threading.Timer(0.2, gate.set)  # releases the running call once the block failed

    def hold() -> None:
        started.set()
        gate.wait(5)

    with pytest.raises(KeyError), background_writes() as writer:
        writer.submit(hold)
        writer.submit(seen.append, 1)
        assert started.wait(5)  # the first call is running, the second is still queued
        opener.start()
        raise KeyError("caller failed")
    assert gate.is_set()  # the block's exit waited for the running call
    assert seen == []
    assert not writer._thread.is_alive()


def test_abort_marks_the_writer_failed() -> None:
    writer = BackgroundWriter()
    try:
        writer.abort()
        with pytest.raises(WritesAbortedError):
            writer.submit(print, "never")
    finally:
        writer.stop()
