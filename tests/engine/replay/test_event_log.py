"""Tests of the event log file: exact round trip, and truncation detected with the last good record."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.replay.event_log import (
    FRAME_RECORDS,
    EventLogReader,
    EventLogWriter,
    LogRecord,
    PartitionMerge,
    TruncatedLogError,
    read_header,
    time_ordered,
)

records_strategy = st.lists(st.builds(
    LogRecord,
    topic=st.text(min_size=1, max_size=20),
    partition=st.integers(0, 2**31 - 1),
    offset=st.integers(0, 2**62),
    timestamp_ms=st.integers(-(2**62), 2**62),
    key=st.one_of(st.none(), st.binary(max_size=50)),
    value=st.one_of(st.none(), st.binary(max_size=300)),
    headers=st.lists(st.tuples(st.text(max_size=10), st.binary(max_size=20)), max_size=3).map(tuple),
), max_size=40)


def write(path: Path, records: list[LogRecord]) -> None:
    with EventLogWriter(path, {"topics": ["orders"]}) as writer:
        for record in records:
            writer.append(record)


def sample(n: int) -> list[LogRecord]:
    return [LogRecord("orders", i % 3, i, 1_000 + i, None if i % 5 == 0 else f"k{i % 7}".encode(),
                      None if i % 11 == 0 else b"v" * (i % 50), (("trace", b"x"),) if i % 2 else ())
            for i in range(n)]


@settings(max_examples=50, deadline=None)
@given(records=records_strategy)
def test_any_records_round_trip(tmp_path_factory: pytest.TempPathFactory, records: list[LogRecord]) -> None:
    """Every field, null keys/values, empty bytes and headers come back exactly, in order."""
    path = tmp_path_factory.mktemp("log") / "any.log.zst"
    write(path, records)
    assert list(EventLogReader(path)) == records


def test_header_is_kept(tmp_path: Path) -> None:
    """The header written at the start is read back with the format version."""
    path = tmp_path / "h.log.zst"
    write(path, sample(3))
    assert read_header(path) == {"topics": ["orders"], "version": 1}


@pytest.mark.parametrize("cut_from_end", [1, 9, 5_000])
def test_truncated_log_reports_last_good_record(tmp_path: Path, cut_from_end: int) -> None:
    """A log cut short (an interrupted recording) raises with the count and position of the last good record."""
    path = tmp_path / "cut.log.zst"
    records = sample(3 * FRAME_RECORDS + 17)
    write(path, records)
    data = path.read_bytes()
    path.write_bytes(data[:-cut_from_end])
    reader = EventLogReader(path)
    read: list[LogRecord] = []
    with pytest.raises(TruncatedLogError) as caught:
        read.extend(reader)
    error = caught.value
    assert error.good_records == len(read) and 0 < len(read) < len(records)
    assert read == records[:len(read)] and error.last_good == records[len(read) - 1]
    assert f"@{error.last_good.offset}" in str(error)


def test_lenient_reader_keeps_what_was_recorded(tmp_path: Path) -> None:
    """strict=False yields every complete record of an interrupted log and keeps the reason."""
    path = tmp_path / "cut.log.zst"
    records = sample(2 * FRAME_RECORDS + 5)
    writer = EventLogWriter(path)
    for record in records:
        writer.append(record)
    writer.flush()  # what a recorder does every second; then it is killed (no close, no end marker)
    reader = EventLogReader(path, strict=False)
    assert list(reader) == records
    assert reader.truncation is not None and "interrupted" in reader.truncation.reason


def test_flipped_byte_is_caught(tmp_path: Path) -> None:
    """Corruption inside the compressed data is reported, not read as a different record."""
    path = tmp_path / "bad.log.zst"
    write(path, sample(50))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(TruncatedLogError):
        list(EventLogReader(path))


def test_other_file_is_not_a_log(tmp_path: Path) -> None:
    """A file that is not an event log is refused with a clear message."""
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not an event log"):
        list(EventLogReader(path))


def rec(topic: str, partition: int, offset: int, ts: int) -> LogRecord:
    return LogRecord(topic, partition, offset, ts, None, None)


def test_time_ordered_merges_blocks_and_keeps_each_partition_in_order() -> None:
    """A log written partition by partition comes out by timestamp across topics, each partition's order kept,
    equal timestamps in file order; with no lookahead it is the file order."""
    log = [rec("vehicles", 0, 0, 10), rec("vehicles", 0, 1, 30), rec("vehicles", 0, 2, 25),
           rec("orders", 1, 0, 5), rec("orders", 1, 1, 20), rec("orders", 0, 0, 30), rec("decisions", 0, 0, 10)]
    merged = list(time_ordered(log, lookahead=100))
    assert [(r.topic, r.partition, r.offset) for r in merged] == [
        ("orders", 1, 0), ("vehicles", 0, 0), ("decisions", 0, 0), ("orders", 1, 1), ("vehicles", 0, 1),
        ("vehicles", 0, 2), ("orders", 0, 0)]
    assert list(time_ordered(log, lookahead=0)) == log


partitions_strategy = st.lists(  # per partition: the timestamps in partition order (not necessarily sorted)
    st.lists(st.integers(0, 50), min_size=0, max_size=15), min_size=1, max_size=5)


def blocks(partitions: list[list[int]]) -> list[LogRecord]:
    return [rec(f"t{p % 2}", p, offset, ts) for p, stamps in enumerate(partitions) for offset, ts in
            enumerate(stamps)]


def per_partition(records: list[LogRecord]) -> dict[tuple[str, int], list[int]]:
    out: dict[tuple[str, int], list[int]] = {}
    for r in records:
        out.setdefault((r.topic, r.partition), []).append(r.offset)
    return out


@settings(max_examples=100, deadline=None)
@given(partitions=partitions_strategy, lookahead=st.integers(0, 30))
def test_time_ordered_is_a_deterministic_merge(partitions: list[list[int]], lookahead: int) -> None:
    """Whatever the lookahead: every record once, each partition's order untouched, the same output every time;
    a log already in time order comes out unchanged."""
    log = blocks(partitions)
    merged = list(time_ordered(log, lookahead))
    assert sorted(merged, key=lambda r: (r.partition, r.offset)) == sorted(log, key=lambda r: (r.partition, r.offset))
    assert per_partition(merged) == per_partition(log)
    assert merged == list(time_ordered(log, lookahead))
    in_time = sorted(log, key=lambda r: r.timestamp_ms)
    assert list(time_ordered(in_time, lookahead)) == in_time


@settings(max_examples=100, deadline=None)
@given(partitions=partitions_strategy, chunk=st.integers(1, 4), arrival=st.randoms(use_true_random=False))
def test_partition_merge_writes_what_time_ordered_reads_back(partitions: list[list[int]], chunk: int,
                                                             arrival: random.Random) -> None:
    """The recorder's merge: reads coming back in any order and size give the same output, each partition's order
    kept, sorted by time when every partition is; reading that output merged changes nothing (any lookahead)."""
    log = blocks(partitions)

    def record_with(rng: random.Random | None) -> list[LogRecord]:
        pending = {slot: [r for r in log if (r.topic, r.partition) == slot] for slot in per_partition(log)}
        merge, written = PartitionMerge(), list[LogRecord]()
        while pending:
            hungry = [slot for slot in pending if not merge.waiting(slot)]
            for slot in (rng.sample(hungry, rng.randint(1, len(hungry))) if rng and hungry else hungry):
                for item in pending[slot][:chunk]:
                    merge.add(item)
                pending[slot] = pending[slot][chunk:]
                if not pending[slot]:
                    del pending[slot]
            written.extend(merge.ready(set(pending)))
        written.extend(merge.drain())
        return written

    written = record_with(arrival)
    assert written == record_with(None)
    assert per_partition(written) == per_partition(log) and len(written) == len(log)
    if all(stamps == sorted(stamps) for stamps in partitions):
        assert [r.timestamp_ms for r in written] == sorted(r.timestamp_ms for r in log)
    for lookahead in (0, 1, 7, 1000):
        assert list(time_ordered(written, lookahead)) == written
