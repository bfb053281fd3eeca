"""The garbage collector held off while the loader reads and parses a batch.

Reading a batch of 20,000 stream entries allocates a few hundred thousand container objects (hiredis's reply lists,
redis-py's field dicts, the parsed events) that stay alive until the batch is built. The collector runs
every 700 allocations and rescans the young survivors, and every tenth time the older ones: measured with
py-spy, a third of the loader's CPU went to rescanning objects none of which is in a cycle. Everything a
batch allocates is freed by reference counting when the batch is done, so the collector only waits.

When a pause ends, what it allocated is still alive (the batch is inserted next): re-enabled as it is, the
collector's next run would scan all of it once more. So it is frozen first (`gc.freeze`: moved where the
collector never looks; freed by reference counting as usual), and every `THAW_EVERY`th pause hands the
frozen objects back to the collector, so garbage in a reference cycle made during a pause is still
collected, later.

Pauses nest (several stream loaders of one process read at once): the collector runs again when the last
one ends.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

THAW_EVERY = 100
_holders = 0
_pauses = 0


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    global _holders, _pauses
    if _holders == 0 and not gc.isenabled():  # someone else turned it off: leave it to them
        yield
        return
    _holders += 1
    gc.disable()
    try:
        yield
    finally:
        _holders -= 1
        if _holders == 0:
            _pauses += 1
            if _pauses % THAW_EVERY == 0:
                gc.unfreeze()
            else:
                gc.freeze()
            gc.enable()
