"""`engine send TOPIC [FILE|-]`: validate every line of a JSON-lines or CSV file against the topic's schema, then
send them all (keyed as the producers key them) or, if any line is bad, nothing."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from agents.cli.errors import UsageError, existing_file
from agents.cli.parsing import Commands
from agents.cli.replay import kafka_failed, quiet_kafka_client_logs
from agents.kafka.topics import TopicLayoutError, ensure_topics, kafka_client_options
from engine.routes.state import fleet_input_schemas
from engine.settings import Settings, load_settings
from schemas import (
    DecodeError,
    FraudLabel,
    OrderEvent,
    TrafficEvent,
    Transaction,
    VehicleEvent,
    WireModel,
    decode,
    readable_errors,
)

# Every event is held until all are valid (nothing is sent otherwise), so the input is bounded.
MAX_EVENTS = 1_000_000
SEND_TIMEOUT_S = 120.0  # the whole send and flush; the producer's own requests time out after 15 s

# The Kafka key of each input schema: what the worker checks (fleet events: the fleet, payments and labels: the
# customer) so one fleet or customer lives on one partition.
KEY_FIELD: dict[type[WireModel], str] = {Transaction: "customer_id", FraudLabel: "customer_id"}  # else fleet_id

EPILOG = """\
JSON lines: one message per line, exactly as on the wire (blank lines are skipped).
CSV: the header row names the fields; a nested field is a dotted column name, e.g. location.lat,location.lon,
time_window.start,time_window.end (OrderEvent) or area.kind,area.center.lat,area.center.lon,area.radius_m
(TrafficEvent); a list or object may also be one cell holding JSON (e.g. committed_stops = ["o1","o2"]); an empty
cell leaves the field out (its default applies). Line numbers in errors are the file's own (the header is line 1).
Keys: fleet events are keyed by fleet_id (traffic without a fleet: region:REGION), payments and fraud labels by
customer_id, as the simulator and the producers key them; the worker dead-letters any other key.
"""


def input_schemas(settings: Settings) -> dict[str, type[WireModel]]:
    """The topics events can be sent to and the schema each one's messages must follow."""
    topics = settings.topics
    return {**fleet_input_schemas(topics), topics.transactions: Transaction, topics.fraud_labels: FraudLabel}


def default_key(event: WireModel) -> str:
    """The Kafka key the worker expects for an event (its fleet, its region, or its customer)."""
    if isinstance(event, TrafficEvent):
        return event.partition_key
    if isinstance(event, (Transaction, FraudLabel)):
        return event.customer_id
    if isinstance(event, (OrderEvent, VehicleEvent)):
        return event.fleet_id
    raise ValueError(f"no Kafka key is known for {type(event).__name__}")


@dataclass(frozen=True)
class RowError:
    """A row that is not even an object to validate (a CSV row of the wrong width, a cell that is not JSON)."""

    reason: str


Row = tuple[int, bytes | dict[str, Any] | RowError]  # (line number, JSON bytes | CSV fields | why not)


@dataclass(frozen=True)
class Checked:
    """One input file checked: the (key, value) pairs to send, and every invalid line as `FILE:LINE: reason`."""

    messages: list[tuple[bytes, bytes]]
    errors: list[str]


def _reason(errors: list[Any]) -> str:
    return "; ".join(f"{e.location}: {e.message}" for e in errors)


def _key_of(event: WireModel, key_field: str | None) -> str:
    if key_field is None:
        return default_key(event)
    value = getattr(event, key_field)
    if value is None or value == "":
        raise ValueError(f"--key-field {key_field} is empty")
    return str(value)


def jsonl_rows(text: str) -> Iterator[Row]:
    """(line number, raw JSON bytes) of every non-blank line."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield number, line.encode()


def _nest(header: list[str], cells: list[str]) -> dict[str, Any]:
    """A CSV row as a nested dict: dotted columns become nested objects, a cell starting with [ or { is JSON."""
    data: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=True):
        if cell == "":
            continue
        value: Any = cell
        if cell.lstrip()[:1] in ("[", "{"):
            try:
                value = json.loads(cell)
            except ValueError as error:
                raise ValueError(f"column {name}: not JSON ({error})") from None
        *parents, leaf = name.split(".")
        place = data
        for part in parents:
            place = place.setdefault(part, {})
            if not isinstance(place, dict):
                raise ValueError(f"column {name}: {part} is given both as a value and as an object")
        if leaf in place:
            raise ValueError(f"column {name}: {leaf} is given twice")
        place[leaf] = value
    return data


def csv_rows(text: str, source: str) -> Iterator[Row]:
    """(line number, nested dict) of every data row; a bad header is a UsageError, a bad row a RowError."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return
    bad = [name for name in header if not name or any(not part for part in name.split("."))]
    if bad or len(set(header)) != len(header):
        problem = "an empty column name" if bad else "a column named twice"
        raise UsageError(f"{source}:1: the CSV header has {problem} ({','.join(header)})")
    line = reader.line_num + 1
    for cells in reader:
        start, line = line, reader.line_num + 1  # a quoted cell may span lines: report the row's first
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield start, RowError(f"{len(cells)} values, but the header has {len(header)} columns")
            continue
        try:
            yield start, _nest(header, cells)
        except ValueError as error:
            yield start, RowError(str(error))


def check_events(rows: Iterator[Row], schema: type[WireModel], source: str,
                 key_field: str | None) -> Checked:
    """Validate every row against the schema; the wire bytes and keys of the good ones, a line per bad one."""
    messages: list[tuple[bytes, bytes]] = []
    errors: list[str] = []
    for number, row in rows:
        if len(messages) + len(errors) >= MAX_EVENTS:
            raise UsageError(f"{source}: more than {MAX_EVENTS:,} events: split the input into smaller files")
        try:
            if isinstance(row, bytes):
                event = decode(schema, row)
            elif isinstance(row, RowError):
                errors.append(f"{source}:{number}: {row.reason}")
                continue
            else:
                # CSV cells are text: parsed by the schema's field types (lax), then checked again as wire bytes.
                event = decode(schema, schema.model_validate(row, strict=False).to_bytes())
            messages.append((_key_of(event, key_field).encode(), event.to_bytes()))
        except DecodeError as error:
            errors.append(f"{source}:{number}: {_reason(error.errors)}")
        except ValidationError as error:
            errors.append(f"{source}:{number}: {_reason(readable_errors(error))}")
        except ValueError as error:
            errors.append(f"{source}:{number}: {error}")
    return Checked(messages, errors)


async def send_all(settings: Settings, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    """Create the engine's topics if missing, send every message, flush, and raise if any send failed."""
    await ensure_topics(settings)
    producer = AIOKafkaProducer(**kafka_client_options(settings), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await producer.flush()
        for future in futures:
            await future  # raises the first failed send's error
    finally:
        await producer.stop()


def _read_input(path: str) -> tuple[str, str]:
    """(text, name for error lines) of FILE, or of stdin for `-`."""
    if path == "-":
        try:
            return sys.stdin.read(), "<stdin>"
        except UnicodeDecodeError as error:
            raise UsageError(f"<stdin> is not UTF-8 text ({error.reason})") from error
    file = existing_file(Path(path), "FILE")
    try:
        return file.read_text(encoding="utf-8-sig"), path
    except UnicodeDecodeError as error:
        raise UsageError(f"FILE {path} is not UTF-8 text ({error.reason} at byte {error.start})") from error


def _key_field(schema: type[WireModel], name: str | None) -> str | None:
    if name is None:
        return None
    if name not in schema.model_fields or name == "schema_version":
        fields = ", ".join(n for n in schema.model_fields if n != "schema_version")
        raise UsageError(f"--key-field {name}: {schema.__name__} has no such field (it has {fields})")
    expected = KEY_FIELD.get(schema, "fleet_id")
    if name != expected:
        print(f"warning: --key-field {name}: the worker expects {schema.__name__} keyed by {expected} and "
              "dead-letters other keys", file=sys.stderr)
    return name


def run(args: argparse.Namespace) -> int:
    """Validate a JSON-lines or CSV file against a topic's schema, then send every event (or nothing)."""
    settings = load_settings()
    schemas = input_schemas(settings)
    schema = schemas.get(args.topic)
    if schema is None:
        raise UsageError(f"unknown topic {args.topic!r}: events can be sent to {', '.join(schemas)} "
                         "(names from ENGINE_TOPICS__*)")
    key_field = _key_field(schema, args.key_field)
    text, source = _read_input(args.file)
    fmt = args.format or ("csv" if args.file.lower().endswith(".csv") else "jsonl")
    rows = csv_rows(text, source) if fmt == "csv" else jsonl_rows(text)
    checked = check_events(rows, schema, source, key_field)
    for line in checked.errors:
        print(line, file=sys.stderr)
    if checked.errors:
        raise UsageError(f"{len(checked.errors)} invalid line(s) in {source} ({schema.__name__}): nothing sent")
    if not checked.messages:
        raise UsageError(f"{source} holds no events (empty input{', only a header' if fmt == 'csv' else ''}): "
                         "nothing sent")
    count = len(checked.messages)
    if args.dry_run:
        print(f"{count} valid {schema.__name__} events for {args.topic} (dry run: nothing sent)")
        return 0
    quiet_kafka_client_logs()
    try:
        asyncio.run(asyncio.wait_for(send_all(settings, args.topic, checked.messages), SEND_TIMEOUT_S))
    except KafkaError as error:
        raise kafka_failed(settings, error) from error
    except TimeoutError as error:
        raise UsageError(f"Kafka at {','.join(settings.kafka.bootstrap_servers)} did not take the {count} "
                         f"events within {SEND_TIMEOUT_S:g} s: some may have been sent") from error
    except TopicLayoutError as error:
        raise UsageError(str(error)) from error
    print(f"sent {count} events to {args.topic}")
    return 0


def add_to(commands: Commands) -> None:
    send = commands.add_parser("send", help=run.__doc__, description=run.__doc__, epilog=EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    send.add_argument("topic", metavar="TOPIC", help="an input topic: orders, vehicles, traffic, transactions or "
                      "fraud-labels (as named by ENGINE_TOPICS__*)")
    send.add_argument("file", metavar="FILE|-", nargs="?", default="-", help="the events (default -: stdin)")
    send.add_argument("--format", choices=["jsonl", "csv"], default=None,
                      help="jsonl (default) or csv (default for a FILE ending in .csv)")
    send.add_argument("--key-field", default=None, metavar="FIELD",
                      help="key each message by this top-level field instead (e.g. to try the dead-letter path)")
    send.add_argument("--dry-run", action="store_true", help="validate every line, send nothing")
    send.set_defaults(run=run)
