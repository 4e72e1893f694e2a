"""The Faust app built from Settings: the consumer's fetch wait and delivery, and the collector relief."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from faust.types import TP
from mode import Service
from mode.utils.locks import Event

from agents.kafka import collector
from agents.kafka.app import EngineApp, _Consumer, _ConsumerThread, _InLoopConsumerThread, _ProducerBuffer, create_app
from agents.kafka.collector import FULL_COLLECTION_EVERY, YOUNG_COLLECTION_EVERY, CollectorRelief
from engine.settings import SettingsError, load_settings_with


async def test_worker_consumer_holds_fetches_for_the_configured_wait_and_size(tmp_path: Path) -> None:
    """The aiokafka consumer Faust builds for the worker gets fetch_max_wait_ms (not Faust's 1,500) and
    fetch_min_bytes (not aiokafka's 1) from Settings; the defaults hold a fetch 10 ms or until 16 KiB."""
    settings = load_settings_with({"ENGINE_KAFKA__FETCH_MAX_WAIT_MS": "25", "ENGINE_KAFKA__FETCH_MIN_BYTES": "4096",
                                   "ENGINE_DATA_DIR": str(tmp_path)})
    app = create_app(settings)
    assert isinstance(app, EngineApp)
    consumer = app.consumer._thread._create_worker_consumer(app.transport)  # type: ignore[attr-defined]
    assert (consumer._fetch_max_wait_ms, consumer._fetch_min_bytes) == (25, 4096)
    defaults = load_settings_with({}).kafka
    assert (defaults.fetch_max_wait_ms, defaults.fetch_min_bytes) == (10, 16_384)


async def test_worker_streams_buffer_the_configured_number_of_events(tmp_path: Path) -> None:
    """Faust's stream buffer (the point where it pauses fetching a partition) comes from Settings: 32,768 events by
    default, not Faust's 4,096; below 1,024 is refused with a message that names the setting."""
    app = create_app(load_settings_with({"ENGINE_KAFKA__STREAM_BUFFER_MAXSIZE": "8192",
                                         "ENGINE_DATA_DIR": str(tmp_path)}))
    assert app.conf.stream_buffer_maxsize == 8192
    assert create_app(load_settings_with({"ENGINE_DATA_DIR": str(tmp_path)})).conf.stream_buffer_maxsize == 32_768
    with pytest.raises(SettingsError, match="ENGINE_KAFKA__STREAM_BUFFER_MAXSIZE"):
        load_settings_with({"ENGINE_KAFKA__STREAM_BUFFER_MAXSIZE": "100"})


async def test_the_consumer_runs_in_faust_thread_unless_told_to_run_on_the_worker_loop(tmp_path: Path) -> None:
    """By default Faust's consumer keeps its own thread and loop; ENGINE_KAFKA__CONSUMER_IN_LOOP=true runs its
    calls on the worker's own loop and thread (no GIL hand-offs with a fetcher thread)."""
    threaded = create_app(load_settings_with({"ENGINE_DATA_DIR": str(tmp_path / "threaded")}))
    thread = cast(Any, threaded.consumer)._thread
    assert type(thread) is _ConsumerThread
    assert thread.thread_loop is not thread.parent_loop
    app = create_app(load_settings_with({"ENGINE_DATA_DIR": str(tmp_path), "ENGINE_KAFKA__CONSUMER_IN_LOOP": "true"}))
    in_loop = cast(Any, app.consumer)._thread
    assert type(in_loop) is _InLoopConsumerThread
    assert in_loop.thread_loop is in_loop.parent_loop is asyncio.get_running_loop()

    async def where() -> tuple[int, asyncio.AbstractEventLoop]:
        return threading.get_ident(), asyncio.get_running_loop()

    assert await in_loop.call_thread(where) == (threading.get_ident(), asyncio.get_running_loop())


async def test_a_guarded_input_commits_what_its_guard_reports_not_faust_acks(tmp_path: Path) -> None:
    """Faust commits only acks that follow its committed offset; after it dropped a fetch that the gap guard
    replayed, they never did (a partition stuck at 2,266). A guarded topic commits what its guard reports."""
    app = create_app(load_settings_with({"ENGINE_DATA_DIR": str(tmp_path)}))
    assert isinstance(app, EngineApp)
    consumer = cast(Any, app.consumer)
    guarded, plain = TP("payments", 0), TP("plain", 0)
    for tp in (guarded, plain):
        consumer._committed_offset[tp] = 2266
        consumer._acked[tp].extend([2738, 2739])
        consumer._acked_index[tp].update([2738, 2739])
    app.input_progress["payments"] = lambda partition: 2740 if partition == 0 else None
    assert consumer._new_offset(plain) is None  # Faust's own count, stuck
    assert consumer._new_offset(guarded) == 2740
    assert consumer._acked[guarded] == [] and not consumer._acked_index[guarded]  # not kept growing


async def test_a_second_resume_keeps_what_the_stream_queues_hold(tmp_path: Path) -> None:
    """Faust's recovery resumes the flow twice; the second resume emptied the events delivered since the first
    (payments that never reached the agent after a restart). Only a resume after a suspension clears now."""
    app = create_app(load_settings_with({"ENGINE_DATA_DIR": str(tmp_path)}))
    queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)
    flow = app.flow_control
    flow.suspend()
    queue.put_nowait("from the old assignment")
    flow.resume()
    assert queue.empty()
    queue.put_nowait("delivered after the first resume")
    flow.resume()
    assert queue.qsize() == 1


async def test_changelog_ends_come_from_the_broker_not_the_fetch_cache() -> None:
    """Under exactly_once Faust took each changelog's end from the consumer's cached last stable offset, None
    before a partition's first fetch, so a quickly restarted worker recovered empty tables."""
    tp = TP("fraud-customer-chunks-changelog", 0)

    class _Consumer:
        def last_stable_offset(self, partition: TP) -> None:
            return None  # nothing fetched yet

        async def end_offsets(self, partitions: list[TP]) -> dict[TP, int]:
            return dict.fromkeys(partitions, 503)

    class _Thread:
        _highwaters = _ConsumerThread._highwaters

        def _ensure_consumer(self) -> _Consumer:
            return _Consumer()

    assert await _Thread()._highwaters([tp]) == {tp: 503}  # type: ignore[arg-type]


def test_a_fetch_wait_or_size_out_of_range_is_refused() -> None:
    """0 ms would make an idle worker spin on the broker; more than Faust's 1,500 ms is never wanted; a fetch
    size under 1 byte or over a 1 MiB produce batch means nothing."""
    for wrong in ("0", "1501", "soon"):
        with pytest.raises(SettingsError, match="ENGINE_KAFKA__FETCH_MAX_WAIT_MS"):
            load_settings_with({"ENGINE_KAFKA__FETCH_MAX_WAIT_MS": wrong})
    for wrong in ("0", "1048577", "big"):
        with pytest.raises(SettingsError, match="ENGINE_KAFKA__FETCH_MIN_BYTES"):
            load_settings_with({"ENGINE_KAFKA__FETCH_MIN_BYTES": wrong})


class _Flow(Service):
    """The parts of Faust's consumer that _Consumer._deliver uses: the suspend flag and mode's wait_first."""

    _deliver = _Consumer._deliver

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = Event()
        self.races = 0

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        self.races += 1
        return await super().wait_first(*coros, timeout=timeout)


async def test_a_delivery_that_does_not_wait_runs_without_a_race() -> None:
    """While the flow runs, a delivery that finishes at once is not raced (mode's wait_first: ~37 us each)."""
    flow, delivered = _Flow(), []

    async def deliver(message: Any) -> None:
        delivered.append(message)

    await flow._deliver(deliver, "m1")
    assert delivered == ["m1"] and flow.races == 0


async def test_a_delivery_that_waits_is_let_go_when_the_flow_is_suspended() -> None:
    """A delivery stuck on a full buffer is raced as in Faust: suspending the flow (a rebalance) frees the loop."""
    flow, cancelled = _Flow(), []

    async def deliver(message: Any) -> None:
        try:
            await asyncio.Event().wait()  # the stream's buffer stays full
        except asyncio.CancelledError:
            cancelled.append(message)
            raise

    delivering = asyncio.ensure_future(flow._deliver(deliver, "m2"))
    await asyncio.sleep(0.01)
    assert not delivering.done() and flow.races == 1
    flow.suspend_flow.set()
    await asyncio.wait_for(delivering, 1.0)
    assert cancelled == ["m2"]


async def test_while_the_flow_is_suspended_every_delivery_is_raced() -> None:
    """With the flow already suspended the delivery goes through Faust's race from the start."""
    flow, delivered = _Flow(), []
    flow.suspend_flow.set()

    async def deliver(message: Any) -> None:
        delivered.append(message)

    await flow._deliver(deliver, "m3")
    assert flow.races == 1 and delivered == ["m3"]


async def test_the_worker_producer_buffer_waits_only_when_over_its_limit(tmp_path: Path) -> None:
    """The conductor's per-message check reads the queue length; past max_messages it flushes as Faust does."""
    app = create_app(load_settings_with({"ENGINE_DATA_DIR": str(tmp_path)}))
    buffer = app.producer.buffer
    assert isinstance(buffer, _ProducerBuffer) and buffer.app is app
    await asyncio.wait_for(buffer.wait_until_ebb(), 1.0)  # empty: returns at once
    flushed: list[int | None] = []

    async def flush_atmost(max_messages: int | None) -> int:
        flushed.append(max_messages)
        return 0

    buffer.flush_atmost = flush_atmost  # type: ignore[method-assign]
    for _ in range(buffer.max_messages + 1):
        buffer.pending.put_nowait(None)  # type: ignore[arg-type]
    await buffer.wait_until_ebb()
    assert flushed == [buffer.max_messages]


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
    """Objects alive at start are tracked by no generation; full collections come 10x rarer, young ones ~14x."""
    state = [[index] for index in range(10_000)]  # lists are containers the collector would walk
    relief.start()
    assert gc.get_freeze_count() >= len(state)
    tracked = tracked_ids()
    assert not any(id(item) in tracked for item in state)
    assert gc.get_threshold()[0] == YOUNG_COLLECTION_EVERY
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


def test_long_collections_are_logged_with_their_pause(relief: CollectorRelief, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A collection at least LOGGED_PAUSE_S long is logged with its generation and length; shorter ones are not."""
    relief.start()
    caplog.set_level(logging.INFO, logger="agents.kafka.collector")
    monkeypatch.setattr(collector, "LOGGED_PAUSE_S", 3600.0)
    gc.collect()
    assert not [r for r in caplog.records if "paused the worker" in r.getMessage()]
    monkeypatch.setattr(collector, "LOGGED_PAUSE_S", 0.0)
    gc.collect()
    logged = [r.getMessage() for r in caplog.records if "paused the worker" in r.getMessage()]
    assert logged and logged[-1].startswith("garbage collection of generation 2 paused the worker")
