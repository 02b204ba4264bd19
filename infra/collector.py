"""How the program tunes Python's garbage collector for a run of the Pulumi SDK."""

from __future__ import annotations

import gc

# Full collections after this many middle-generation ones (Python's default is 10).
FULL_COLLECTION_THRESHOLD = 10_000


def collect_old_objects_rarely() -> None:
    """Keep the young generations' thresholds; make full collections rare.

    The SDK keeps every resource's objects (outputs, futures, inputs) alive until the run
    ends, so each full collection rescans an ever larger heap and finds almost nothing:
    at 1,000 tasks they took 8.4 s of a 22 s run and freed 3,583 objects, while young
    collections freed the 1.3 million short-lived cycles the SDK makes
    (benchmarks/README.md). https://docs.python.org/3/library/gc.html#gc.set_threshold
    """
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_THRESHOLD)
