"""DeadLetters: the one writer of rejected inputs (reason, original bytes, source position) for every agent."""

from __future__ import annotations

import logging
from collections.abc import Callable

import faust

from agents.kafka.gap_guard import InputMessage
from agents.kafka.input_transaction import send_with_input
from agents.kafka.metrics_page import worker_metrics
from schemas import DecodeError, dead_letter

log = logging.getLogger(__name__)


class DeadLetters:
    """Sends a rejected input to the dead-letter topic, with the error in a header; `counted` sees its topic."""

    def __init__(self, topic: faust.TopicT, counted: Callable[[str], None] | None = None) -> None:
        self.topic = topic
        self.counted = counted

    async def reject(self, message: InputMessage, error: DecodeError) -> None:
        record = dead_letter(error, source_topic=message.topic, value=message.value, key=message.key,
                             partition=message.partition, offset=message.offset)
        headers = {"error": str(error)[:1000].encode(), "source-topic": message.topic.encode()}
        app = self.topic.app
        if app.in_transaction:  # commits with the rejected message's offset: no repeat after a crash
            await send_with_input(app, self.topic.get_topic_name(), message.topic, message.partition, message.key,
                                  record.to_bytes(), headers)
        else:
            await self.topic.send(key=message.key, value=record.to_bytes(), headers=headers)
        worker_metrics(self.topic.app).dead_letters.labels(topic=message.topic).inc()
        if self.counted is not None:
            self.counted(message.topic)
        log.warning("dead-lettered %s[%s]@%s: %s", message.topic, message.partition, message.offset, error)
