"""The worker's one Prometheus registry and its /metrics page: inputs, dead letters and consumer lag per topic.

Every agent registers its own series in `worker_metrics(app).registry` (routes: agents/routes/prometheus.py,
fraud: agents/fraud/prometheus.py); install_metrics_page serves them all, whichever agents are on.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from typing import Any

import faust
from faust.sensors import Sensor
from faust.types import TP, AppT, Message
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

log = logging.getLogger(__name__)

LAG_REFRESH_S = 5.0  # consumer lag is read from offsets the consumer already has: cheap, but no need to hurry


class WorkerMetrics:
    """The registry of one app (two apps in one process never clash) and the series every worker has."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events_in = Counter("engine_input_events", "Messages taken from each input topic.", ["topic"],
                                 registry=r)
        self.dead_letters = Counter("engine_dead_letters", "Inputs sent to the dead-letter topic, by source topic.",
                                    ["topic"], registry=r)
        self.consumer_lag = Gauge("engine_consumer_lag", "Messages behind the partition's high-water mark.",
                                  ["topic", "partition"], registry=r)
        self.last_read: dict[TP, int] = {}  # offset of the last message taken per partition (the sensor's view)


_BY_APP: weakref.WeakKeyDictionary[AppT, WorkerMetrics] = weakref.WeakKeyDictionary()


def worker_metrics(app: AppT) -> WorkerMetrics:
    """The app's metrics, made on first use (agents and the page may ask in any order)."""
    metrics = _BY_APP.get(app)
    if metrics is None:
        metrics = _BY_APP[app] = WorkerMetrics()
    return metrics


class InputSensor(Sensor):
    """Counts every message a consumer takes, per topic, and keeps the last offset read per partition."""

    def __init__(self, metrics: WorkerMetrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics
        self._counted: dict[str, Counter] = {}  # topic -> its counter: labels() per message cost ~1.5 % of a worker

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        counter = self._counted.get(tp.topic)
        if counter is None:
            counter = self._counted[tp.topic] = self.metrics.events_in.labels(topic=tp.topic)
        counter.inc()
        self.metrics.last_read[tp] = offset


def refresh_lag(app: faust.App, metrics: WorkerMetrics) -> None:
    """Lag per assigned partition: the high-water mark the consumer last fetched minus what was read."""
    consumer = app.consumer
    assigned = consumer.assignment()
    committed: dict[TP, int | None] = getattr(consumer, "_committed_offset", {})  # Faust keeps it; not public
    for tp in assigned:
        try:
            highwater = consumer.highwater(tp)
        except (AssertionError, KeyError, AttributeError):  # aiokafka asserts the partition is still assigned
            continue
        read = metrics.last_read.get(tp)
        position = read + 1 if read is not None else committed.get(tp)
        if highwater is None or position is None:
            continue  # nothing fetched or read yet: unknown, not zero
        metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(max(highwater - position, 0))
    for tp in [tp for tp in metrics.last_read if tp not in assigned]:  # revoked: its lag is another worker's
        metrics.last_read.pop(tp, None)
        with contextlib.suppress(KeyError):  # never set: no high-water mark was known for it
            metrics.consumer_lag.remove(tp.topic, str(tp.partition))


def install_metrics_page(app: faust.App) -> WorkerMetrics:
    """Serve the app's registry at /metrics (Prometheus text format), count inputs and refresh lag on a timer."""
    metrics = worker_metrics(app)
    app.sensors.add(InputSensor(metrics))

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset inside content_type; the exposition format header goes in whole.
        return web.bytes(generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.timer(interval=LAG_REFRESH_S, name="consumer-lag-metrics")  # type: ignore[untyped-decorator]
    async def consumer_lag() -> None:
        try:
            refresh_lag(app, metrics)
        except Exception as error:  # a metric must never stop the worker
            log.debug("consumer lag not refreshed: %r", error)

    return metrics
