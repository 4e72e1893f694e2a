"""NYC taxi trips as an event log: pickups become orders, dropoffs cab positions (zones placed by MDS)."""

from __future__ import annotations

import csv
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from engine.replay.datasets.log_writing import COORD_DECIMALS, PendingRecord, epoch_ms, file_sha256, write_log
from engine.routes.travel import StraightLineTravel, haversine_m
from schemas import GeoPoint, OrderEvent, TimeWindow, VehicleEvent

MILE_KM = 1.609344
KM_PER_DEG_LAT = 111.32
DETOUR = StraightLineTravel().detour_factor  # the engine's straight-line → road factor (1.3)
TAXI_REFERENCE_DATE = datetime(2019, 3, 1, tzinfo=UTC)
TAXI_CENTER = (40.7580, -73.9855)  # Times Square: the origin of the zone layout


@dataclass(frozen=True)
class ZonePlacement:
    """Zone coordinates in km from classical MDS, the zones left out, and how well distances fit."""

    coords: dict[int, tuple[float, float]]
    dropped: tuple[int, ...]
    fit_error: float  # median |embedded - observed| / observed over the observed pairs


def place_zones(pairs: Mapping[tuple[int, int], float], zones: Sequence[int] = ()) -> ZonePlacement:
    """Place zones on a plane from observed pair distances (shortest-path completion + classical MDS)."""
    ids = sorted({z for pair in pairs for z in pair} | set(zones))
    index = {z: i for i, z in enumerate(ids)}
    n = len(ids)
    dist = np.full((n, n), np.inf)
    np.fill_diagonal(dist, 0.0)
    for (a, b), d in pairs.items():
        if a != b:
            i, j = index[a], index[b]
            dist[i, j] = dist[j, i] = min(dist[i, j], d)
    for k in range(n):  # Floyd-Warshall: unobserved pairs get the shortest chain of observed ones
        dist = np.minimum(dist, dist[:, k:k + 1] + dist[k:k + 1, :])
    # Largest connected component (ties: the one holding the smallest zone id); the rest cannot be placed.
    components: list[list[int]] = []
    seen: set[int] = set()
    for i in range(n):
        if i not in seen:
            members = [j for j in range(n) if np.isfinite(dist[i, j])]
            seen.update(members)
            components.append(members)
    keep = max(components, key=len) if components else []
    kept_ids = [ids[i] for i in keep]
    kept = set(kept_ids)
    dropped = tuple(z for z in ids if z not in kept)
    if len(keep) < 2:
        return ZonePlacement({z: (0.0, 0.0) for z in kept_ids}, dropped, 0.0)  # nothing to fit
    sub = dist[np.ix_(keep, keep)]
    m = len(keep)
    centering = np.eye(m) - np.ones((m, m)) / m
    gram = -0.5 * centering @ (sub**2) @ centering
    values, vectors = np.linalg.eigh(gram)  # ascending; the last two span the best 2-D fit
    xy = np.zeros((m, 2))
    for axis, col in enumerate((m - 1, m - 2)):
        v = vectors[:, col] * math.sqrt(max(values[col], 0.0))
        if v[int(np.argmax(np.abs(v)))] < 0:  # eigenvectors have no sign: fix one so the layout is reproducible
            v = -v
        xy[:, axis] = v
    coords = {z: (float(xy[i, 0]), float(xy[i, 1])) for i, z in enumerate(kept_ids)}
    errors = [abs(math.dist(coords[a], coords[b]) - obs) / obs
              for (a, b), obs in sorted(pairs.items()) if a != b and a in coords and b in coords and obs > 0]
    return ZonePlacement(coords, dropped, statistics.median(errors) if errors else 0.0)


def _to_geo(xy: tuple[float, float], center: tuple[float, float]) -> GeoPoint:
    # Road km ÷ detour = straight-line km, so the engine's straight line x detour gives back the road distance.
    x, y = xy[0] / DETOUR, xy[1] / DETOUR
    lat0, lon0 = center
    lat = lat0 + y / KM_PER_DEG_LAT
    lon = lon0 + x / (KM_PER_DEG_LAT * math.cos(math.radians(lat0)))
    return GeoPoint(lat=round(lat, COORD_DECIMALS), lon=round(lon, COORD_DECIMALS))





@dataclass(frozen=True)
class TaxiLogSummary:
    """What taxi_log wrote and how well the zone layout fits the observed road distances."""

    orders: int
    cancels: int
    vehicle_events: int
    initial_positions: int
    trips_skipped_unplaced: int
    oversize_orders: int  # passenger_count above the cab capacity: no cab can serve them
    zones_placed: int
    zones_dropped: tuple[int, ...]
    fit_error: float
    route_speed_kmh: float
    header: dict[str, Any]


@dataclass(frozen=True)
class _Trip:
    row: int
    pickup: datetime
    dropoff: datetime
    pu: int
    do: int
    passengers: int
    km: float


def _read_trips(path: Path) -> list[_Trip]:
    trips = []
    with path.open(newline="") as f:
        for row_index, row in enumerate(csv.DictReader(f)):
            try:
                pickup = datetime.fromisoformat(row["tpep_pickup_datetime"]).replace(tzinfo=UTC)
                dropoff = datetime.fromisoformat(row["tpep_dropoff_datetime"]).replace(tzinfo=UTC)
                pu, do = int(row["PULocationID"]), int(row["DOLocationID"])
                km = float(row["trip_distance"] or "nan") * MILE_KM
            except (KeyError, ValueError):
                continue
            try:
                passengers = max(int(float(row["passenger_count"])), 1)  # missing or 0 → 1
            except ValueError:
                passengers = 1
            trips.append(_Trip(row_index, pickup, dropoff, pu, do, passengers, km))
    return trips


def _on_reference_day(moment: datetime) -> datetime:
    # The rule "all March days laid on one day": keep the time of day, drop the date.
    return TAXI_REFERENCE_DATE + timedelta(hours=moment.hour, minutes=moment.minute, seconds=moment.second)


def taxi_log(trips_csv: Path, zones_csv: Path, out: Path, *, fleet_id: str = "nyc-taxi",
             borough: str | None = "Manhattan", start_minute: int = 17 * 60, minutes: int = 30,
             vehicles: int = 12, lead_min: float = 10, topics: tuple[str, str] = ("orders", "vehicles"),
             days: int = 31) -> TaxiLogSummary:
    """Write NYC taxi pickups as orders and dropoffs as cab positions, all days laid on 2019-03-01 (UTC).

    Zones have no coordinates: they are placed by classical MDS of a zone-to-zone road-distance matrix
    (median trip_distance per zone pair over all the borough's trips, completed by shortest paths), scaled
    down by the engine's detour factor so straight line x detour ≈ observed road distance.
    Orders and cab positions come from the trips of March 1..`days` only (31 days on one day is ~5 orders a
    minute in Manhattan, far more than a dozen cabs can serve).
    """
    with zones_csv.open(newline="") as f:
        zone_rows = {int(r["LocationID"]): r for r in csv.DictReader(f)}
    in_area = {z for z, r in zone_rows.items() if borough is None or r["borough"] == borough}
    trips = [t for t in _read_trips(trips_csv) if t.pu in in_area and t.do in in_area]

    # Road-distance matrix and speed from every trip in the area with a usable distance and duration.
    per_pair: dict[tuple[int, int], list[float]] = defaultdict(list)
    speeds = []
    for t in trips:
        hours = (t.dropoff - t.pickup).total_seconds() / 3600
        if t.km > 0 and hours > 0 and t.pu != t.do and math.isfinite(t.km):
            per_pair[(min(t.pu, t.do), max(t.pu, t.do))].append(t.km)
            speeds.append(t.km / hours)
    observed = {pair: statistics.median(kms) for pair, kms in sorted(per_pair.items())}
    placement = place_zones(observed, sorted(in_area))  # area zones never seen in a pair count as dropped
    points = {z: _to_geo(xy, TAXI_CENTER) for z, xy in placement.coords.items()}
    speed = round(statistics.median(speeds), 3) if speeds else StraightLineTravel().speed_kmh
    fit = [abs(haversine_m(points[a], points[b]) / 1000 * DETOUR - obs) / obs
           for (a, b), obs in observed.items() if a in points and b in points]
    fit_error = statistics.median(fit) if fit else 0.0

    order_topic, vehicle_topic = topics
    start = TAXI_REFERENCE_DATE + timedelta(minutes=start_minute)
    end = start + timedelta(minutes=minutes)
    warmup = start - timedelta(minutes=15)
    shift = TimeWindow(start=TAXI_REFERENCE_DATE, end=TAXI_REFERENCE_DATE + timedelta(days=1))
    lead = timedelta(minutes=lead_min)
    capacity = 4
    skipped = 0

    # Orders: pickups in the window, booked lead_min ahead, cancelled 10 min after pickup (the real cab took it).
    orders: list[PendingRecord] = []
    picks = sorted((t for t in trips if start <= _on_reference_day(t.pickup) < end and t.pickup.day <= days),
                   key=lambda t: (_on_reference_day(t.pickup), t.row))
    for t in picks:
        if t.pu not in points:
            skipped += 1
            continue
        at = _on_reference_day(t.pickup)
        order_id = f"t{t.row}"
        create = OrderEvent(
            event_id=f"{order_id}-create", action="create", fleet_id=fleet_id, order_id=order_id,
            occurred_at=at - lead, location=points[t.pu], demand=t.passengers, service_time_s=60.0,
            time_window=TimeWindow(start=at - timedelta(minutes=5), end=at + timedelta(minutes=10)),
            note=zone_rows[t.pu]["zone"][:500],
        )
        cancel = OrderEvent(event_id=f"{order_id}-cancel", action="cancel", fleet_id=fleet_id,
                            order_id=order_id, occurred_at=at + timedelta(minutes=10))
        orders.append(PendingRecord(epoch_ms(create.occurred_at), order_topic, fleet_id, create))
        orders.append(PendingRecord(epoch_ms(cancel.occurred_at), order_topic, fleet_id, cancel))

    # Vehicles: real dropoffs (no taxi ids in the data) dealt round-robin to cab-01…, in dropoff-time order.
    cab_ids = [f"cab-{i + 1:02d}" for i in range(vehicles)]
    drops = sorted((t for t in trips if warmup <= _on_reference_day(t.dropoff) < end and t.pickup.day <= days),
                   key=lambda t: (_on_reference_day(t.dropoff), t.row))
    moves: list[PendingRecord] = []
    first_fix: dict[str, datetime] = {}
    placed_drops = []
    for t in drops:
        if t.do not in points:
            skipped += 1
            continue
        placed_drops.append(t)
    for i, t in enumerate(placed_drops):
        cab, at = cab_ids[i % vehicles], _on_reference_day(t.dropoff)
        first_fix.setdefault(cab, at)
        event = VehicleEvent(event_id=f"{cab}-t{t.row}", fleet_id=fleet_id, vehicle_id=cab, occurred_at=at,
                             position=points[t.do], capacity=capacity, load=0, shift=shift, status="available")
        moves.append(PendingRecord(epoch_ms(at), vehicle_topic, fleet_id, event))

    # Initial positions: a cab with no fix by the first order event starts at a busiest dropoff zone.
    first_order = min((p.model.occurred_at for p in orders if isinstance(p.model, OrderEvent)), default=start)
    initial_at = min(warmup, first_order)
    busiest = Counter(t.do for t in placed_drops) or Counter(t.do for t in trips if t.do in points)
    ranked = sorted(busiest, key=lambda z: (-busiest[z], z)) or sorted(points)
    initial: list[PendingRecord] = []
    for cab in cab_ids:
        if ranked and (cab not in first_fix or first_fix[cab] > first_order):
            zone = ranked[len(initial) % len(ranked)]
            event = VehicleEvent(event_id=f"{cab}-init", fleet_id=fleet_id, vehicle_id=cab, occurred_at=initial_at,
                                 position=points[zone], capacity=capacity, load=0, shift=shift, status="available")
            initial.append(PendingRecord(epoch_ms(initial_at), vehicle_topic, fleet_id, event))

    creates = len(orders) // 2
    oversize = sum(1 for p in orders if isinstance(p.model, OrderEvent) and (p.model.demand or 0) > capacity)
    header = {
        "source": {"kind": "nyc-taxi", "file": trips_csv.name, "sha256": file_sha256(trips_csv),
                   "zones_file": zones_csv.name, "zones_sha256": file_sha256(zones_csv)},
        "fleet_id": fleet_id,
        "route_speed_kmh": speed,
        "rules": {
            "one_day": f"The trips of March 1..{days} are laid on one day (2019-03-01) by time of day, read as UTC "
                       "(the matrix and speed use every March trip).",
            "area": f"Trips whose pickup and dropoff zones are both in {borough or 'any borough'}.",
            "window": f"Orders from pickups with time of day in [{start_minute}, {start_minute + minutes}) "
                      "minutes after midnight.",
            "zones": "Zones are placed by classical MDS of a zone-to-zone road-distance matrix: median "
                     "trip_distance (miles→km) per unordered zone pair over all area trips (distance > 0, "
                     "duration > 0, different zones), completed by Floyd-Warshall shortest paths; zones off the "
                     "largest connected component are dropped and their trips skipped.",
            "geo": f"MDS x (east) / y (north) km, divided by the engine's detour factor {DETOUR}, laid around "
                   f"lat {TAXI_CENTER[0]}, lon {TAXI_CENTER[1]} (flat-earth), so straight line x detour ≈ road.",
            "speed": "route_speed_kmh is the median distance/duration over the matrix trips.",
            "orders": f"Each pickup is an order create booked {lead_min} min ahead at the pickup zone (demand = "
                      "passenger_count, 0 or missing → 1; service 60 s; window pickup -5/+10 min; note = zone "
                      "name), cancelled at pickup +10 min if unserved (the real taxi took it).",
            "vehicles": f"No taxi ids: {vehicles} cabs (cab-01…) take real dropoffs with time of day in "
                        f"[{start_minute - 15}, {start_minute + minutes}) minutes round-robin in dropoff-time "
                        "order, each an available position at the dropoff zone (capacity 4, load 0, shift the "
                        "whole reference day).",
            "initial": "A cab with no position by the first order event gets one at the earlier of window start "
                       "-15 min and that event, at the busiest dropoff zones in turn.",
        },
        "counts": {"orders": creates, "cancels": len(orders) - creates, "vehicle_events": len(moves) + len(initial),
                   "initial_positions": len(initial), "trips_skipped_unplaced": skipped,
                   "oversize_orders": oversize, "zones_placed": len(points),
                   "zones_dropped": list(placement.dropped), "mds_fit_error": round(fit_error, 4)},
    }
    # Creation order puts cab positions before orders at equal times.
    full = write_log(out, header, initial + moves + orders, topics)
    return TaxiLogSummary(creates, len(orders) - creates, len(moves) + len(initial), len(initial), skipped,
                          oversize, len(points), placement.dropped, fit_error, speed, full)
