"""A bare Faust agent that copies a topic (consume, then send with the app's producer): the Faust ceiling.

Run by `engine bench fraud` as `python -m benchmarks.faust_baseline worker` with the topic,
the message count and a result file in the environment; it writes messages per second there and exits.
With a count of 0 it copies until it is killed: the bench then times each message from its produce to its
copy being readable (the latency any Faust agent has on this machine at that rate).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import faust

TOPIC = os.environ.get("BASELINE_TOPIC", "transactions")
COUNT = int(os.environ.get("BASELINE_COUNT", "10000"))
RESULT = Path(os.environ.get("BASELINE_RESULT", "baseline.json"))

app = faust.App(f"faust-baseline-{uuid.uuid4().hex[:6]}", broker=os.environ.get("BASELINE_BROKER", "kafka://127.0.0.1:9092"),
                store="memory://", web_enabled=False,
                # Faust makes a data folder even for memory tables: keep it out of the working tree.
                datadir=tempfile.mkdtemp(prefix="faust-baseline-"),
                consumer_auto_offset_reset="earliest", autodiscover=False,
                # The worker command starts a web server anyway: loopback only, on a port the caller chose free.
                web_bind="127.0.0.1", web_host="127.0.0.1", web_port=int(os.environ.get("BASELINE_WEB_PORT", "0")),
                producer_max_batch_size=1_048_576, producer_linger=0.002)
source = app.topic(TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


@app.agent(source)
async def copy(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
    seen, started = 0, None
    async for events in stream.take_events(500, within=0.005):  # type: ignore[attr-defined]
        started = started or time.perf_counter()
        for event in events:
            await app.producer.send(f"{TOPIC}-faust-copy", event.message.key, event.message.value, None, None, None)
        seen += len(events)
        if COUNT and seen >= COUNT:
            await app.producer.flush()
            RESULT.write_text(json.dumps({"messages": seen, "tx_s": seen / (time.perf_counter() - started)}))
            os._exit(0)  # the measurement is written; skip Faust's slow shutdown
        yield None


if __name__ == "__main__":
    app.main()
