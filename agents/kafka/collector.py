"""Keep Python's cyclic garbage collector from pausing a worker that holds a large state."""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

# Full collections one in 100 middle ones (Python's default: one in 10): each still walks every container made
# since the last freeze, ~100 ms in a fraud worker after a minute at 1,000 payments/s.
FULL_COLLECTION_EVERY = 100


def freeze_long_lived_state() -> None:
    """Collect once, then leave everything alive now out of later collections (gc.freeze).

    A fraud worker holds every customer's history and every terminal's labels. Python's full collections
    walked all of it: 200-290 ms pauses every ~5 s at 1,000 payments/s, the largest share of p99. State
    read at start, or replayed after a rebalance, lives as long as the worker, so it need not be walked.
    Reference counting still frees frozen objects; only cycles among them would wait for the worker to stop.
    """
    gc.collect()
    gc.freeze()
    first, second, _ = gc.get_threshold()
    gc.set_threshold(first, second, FULL_COLLECTION_EVERY)
    log.info("%s long-lived objects left out of garbage collection", gc.get_freeze_count())
