"""Writing a Faust table entry with its changelog on a given partition (for code outside a single event)."""

from __future__ import annotations

from faust.types import TableT


def write_on_partition(table: TableT[bytes, bytes], partition: int, key: bytes, value: bytes) -> None:
    """table[key] = value, its changelog record on `partition`.

    `table[key] = value` takes the partition from the stream's current event, which a batch of events
    (Stream.take_events) does not have; the input partition of the key is what recovery must see.
    """
    table.data[key] = value
    table.send_changelog(partition, key, value)


def delete_on_partition(table: TableT[bytes, bytes], partition: int, key: bytes) -> None:
    """del table[key], its tombstone on `partition` (a None value: compaction drops the key)."""
    table.data.pop(key, None)
    table.send_changelog(partition, key, None, value_serializer="raw")
