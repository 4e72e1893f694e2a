"""Keep Python's cyclic garbage collector from pausing a worker that holds a large state."""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

# Full collections one in 100 middle ones (Python's default: one in 10).
FULL_COLLECTION_EVERY = 100
# A young collection every this many new container objects (Python's default: 700). Scoring a batch makes
# tens of thousands of short-lived ones, nearly all freed by reference counting; at 700 the scoring path ran
# 75 us a payment, at 10,000 67 us (engine path alone, 40,000 handbook payments, this 2-core box). A young
# collection then walks at most ~10,000 objects: well under a millisecond.
YOUNG_COLLECTION_EVERY = 10_000
# How often everything frozen is walked once more, so cycles among objects that died since are freed.
THAW_EVERY_S = 600.0
# Collections at least this long are logged: they show in the latency of everything the worker does.
LOGGED_PAUSE_S = 0.05


class CollectorRelief:
    """Leaves long-lived objects out of Python's full collections, which otherwise walk the whole state.

    A fraud worker holds every customer's history and every terminal's labels: full collections walked it
    all, 200-290 ms pauses every ~5 s at 1,000 payments/s, the largest share of p99. After a full collection
    whatever is left is alive, so it is frozen (gc.freeze) and the next one walks only what is newer.
    Reference counting still frees frozen objects at once; only a cycle among them waits for the next thaw,
    every THAW_EVERY_S, which walks everything once (one long pause) and refreezes.
    """

    def __init__(self, thaw_every_s: float = THAW_EVERY_S) -> None:
        self.thaw_every_s = thaw_every_s
        self.thawed_at = time.monotonic()
        self._installed = False
        self._collection_started = 0.0

    def start(self) -> None:
        """Collect and freeze what is alive now; from then on, freeze after every full collection."""
        self.thaw()
        _, second, _ = gc.get_threshold()
        gc.set_threshold(YOUNG_COLLECTION_EVERY, second, FULL_COLLECTION_EVERY)
        if not self._installed:
            gc.callbacks.append(self._after_collection)
            self._installed = True
        log.info("%s long-lived objects left out of garbage collection", gc.get_freeze_count())

    def stop(self) -> None:
        if self._installed:
            gc.callbacks.remove(self._after_collection)
            self._installed = False

    def thaw(self) -> None:
        """Walk everything once (frees cycles among frozen objects), then freeze what is still alive."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.thawed_at = time.monotonic()

    def _after_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._collection_started = time.perf_counter()
            return
        paused = time.perf_counter() - self._collection_started
        if paused >= LOGGED_PAUSE_S:
            log.info("garbage collection of generation %s paused the worker %.0f ms (%s collected)",
                     info["generation"], paused * 1000, info["collected"])
        if info["generation"] != 2:
            return
        if time.monotonic() - self.thawed_at >= self.thaw_every_s:
            self.thawed_at = time.monotonic()
            gc.unfreeze()  # the next full collection walks everything; this one's survivors wait for it
        else:
            gc.freeze()  # a full collection just ran: everything left is alive


COLLECTOR_RELIEF = CollectorRelief()  # one per process: gc is process-wide
