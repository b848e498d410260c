"""Run-time knobs that make the pure steps fast without changing what they compute."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a block that allocates millions of objects.

    Decoding, parsing and loading a batch create and keep alive millions of dicts, lists and
    tuples; the collector would walk them again and again (it made JSON decoding 3-5x
    slower). Reference counting still frees everything as usual; only reference cycles wait
    for the next collection after the block. Nested use is fine: the collector is turned
    back on only by the block that turned it off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
