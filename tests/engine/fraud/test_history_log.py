"""Tests of the chunked customer-history records: O(change) writes, exact replay, expiry with carried snapshots."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from engine.fraud.features import CustomerHistory, TxView
from engine.fraud.history_log import PartitionHistories, split_chunk_key
from tests.engine.fraud.test_features import DATA, read_handbook

T0 = datetime(2018, 4, 1, tzinfo=UTC)


def payment(n: int, at: datetime, customer: str = "c1", terminal: str = "t1", amount: float = 12.5) -> TxView:
    return TxView(f"tx{n}", at, customer, terminal, amount)


class Table:
    """A dict standing for the changelog-backed table: what replay sees is what was written."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.written: list[int] = []  # bytes of each write

    def write(self, records: dict[bytes, bytes | None]) -> None:
        for key, value in records.items():
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value
                self.written.append(len(key) + len(value))

    def replay(self, partition: int) -> PartitionHistories:
        chunks = [(split_chunk_key(k)[1], v) for k, v in self.data.items() if split_chunk_key(k)[0] == partition]
        return PartitionHistories.replay(partition, chunks)


def same_state(a: dict[str, CustomerHistory], b: dict[str, CustomerHistory]) -> bool:
    return {c: (h.payments, h.terminals) for c, h in a.items()} == {c: (h.payments, h.terminals) for c, h in b.items()}


def test_writes_per_payment_stay_small_for_a_long_history() -> None:
    """A customer with 10,000 past payments: the next payment's record is under 200 bytes, as for a new customer."""
    live, table = PartitionHistories(0), Table()
    for n in range(10_000):
        live.add(payment(n, T0 + timedelta(minutes=2 * n)))
    table.write(live.take_records())
    assert len(live.history("c1").payments) == 10_000
    for n in range(10_000, 10_100):  # one payment per batch, the worst case
        live.add(payment(n, T0 + timedelta(minutes=2 * n)))
        table.write(live.take_records())
    assert max(table.written[1:]) < 200, max(table.written[1:])


def test_amortised_bytes_per_payment_bounded_over_months() -> None:
    """Over 120 days (chunks expiring and histories carried forward) the bytes written per payment stay bounded."""
    live, table = PartitionHistories(0), Table()
    payments = 0
    for day in range(120):
        for n in range(50):
            live.add(payment(payments, T0 + timedelta(days=day, minutes=20 * n), customer=f"c{n % 5}"))
            payments += 1
        table.write(live.take_records())
    assert sum(table.written) / payments < 150, sum(table.written) / payments
    assert len(table.data) < 40  # expired chunks were deleted: the table holds about 33 days of chunks


def test_replay_equals_live_on_the_handbook() -> None:
    """20,000 handbook payments in batches over 4 partitions: replaying the written chunks rebuilds every history."""
    rows = read_handbook(DATA, limit=20_000)
    live = {p: PartitionHistories(p) for p in range(4)}
    table = Table()
    for start in range(0, len(rows), 137):
        touched = set()
        for row in rows[start:start + 137]:
            partition = hash(row.tx.customer_id) % 4
            live[partition].add(row.tx)
            touched.add(partition)
        for partition in touched:
            table.write(live[partition].take_records())
    for partition, histories in live.items():
        assert same_state(table.replay(partition).histories, histories.histories)


def test_replay_exact_after_expiry_with_dormant_and_late_customers() -> None:
    """Dormant customers, late payments and 150 days of chunks expiring: replay still equals the live state."""
    rng = random.Random(7)
    live, table = PartitionHistories(0), Table()
    n = 0
    for day in range(150):
        for _ in range(rng.randint(1, 30)):
            customer = f"c{rng.randint(0, 20)}" if day % 40 else "dormant"  # 'dormant' pays every 40 days
            late = timedelta(days=rng.choice([0, 0, 0, 2, 35]))  # some arrive days (or a month) late
            at = T0 + timedelta(days=day, seconds=rng.randint(0, 86_399)) - late
            amount = rng.randint(1, 9_999) / 100
            live.add(payment(n, at, customer=customer, terminal=f"t{rng.randint(0, 90)}", amount=amount))
            n += 1
        table.write(live.take_records())
        if day % 25 == 24:
            replayed = table.replay(0)
            assert same_state(replayed.histories, live.histories), day
            live = replayed  # carry on from the replayed state, as a worker does after a restart
    assert same_state(table.replay(0).histories, live.histories)
