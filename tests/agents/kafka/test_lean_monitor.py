"""The worker's Faust monitor: no per-message bookkeeping, but what Faust's consumer reads back is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from faust.types import TP, Message

from agents.kafka.app import create_app
from agents.kafka.lean_monitor import LeanMonitor
from engine.settings import load_settings_with


def _message(tp: TP, offset: int) -> Message:
    return Message(tp.topic, tp.partition, offset, timestamp=0.0, timestamp_type=0, headers=None, key=b"k",
                   value=b"v", checksum=None)


async def test_the_worker_app_uses_the_lean_monitor(tmp_path: Path) -> None:
    """create_app's app builds a LeanMonitor as its main sensor (Faust's default Monitor otherwise)."""
    app = create_app(load_settings_with({"ENGINE_DATA_DIR": str(tmp_path)}))
    assert isinstance(app.monitor, LeanMonitor)


async def test_offsets_and_stream_inbound_time_are_kept_and_nothing_else_is_counted() -> None:
    """A message in, its event in and out, a table write and a send: the read offset and the partition's
    stream inbound time are recorded (Faust's consumer reads them); the per-message counters stay at zero."""
    monitor = LeanMonitor()
    tp = TP("transactions", 3)
    message = _message(tp, 41)
    stream, event, table = cast(Any, object()), cast(Any, object()), cast(Any, object())
    monitor.on_message_in(tp, 41, message)
    state = monitor.on_stream_event_in(tp, 41, stream, event)
    monitor.on_stream_event_out(tp, 41, stream, event, state)
    monitor.on_message_out(tp, 41, message)
    monitor.on_table_set(table, b"key", b"value")
    monitor.on_send_completed(cast(Any, None), monitor.on_send_initiated(cast(Any, None), "scores", cast(Any, None),
                                                                          1, 1), cast(Any, None))
    assert monitor.tp_read_offsets[tp] == 41
    assert tp in monitor.stream_inbound_time
    assert (monitor.messages_received_total, monitor.events_total, monitor.messages_sent) == (0, 0, 0)
    assert not monitor.tables and not monitor.events_runtime and not monitor.send_latency
