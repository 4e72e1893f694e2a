"""Writing a Faust table entry with its changelog on a given partition (for code outside a single event)."""

from __future__ import annotations

import asyncio

from faust.types import TableT
from faust.types.tuples import FutureMessage

# Changelog records sent under exactly_once and not yet handed to the transactional producer (one app per process).
_unsettled: list[FutureMessage] = []


def write_on_partition(table: TableT[bytes, bytes], partition: int, key: bytes, value: bytes) -> None:
    """table[key] = value, its changelog record on `partition`.

    `table[key] = value` takes the partition from the stream's current event, which a batch of events
    (Stream.take_events) does not have; the input partition of the key is what recovery must see.
    """
    table.data[key] = value
    _track(table, table.send_changelog(partition, key, value))


def delete_on_partition(table: TableT[bytes, bytes], partition: int, key: bytes) -> None:
    """del table[key], its tombstone on `partition` (a None value: compaction drops the key)."""
    table.data.pop(key, None)
    _track(table, table.send_changelog(partition, key, None, value_serializer="raw"))


def _track(table: TableT[bytes, bytes], sent: FutureMessage) -> None:
    if table.app.in_transaction:
        _unsettled.append(sent)


async def settle_changelog_writes() -> None:
    """Under exactly_once, wait until every changelog record written so far is delivered, before the batch's
    offsets can be committed.

    Faust buffers table writes. A record still buffered when Faust commits the batch's offsets joins the next
    transaction, which a crash aborts. The table then comes back behind its committed offsets, and the gap guard
    replays payments whose scores were already committed. Measured before this: 971 to 2,616 repeats of 3,000.
    """
    while _unsettled:
        pending = list(_unsettled)
        _unsettled.clear()
        await asyncio.gather(*pending)
