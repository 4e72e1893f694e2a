"""EventLog: Kafka records in a zstd-compressed file that survives being cut off mid-write.

Layout: a magic line and a JSON header, then records, each framed as
``<u32 length><payload><u32 crc32(payload)>``, then an end marker (length 0xFFFFFFFF and the record
count). The compressed stream is made of independent zstd frames closed every `FRAME_RECORDS` records,
on `flush()` and on close, so a recording killed mid-write loses at most its last open frame. The
reader raises `TruncatedLogError`, naming the last good record, when a record is incomplete, fails its
checksum, or the end marker is missing.

Order: a log may hold its topic-partitions block by block (older recordings) or merged; `time_ordered` is the
one order every consumer of a log reads it in (replay and backtest alike), and `PartitionMerge` is how the
recorder writes partitions read side by side already merged, so that reading a recording changes nothing.
"""

from __future__ import annotations

import heapq
import io
import json
import struct
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self

import zstandard

MAGIC = b"DECISION-ENGINE-EVENT-LOG\n"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
END_MARK = 0xFFFFFFFF
VERSION = 1
FRAME_RECORDS = 1000
_FRAME = struct.Struct(">I")
_FIXED = struct.Struct(">iqqH")  # partition, offset, timestamp ms, number of headers
LOOKAHEAD = 20_000  # records time_ordered holds at most: memory stays bounded whatever the log's size

Slot = tuple[str, int]  # (topic, partition)


@dataclass(frozen=True)
class LogRecord:
    """One Kafka record as it was read: where it came from, when, and its exact bytes."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = field(default_factory=tuple)

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        _put(out, self.topic.encode())
        out.write(_FIXED.pack(self.partition, self.offset, self.timestamp_ms, len(self.headers)))
        _put(out, self.key)
        _put(out, self.value)
        for name, value in self.headers:
            _put(out, name.encode())
            _put(out, value)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> LogRecord:
        view = memoryview(raw)
        topic, at = _get(view, 0)
        partition, offset, timestamp_ms, header_count = _FIXED.unpack_from(view, at)
        at += _FIXED.size
        key, at = _get(view, at)
        value, at = _get(view, at)
        headers = []
        for _ in range(header_count):
            name, at = _get(view, at)
            header_value, at = _get(view, at)
            headers.append(((name or b"").decode(), header_value or b""))
        if at != len(view):
            raise ValueError(f"{len(view) - at} stray bytes after the record")
        return cls((topic or b"").decode(), partition, offset, timestamp_ms, key, value, tuple(headers))


def _put(out: io.BytesIO, data: bytes | None) -> None:
    # -1 marks None (a Kafka null key or tombstone value), distinct from empty bytes.
    if data is None:
        out.write(struct.pack(">i", -1))
    else:
        out.write(struct.pack(">i", len(data)))
        out.write(data)


def _get(view: memoryview, at: int) -> tuple[bytes | None, int]:
    (length,) = struct.unpack_from(">i", view, at)
    at += 4
    if length < 0:
        return None, at
    if at + length > len(view):
        raise ValueError("field runs past the end of the record")
    return bytes(view[at:at + length]), at + length


class TruncatedLogError(ValueError):
    """The log ends inside a record (an interrupted recording) or a record is corrupt."""

    def __init__(self, path: Path, good_records: int, last_good: LogRecord | None, reason: str) -> None:
        self.path, self.good_records, self.last_good, self.reason = path, good_records, last_good, reason
        where = (f"last good record #{good_records}: {last_good.topic}[{last_good.partition}]@{last_good.offset}"
                 if last_good else "no good record")
        super().__init__(f"{path}: truncated or corrupt after {good_records} record(s) ({reason}); {where}")


class EventLogWriter:
    """Appends records; `close()` (or leaving the `with` block) ends the last frame."""

    def __init__(self, path: Path, header: dict[str, Any] | None = None, level: int = 3) -> None:
        self.path = path
        self._file: BinaryIO = path.open("wb")
        self._compressor = zstandard.ZstdCompressor(level=level)
        self._frame: zstandard.ZstdCompressionWriter | None = None
        self._in_frame = 0
        self.records = 0
        self._write(MAGIC + json.dumps({"version": VERSION, **(header or {})}, sort_keys=True).encode() + b"\n")
        self.flush()  # the header in a frame of its own: even an empty, interrupted recording is identifiable

    def _write(self, data: bytes) -> None:
        if self._frame is None:
            self._frame = self._compressor.stream_writer(self._file, closefd=False)
        self._frame.write(data)

    def append(self, record: LogRecord) -> None:
        payload = record.to_bytes()
        self._write(_FRAME.pack(len(payload)) + payload + _FRAME.pack(zlib.crc32(payload)))
        self.records += 1
        self._in_frame += 1
        if self._in_frame >= FRAME_RECORDS:
            self.flush()

    def flush(self) -> None:
        """End the current frame and push it to disk: everything so far survives a crash."""
        if self._frame is not None:
            self._frame.close()  # type: ignore[no-untyped-call]
            self._frame = None
            self._in_frame = 0
        self._file.flush()

    def close(self) -> None:
        """Write the end marker and close: a log without it was interrupted."""
        if self._file.closed:
            return
        self._write(_FRAME.pack(END_MARK) + struct.pack(">q", self.records))
        self.flush()
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


class EventLogReader:
    """Iterates the records of a log; raises TruncatedLogError where the log stops being readable.

    With `strict=False` it stops quietly at that point instead and keeps the error in `truncation`
    (to replay what an interrupted recording did capture).
    """

    def __init__(self, path: Path, *, strict: bool = True) -> None:
        self.path = path
        self.strict = strict
        self.header: dict[str, Any] = {}
        self.records_read = 0
        self.last_good: LogRecord | None = None
        self.truncation: TruncatedLogError | None = None

    def __iter__(self) -> Iterator[LogRecord]:
        with self.path.open("rb") as raw:
            if raw.read(4) != ZSTD_MAGIC:
                raise ValueError(f"{self.path} is not an event log (not zstd-compressed)")
            raw.seek(0)
            stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            reader: io.BufferedReader[Any] = io.BufferedReader(stream)
            try:
                yield from self._records(reader)
            except zstandard.ZstdError as error:
                self._stop(TruncatedLogError(self.path, self.records_read, self.last_good, f"zstd: {error}"))
            except TruncatedLogError as error:
                self._stop(error)

    def _stop(self, error: TruncatedLogError) -> None:
        self.truncation = error
        if self.strict:
            raise error

    def _records(self, reader: io.BufferedReader[Any]) -> Iterator[LogRecord]:
        magic = reader.read(len(MAGIC))
        if not magic:
            raise TruncatedLogError(self.path, 0, None, "no complete frame")
        if magic != MAGIC:
            raise ValueError(f"{self.path} is not an event log (no {MAGIC.strip().decode()} header)")
        header_line = reader.readline()
        if not header_line.endswith(b"\n"):
            raise TruncatedLogError(self.path, 0, None, "header cut off")
        self.header = json.loads(header_line)
        if self.header.get("version") != VERSION:
            raise ValueError(f"{self.path}: log version {self.header.get('version')} is not {VERSION}")
        while True:
            prefix = reader.read(_FRAME.size)
            if not prefix:
                raise TruncatedLogError(self.path, self.records_read, self.last_good,
                                        "no end marker: the recording was interrupted")
            if len(prefix) < _FRAME.size:
                raise TruncatedLogError(self.path, self.records_read, self.last_good, "cut inside a length")
            (length,) = _FRAME.unpack(prefix)
            if length == END_MARK:
                count = reader.read(8)
                if len(count) < 8 or struct.unpack(">q", count)[0] != self.records_read:
                    raise TruncatedLogError(self.path, self.records_read, self.last_good, "end marker count differs")
                return
            payload = reader.read(length)
            checksum = reader.read(_FRAME.size)
            if len(payload) < length or len(checksum) < _FRAME.size:
                raise TruncatedLogError(self.path, self.records_read, self.last_good, "cut inside a record")
            if _FRAME.unpack(checksum)[0] != zlib.crc32(payload):
                raise TruncatedLogError(self.path, self.records_read, self.last_good, "checksum mismatch")
            try:
                record = LogRecord.from_bytes(payload)
            except (ValueError, struct.error, UnicodeDecodeError) as error:
                raise TruncatedLogError(self.path, self.records_read, self.last_good, str(error)) from error
            self.records_read += 1
            self.last_good = record
            yield record


def read_header(path: Path) -> dict[str, Any]:
    """The JSON header of a log (topics, time range, how it was recorded)."""
    reader = EventLogReader(path)
    iterator = iter(reader)
    try:
        next(iterator)
    except StopIteration:
        pass
    finally:
        iterator.close()  # type: ignore[attr-defined]
    return reader.header


def time_ordered(records: Iterable[LogRecord], lookahead: int = LOOKAHEAD) -> Iterator[LogRecord]:
    """Records merged by timestamp across topics and partitions, each partition's own order kept.

    An older recording holds each partition as a block; read in that order, one partition's later records would
    come before another's earlier ones. The merge looks `lookahead` records ahead (bounded memory); equal
    timestamps keep the order of the file, so a log already in time order (or written merged by the recorder)
    comes out exactly as it is, and the same file always gives the same sequence.
    """
    queues: dict[Slot, deque[tuple[int, LogRecord]]] = {}
    heads: list[tuple[int, int, Slot]] = []  # (timestamp of the queue's head, its place in the file, queue)
    buffered = 0

    def pop() -> LogRecord:
        nonlocal buffered
        _, _, slot = heapq.heappop(heads)
        queue = queues[slot]
        _, record = queue.popleft()
        buffered -= 1
        if queue:
            heapq.heappush(heads, (queue[0][1].timestamp_ms, queue[0][0], slot))
        return record

    for index, record in enumerate(records):
        slot = (record.topic, record.partition)
        queue = queues.setdefault(slot, deque())
        if not queue:
            heapq.heappush(heads, (record.timestamp_ms, index, slot))
        queue.append((index, record))
        buffered += 1
        if buffered > lookahead:
            yield pop()
    while heads:
        yield pop()


class PartitionMerge:
    """Partitions read side by side, merged: a record leaves only once every partition still being read has one
    waiting, so the output is the merge of the whole partitions (by timestamp, then topic and partition) whatever
    order the reads came back in; what time_ordered reads back from such a file is the file itself.
    """

    def __init__(self) -> None:
        self._queues: dict[Slot, deque[LogRecord]] = {}
        self._heads: list[tuple[int, str, int]] = []  # (timestamp, topic, partition) of each non-empty queue

    def add(self, record: LogRecord) -> None:
        """One record read from its partition (in that partition's order)."""
        queue = self._queues.setdefault((record.topic, record.partition), deque())
        if not queue:
            heapq.heappush(self._heads, (record.timestamp_ms, record.topic, record.partition))
        queue.append(record)

    def waiting(self, slot: Slot) -> int:
        """How many records of this partition wait to be merged."""
        queue = self._queues.get(slot)
        return len(queue) if queue else 0

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def _pop(self) -> LogRecord:
        _, topic, partition = heapq.heappop(self._heads)
        queue = self._queues[(topic, partition)]
        record = queue.popleft()
        if queue:
            heapq.heappush(self._heads, (queue[0].timestamp_ms, topic, partition))
        return record

    def ready(self, reading: set[Slot]) -> Iterator[LogRecord]:
        """The records that can leave now: merged while every partition in `reading` (not finished) has one."""
        if any(not self._queues.get(slot) for slot in reading):
            return
        while self._heads:
            record = self._pop()
            yield record
            slot = (record.topic, record.partition)
            if slot in reading and not self._queues[slot]:
                return

    def drain(self) -> Iterator[LogRecord]:
        """Everything still waiting, merged (every partition is finished, or the recording stops)."""
        while self._heads:
            yield self._pop()
