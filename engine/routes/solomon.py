"""Solomon VRPTW instances as Problems (Euclidean distance, travel time = distance, hard windows)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from engine.routes.problem import Problem, Stop, Vehicle
from engine.routes.travel import StraightLineTravel
from schemas import PlanePoint

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # Solomon times are abstract units from 0


def read_solomon(path: Path) -> Problem:
    """Parse the standard Solomon text format; node 0 is the depot every vehicle leaves and returns to."""
    lines = [line.split() for line in path.read_text().splitlines()]
    numbers = [row for row in lines if row and all(is_number(x) for x in row)]
    vehicles_count, capacity = int(numbers[0][0]), int(numbers[0][1])
    nodes = [row for row in numbers[1:] if len(row) == 7]
    if not nodes or int(nodes[0][0]) != 0:
        raise ValueError(f"{path}: no depot row (customer 0) found")
    locations = tuple(PlanePoint(x=float(r[1]), y=float(r[2])) for r in nodes)
    depot_due = float(nodes[0][5])
    stops = tuple(
        Stop(order_id=f"c{int(r[0])}", location=i, demand=int(r[3]), window_start=float(r[4]),
             window_end=float(r[5]), service_s=float(r[6]))
        for i, r in enumerate(nodes) if i > 0
    )
    vehicles = tuple(
        Vehicle(vehicle_id=f"v{k + 1}", start=0, end=0, capacity=capacity, available_from=0.0, shift_end=depot_due)
        for k in range(vehicles_count)
    )
    matrix = StraightLineTravel(plane_units_per_second=1.0).matrix(locations, [])
    return Problem(fleet_id=path.stem, at=EPOCH, locations=locations, seconds=matrix.seconds,
                   distance=matrix.distance, stops=stops, vehicles=vehicles, objective="distance")


def best_known(bks_csv: Path) -> dict[str, float]:
    """Best-known total distance per instance (column distmin_distance)."""
    with bks_csv.open() as f:
        return {row["instance"]: float(row["distmin_distance"]) for row in csv.DictReader(f)}


def is_number(text: str) -> bool:
    """Whether a Solomon-file token is a number (header words are not)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
