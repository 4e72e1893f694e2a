"""The Faust app built from Settings: the consumer's fetch wait, and the collector relief for large states."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.kafka.app import EngineApp, create_app
from agents.kafka.collector import FULL_COLLECTION_EVERY, CollectorRelief
from engine.settings import SettingsError, load_settings_with


async def test_worker_consumer_holds_fetches_for_the_configured_wait(tmp_path: Path) -> None:
    """The aiokafka consumer Faust builds for the worker gets fetch_max_wait_ms from Settings, not Faust's 1,500."""
    settings = load_settings_with({"ENGINE_KAFKA__FETCH_MAX_WAIT_MS": "25", "ENGINE_DATA_DIR": str(tmp_path)})
    app = create_app(settings)
    assert isinstance(app, EngineApp)
    consumer = app.consumer._thread._create_worker_consumer(app.transport)  # type: ignore[attr-defined]
    assert consumer._fetch_max_wait_ms == 25
    assert load_settings_with({}).kafka.fetch_max_wait_ms == 10  # the default


def test_a_fetch_wait_out_of_range_is_refused() -> None:
    """0 ms would make an idle worker spin on the broker; more than Faust's 1,500 ms is never wanted."""
    for wrong in ("0", "1501", "soon"):
        with pytest.raises(SettingsError, match="ENGINE_KAFKA__FETCH_MAX_WAIT_MS"):
            load_settings_with({"ENGINE_KAFKA__FETCH_MAX_WAIT_MS": wrong})


@pytest.fixture
def relief() -> Iterator[CollectorRelief]:
    thresholds = gc.get_threshold()
    made = CollectorRelief(thaw_every_s=3600)
    yield made
    made.stop()
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def tracked_ids() -> set[int]:
    return {id(obj) for generation in range(3) for obj in gc.get_objects(generation)}


def test_long_lived_state_is_left_out_of_collections(relief: CollectorRelief) -> None:
    """Objects alive at start are tracked by no generation; full collections come 10x rarer."""
    state = [[index] for index in range(10_000)]  # lists are containers the collector would walk
    relief.start()
    assert gc.get_freeze_count() >= len(state)
    tracked = tracked_ids()
    assert not any(id(item) in tracked for item in state)
    assert gc.get_threshold()[2] == FULL_COLLECTION_EVERY


def test_survivors_of_a_full_collection_are_frozen_and_a_thaw_frees_frozen_cycles(relief: CollectorRelief) -> None:
    """After each full collection its survivors are frozen; a due thaw lets the next one walk and free cycles."""
    relief.start()
    later = [[index] for index in range(1_000)]
    gc.collect()  # a full collection: the callback freezes its survivors
    tracked = tracked_ids()
    assert not any(id(item) in tracked for item in later)

    node = _Node()
    watched = weakref.ref(node)
    gc.collect()  # frozen while still referenced
    del node
    gc.collect()
    assert watched() is not None  # a frozen cycle waits for the thaw
    relief.thaw_every_s = 0.0
    gc.collect()  # the thaw is due: unfrozen, so the next full collection walks everything
    relief.thaw_every_s = 3600.0
    gc.collect()
    assert watched() is None
    assert gc.get_freeze_count() > 0  # and what is left is frozen again


class _Node:
    """An object in a reference cycle with itself: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self
