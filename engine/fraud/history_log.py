"""Customer histories as append-only changelog records: one chunk per input partition and batch.

A chunk holds the payments one batch added on one partition (a few dozen bytes each), so a payment costs
the same to persist whatever its customer's history. Replaying a partition's chunks in order through
`CustomerHistory.add_payment` rebuilds every history exactly. Chunks older than `CHUNK_EXPIRY` of event
time are deleted; first, each customer whose replay would start in such a chunk is carried forward as a
snapshot of its (30-day, bounded) history in the new chunk, so replay stays exact whatever is deleted.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import from_json, to_json

from engine.fraud.features import CUSTOMER_WINDOWS, CustomerHistory, TxView

SEP = "\x1f"  # unit separator: partition<US>sequence as the record key
# A chunk is deleted once the partition's event time has moved this far past its newest payment.
CHUNK_EXPIRY_S = (CUSTOMER_WINDOWS["30d"] * 1.1).total_seconds()

Event = tuple[str, float, float, str, str]  # (customer, epoch s, amount, transaction id, terminal)


def chunk_key(partition: int, seq: int) -> bytes:
    return f"{partition}{SEP}{seq:012d}".encode()


def split_chunk_key(key: bytes) -> tuple[int, int]:
    """(partition, sequence) of a chunk key."""
    partition, seq = key.decode().split(SEP)
    return int(partition), int(seq)


@dataclass
class _Chunk:
    seq: int
    newest: float  # latest event time among its payments
    based: set[str] = field(default_factory=set)  # customers whose replay starts here


class PartitionHistories:
    """The customer histories of one input partition and the chunk records that rebuild them."""

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.histories: dict[str, CustomerHistory] = {}
        self._chunks: deque[_Chunk] = deque()
        self._next_seq = 0
        self._base: dict[str, int] = {}  # customer -> sequence of the chunk its replay starts from
        self._pending: list[Event] = []  # added since the last take_records()
        self._newest = -math.inf

    def history(self, customer_id: str) -> CustomerHistory:
        """The customer's history (empty for a customer not seen)."""
        found = self.histories.get(customer_id)
        if found is None:
            found = self.histories[customer_id] = CustomerHistory()
        return found

    def add(self, tx: TxView) -> None:
        """Take tx into its customer's history and into the next chunk."""
        event = (tx.customer_id, tx.occurred_at.timestamp(), tx.amount, tx.transaction_id, tx.terminal_id)
        self._apply(event)
        self._pending.append(event)

    def take_records(self) -> dict[bytes, bytes | None]:
        """What to write after a batch: the new chunk, and tombstones (None) of chunks expired by event time."""
        if not self._pending:
            return {}
        events, self._pending = self._pending, []
        chunk = _Chunk(self._next_seq, max(event[1] for event in events))
        self._next_seq += 1
        for customer_id, *_ in events:
            if customer_id not in self._base:
                self._base[customer_id] = chunk.seq
                chunk.based.add(customer_id)
        records: dict[bytes, bytes | None] = {}
        carried: dict[str, Any] = {}
        while self._chunks and self._chunks[0].newest < self._newest - CHUNK_EXPIRY_S:
            old = self._chunks.popleft()
            for customer_id in old.based:
                if self._base.get(customer_id) == old.seq:
                    carried[customer_id] = self.histories[customer_id].snapshot()
                    self._base[customer_id] = chunk.seq
                    chunk.based.add(customer_id)
            records[chunk_key(self.partition, old.seq)] = None
        self._chunks.append(chunk)
        records[chunk_key(self.partition, chunk.seq)] = to_json({"e": events, "c": carried})
        return records

    def _apply(self, event: Event) -> None:
        customer_id, at, amount, transaction_id, terminal_id = event
        self.history(customer_id).add_payment(at, amount, transaction_id, terminal_id)
        self._newest = max(self._newest, at)

    @classmethod
    def replay(cls, partition: int, chunks: list[tuple[int, bytes]]) -> PartitionHistories:
        """The histories from a partition's chunk records (sequence, value), in any order."""
        histories = cls(partition)
        for seq, raw in sorted(chunks):
            data = from_json(raw)
            chunk = _Chunk(seq, -math.inf)
            for customer_id, at, amount, transaction_id, terminal_id in data["e"]:
                histories._apply((customer_id, at, amount, transaction_id, terminal_id))
                chunk.newest = max(chunk.newest, at)
                if customer_id not in histories._base:
                    histories._base[customer_id] = seq
                    chunk.based.add(customer_id)
            # Snapshots were taken after the chunk's payments were added: they replace what replay built.
            for customer_id, snapshot in data["c"].items():
                histories.histories[customer_id] = CustomerHistory.from_snapshot(snapshot)
                histories._base[customer_id] = seq
                chunk.based.add(customer_id)
            histories._chunks.append(chunk)
            histories._next_seq = seq + 1
        return histories
