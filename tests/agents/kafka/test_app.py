"""The Faust app built from Settings: the consumer's fetch wait, and the collector relief for large states."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.kafka.app import EngineApp, create_app
from agents.kafka.collector import FULL_COLLECTION_EVERY, freeze_long_lived_state
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
def collector_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collector_restored")
def test_long_lived_state_is_left_out_of_collections() -> None:
    """Objects alive at the freeze are no longer tracked by any generation; full collections come 10x rarer."""
    state = [[index] for index in range(10_000)]  # lists are containers the collector would walk
    freeze_long_lived_state()
    assert gc.get_freeze_count() >= len(state)
    tracked = {id(obj) for generation in range(3) for obj in gc.get_objects(generation)}
    assert not any(id(item) in tracked for item in state)
    assert gc.get_threshold()[2] == FULL_COLLECTION_EVERY
    fresh = [0]
    gc.collect(0)
    assert any(obj is fresh for obj in gc.get_objects(1))  # objects made later are collected as usual
