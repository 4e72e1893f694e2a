"""The Faust app, configured from Settings (broker, security, guarantees, state folder)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, cast

import aiokafka
import faust
from aiokafka.helpers import create_ssl_context
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer
from faust.types import TP, Message, TransportT
from mode import Service, ServiceT
from mode.utils.futures import maybe_async
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from agents.kafka.eager import start_eagerly
from agents.kafka.lean_monitor import LeanMonitor
from engine.settings import Settings


def broker_credentials(settings: Settings) -> Any:
    """Faust credentials for the configured security protocol (None for PLAINTEXT)."""
    kafka = settings.kafka
    ssl_context = None
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        ssl_context = create_ssl_context(
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None,
            certfile=str(kafka.ssl_certfile) if kafka.ssl_certfile else None,
            keyfile=str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None,
        )
    if kafka.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
            mechanism=kafka.sasl_mechanism,
            ssl_context=ssl_context,
        )
    if ssl_context is not None:
        return faust.SSLCredentials(ssl_context)
    return None


_YIELD_EVERY = 100  # deliveries between turns of the event loop, as in Faust

InputProgress = Callable[[int], int | None]  # partition -> the offset to commit next (None: nothing new)


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, holding fetches for the app's fetch_max_wait_ms (and fetch_min_bytes) instead of a
    fixed 1,500 ms."""

    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        for kept in ("_fetch_max_wait_ms", "_fetch_min_bytes"):  # read by AIOKafkaConsumer.start() (aiokafka 0.14)
            if not hasattr(consumer, kept):
                raise RuntimeError(f"this aiokafka keeps no {kept}; the fetch wait and size cannot be set")
        if isinstance(self.app, EngineApp):
            consumer._fetch_max_wait_ms = self.app.fetch_max_wait_ms
            consumer._fetch_min_bytes = self.app.fetch_min_bytes
        return consumer

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        """Where each changelog ends, asked of the broker (read_committed: its last stable offset).

        Under exactly_once Faust read the last stable offset the consumer had cached from a fetch, which is
        None before the first fetch of a partition: a worker restarted quickly saw every changelog as empty
        and recovered no table, then scored every payment again from the log start (10,266 repeats of 20,000
        in one `bench chaos --guarantee exactly_once` round; most likely also the 288 and 1,157 repeats of 3,000
        that fresh-clone CI runs showed after fast restarts).
        """
        consumer = self._ensure_consumer()
        return cast(Mapping[TP, int], await consumer.end_offsets(partitions))


class _InLoopConsumerThread(_ConsumerThread):
    """Faust's consumer "thread" run as a service on the worker's own event loop, without a thread.

    With a thread, the fetcher's Python (request building, record parsing) and the agents took turns on the GIL:
    after each socket call the event loop waited up to the 5 ms switch interval to get it back from the fetcher.
    """

    wait_for_shutdown = False  # no thread to set it

    def __init__(self, *args: Any, loop: asyncio.AbstractEventLoop, **kwargs: Any) -> None:
        super().__init__(*args, loop=loop, thread_loop=loop, **kwargs)
        self._close_thread_loop_on_stop = False  # the worker's loop

    async def start(self) -> None:
        self._thread_started.set()
        await self._default_start()
        await self.on_thread_started()

    async def stop(self) -> None:
        if self._started.is_set():
            await Service.stop(self)

    async def on_stop(self) -> None:
        await self.on_thread_stop()

    async def _stop_children(self) -> None:
        await self._default_stop_children()

    async def _stop_futures(self) -> None:
        await self._default_stop_futures()

    async def _stop_exit_stacks(self) -> None:
        await self._default_stop_exit_stacks()

    def _stopped_set(self) -> None:
        self._stopped.set()

    async def call_thread(self, fun: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        return await maybe_async(fun(*args, **kwargs))


class _Consumer(faust_aiokafka.Consumer):
    """Faust's consumer with its thread's fetch wait set, and a drain loop that delivers without a race per message."""

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        app = self.transport.app
        if isinstance(app, EngineApp) and app.consumer_in_loop:
            return _InLoopConsumerThread(self, loop=self.loop, beacon=self.beacon)
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Faust 0.15's drain loop, except that a delivery is first run in this task (start_eagerly).

        Faust raced every delivery against the flow being suspended (a rebalance) with mode's wait_first,
        ~37 us a message. A delivery that finishes without waiting needs no race; one that waits (a full
        stream buffer, flow control) gets Faust's race for the rest of it, so a rebalance still frees the loop.
        """
        callback = self.callback
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                messages = self.getmany(timeout=1.0)
                await self.sleep(0)  # getmany may return at once, over and over
                if not self.should_stop:
                    async for tp, message in messages:
                        since_yield += 1
                        if since_yield > _YIELD_EVERY:  # let the streams take what was delivered
                            await asyncio.sleep(0)
                            since_yield = 0
                        offset = message.offset
                        read_offset = get_read_offset(tp)
                        if read_offset is not None and offset < read_offset:
                            continue  # fetched again after a seek: already delivered
                        await self._before_delivery(message, read_offset)
                        await self._deliver(callback, message)
                        set_read_offset(tp, offset)
                    self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit for tp; for an input a GapGuard follows, the one after what it saw handled and stored.

        Faust commits the run of acknowledged offsets that follows its committed one. After a restart it can drop
        about a fetch of a partition's messages unacknowledged; the guard replays them, and the run never joined
        again: a partition's commit stayed at offset 2,266 while scoring went on, and under exactly_once its
        transaction never closed, so 2,843 scores never became visible (`bench chaos --guarantee exactly_once`).
        """
        progress = cast(EngineApp, self.app).input_progress.get(tp.topic)
        if progress is None:
            return super()._new_offset(tp)
        self._acked[tp].clear()  # Faust's own count is not used for this input: keep it from growing
        self._acked_index[tp].clear()
        self._gap[tp].clear()
        return progress(tp.partition)

    async def _before_delivery(self, message: Message, read_offset: int | None) -> None:
        """Faust's steps before a delivery: note offsets the log skipped, commit every N acks if set."""
        if read_offset and message.offset - read_offset > 1 and self.app.topics.acks_enabled_for(message.topic):
            await self._add_gap(message.tp, read_offset + 1, message.offset)
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()

    async def _deliver(self, callback: Callable[[Message], Awaitable[None]], message: Message) -> None:
        """Hand the message to the streams; only a delivery that has to wait is raced against a suspended flow."""
        flow_suspended = self.suspend_flow
        if flow_suspended.is_set():
            await self.wait_first(callback(message), flow_suspended.wait())
            return
        delivery = start_eagerly(cast(Coroutine[Any, Any, None], callback(message)))
        if not delivery.done():
            await self.wait_first(delivery, flow_suspended.wait())


class _ProducerBuffer(ProducerBuffer):
    """Faust's buffer of table writes, whose per-message check reads the queue's length directly.

    The conductor asks it before every delivery; Faust's `size` looked up a setting each time (~1.5 % of a
    worker at 3,000 messages/s).
    """

    async def wait_until_ebb(self) -> None:
        if self.pending.qsize() > self.max_messages:
            await super().wait_until_ebb()


class _Producer(faust_aiokafka.Producer):
    def __init__(self, transport: TransportT, **kwargs: Any) -> None:
        super().__init__(transport, **kwargs)
        if not self.app.conf.producer_threaded:  # a threaded producer keeps its own queue
            self.buffer = _ProducerBuffer(loop=self.loop, beacon=self.beacon)
            self.buffer.app = self.app


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer
    Producer = _Producer


class _StreamFlowControl(FlowControlEvent):
    """Faust's flow control of the stream queues, except that a resume clears them only if it was suspended.

    Faust's recovery resumes it twice: when it starts reading the changelogs, and again after the stream
    partitions are resumed and sought to their committed offsets. Events delivered in between belong to the
    new assignment, but the second resume emptied them out of the stream queues, and nothing fetched them
    again: after a restart 650 to 1,440 payments a partition never reached the agent (the gap guard replayed
    them), or a partition's whole tail sat unread until the guard's audit 15 to 30 s later (measured, `bench
    chaos --scenarios payment_kills`).
    """

    def resume(self) -> None:
        suspended = not self.is_active()
        self._suspend.clear()
        self._resume.set()
        if suspended:
            self.clear()


class EngineApp(faust.App):
    """faust.App whose consumer holds fetches for Settings.kafka.fetch_max_wait_ms at most (or until
    fetch_min_bytes have arrived), and commits the offsets its GapGuards report for their inputs
    (`input_progress`, by topic)."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int, fetch_min_bytes: int, consumer_in_loop: bool,
                 **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms  # before Faust's own set-up, which may build the transport
        self.fetch_min_bytes = fetch_min_bytes
        self.consumer_in_loop = consumer_in_loop
        self.input_progress: dict[str, InputProgress] = {}
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        return _Transport(self.conf.broker_consumer, self)

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        """Flow control of the stream queues (cleared on resume only after a suspension)."""
        return _StreamFlowControl(loop=self.loop)


def create_app(settings: Settings) -> faust.App:
    """A Faust app whose tables live in memory and are rebuilt from their Kafka changelogs."""
    return EngineApp(
        settings.app_id,
        broker=settings.kafka.faust_broker,
        broker_credentials=broker_credentials(settings),
        store="memory://",
        topic_partitions=settings.topics.partitions,
        topic_replication_factor=1 if len(settings.kafka.bootstrap_servers) == 1 else 3,
        processing_guarantee=settings.processing_guarantee,
        # Each worker iterates only the fleets it owns; standby copies would be counted twice.
        table_standby_replicas=0,
        web_port=settings.worker_web_port,
        web_host="127.0.0.1",
        web_bind="127.0.0.1",
        datadir=str(settings.data_dir),
        consumer_auto_offset_reset="earliest",
        # Faust commits inline in its fetch loop every N acks, after flushing the producer: at 100 the stream
        # stalled for a flush and a commit round trip every batch (the fraud worker idled 39% of the time
        # with a backlog). Commits now come from the 1 s timer below, off the fetch loop, as Faust's default.
        broker_commit_every=10_000,
        # Scores are ~1 KB: aiokafka's default 16 KB batches meant a produce request per dozen messages.
        producer_max_batch_size=1_048_576,
        producer_linger=0.002,
        broker_commit_interval=1.0,
        stream_buffer_maxsize=settings.kafka.stream_buffer_maxsize,
        broker_session_timeout=settings.kafka.session_timeout_s,
        broker_heartbeat_interval=settings.kafka.heartbeat_interval_s,
        stream_wait_empty=True,
        Monitor=LeanMonitor,  # Faust's stats page is not served: its per-message bookkeeping is skipped
        autodiscover=False,
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        fetch_min_bytes=settings.kafka.fetch_min_bytes,
        consumer_in_loop=settings.kafka.consumer_in_loop,
    )
