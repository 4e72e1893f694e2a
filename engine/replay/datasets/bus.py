"""A Liverpool bus's GPS pings as vehicle positions, with synthetic parcel orders on real positions and times."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.replay.datasets.log_writing import PendingRecord, epoch_ms, file_sha256, write_log
from schemas import GeoPoint, OrderEvent, TimeWindow, VehicleEvent


@dataclass(frozen=True)
class BusLogSummary:
    """What bus_log wrote."""

    pings: int
    orders: int
    bad_rows: int
    vehicles: int
    header: dict[str, Any]


def bus_log(gps_csv: Path, out: Path, *, fleet_id: str = "liverpool-14", every: int = 10, capacity: int = 20,
            topics: tuple[str, str] = ("orders", "vehicles")) -> BusLogSummary:
    """Write bus GPS pings as vehicle positions plus SYNTHETIC parcel orders placed on real positions and times."""
    if every < 1:
        raise ValueError("every must be at least 1")
    pings: list[tuple[datetime, int, str, GeoPoint]] = []
    bad = 0
    with gps_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            try:
                at = datetime.fromisoformat(row["timestamp"]).replace(tzinfo=UTC)
                point = GeoPoint(lat=float(row["latitude"]), lon=float(row["longitude"]))
                pings.append((at, int(row["id"]), row["vehicle_id"], point))
            except (KeyError, ValueError):  # pydantic's ValidationError is a ValueError
                bad += 1
    pings.sort(key=lambda p: (p[0], p[1]))
    order_topic, vehicle_topic = topics
    pending: list[PendingRecord] = []
    orders = 0
    for i, (at, ping_id, bus, point) in enumerate(pings):
        day = datetime.combine(at.date(), datetime.min.time(), UTC)
        event = VehicleEvent(event_id=f"ping-{ping_id}", fleet_id=fleet_id, vehicle_id=bus, occurred_at=at,
                             position=point, capacity=capacity, load=0,
                             shift=TimeWindow(start=day, end=day + timedelta(days=1)), status="en_route")
        pending.append(PendingRecord(epoch_ms(at), vehicle_topic, fleet_id, event))
        if (i + 1) % every == 0:  # synthetic: a parcel waiting where this bus really passed
            order_id = f"p{ping_id}"
            create = OrderEvent(
                event_id=f"{order_id}-create", action="create", fleet_id=fleet_id, order_id=order_id,
                occurred_at=at - timedelta(minutes=15), location=point, demand=1, service_time_s=30.0,
                time_window=TimeWindow(start=at - timedelta(minutes=5), end=at + timedelta(minutes=10)),
                note=f"synthetic parcel at bus {bus}'s position at {at.isoformat()}",
            )
            cancel = OrderEvent(event_id=f"{order_id}-cancel", action="cancel", fleet_id=fleet_id,
                                order_id=order_id, occurred_at=at + timedelta(minutes=10))
            pending.append(PendingRecord(epoch_ms(create.occurred_at), order_topic, fleet_id, create))
            pending.append(PendingRecord(epoch_ms(cancel.occurred_at), order_topic, fleet_id, cancel))
            orders += 1
    buses = len({p[2] for p in pings})
    header = {
        "source": {"kind": "uk-bods-bus-gps", "file": gps_csv.name, "sha256": file_sha256(gps_csv)},
        "fleet_id": fleet_id,
        "rules": {
            "pings": "Each GPS ping, sorted by timestamp then id (UTC as given), is an en_route vehicle position "
                     f"(capacity {capacity}, load 0, shift the ping's service day); rows with bad or missing "
                     "lat/lon or timestamp are skipped.",
            "orders": f"SYNTHETIC orders on real positions and times: every {every}th ping's position is a parcel "
                      "(demand 1, service 30 s) booked 15 min before the bus passed there, window pass -5/+10 min, "
                      "cancelled at pass +10 min. The data has no orders.",
        },
        "counts": {"pings": len(pings), "orders": orders, "bad_rows": bad, "vehicles": buses},
    }
    full = write_log(out, header, pending, topics)
    return BusLogSummary(len(pings), orders, bad, buses, full)
