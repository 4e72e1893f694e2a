"""`engine bench instance`: seeded R/C/RC-like VRPTW instances of any size in the Solomon text format.

Like Solomon's own C instances, each one is built around a planted solution (the witness): customers are
swept into capacity-bounded routes around the depot, every witness stop gets a time window that contains
its witness service time, and the depot closes after the longest witness route returns. So every customer
can be served with the stated vehicles, and the witness proves it (its tests re-check it in exact arithmetic).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

from engine.routes.solomon import is_number

KINDS = ("r", "c", "rc")
CAPACITY = 200  # Solomon's type-1 capacity (C1, R1, RC1)
HORIZON_SLACK = 1.2  # depot due = this x the longest witness route, so shorter routes have time to spare
VEHICLE_SLACK = 1.25  # vehicles offered per witness route (Solomon offers 25 where 10-19 are needed)
WAIT_SHARE = 0.95  # at most this share of a route's spare time becomes waiting in the witness
WINDOW_WIDTH = (0.1, 0.3)  # window width as a share of the horizon, drawn uniformly


@dataclass(frozen=True)
class Customer:
    """One row of a Solomon file; number 0 is the depot."""

    number: int
    x: float
    y: float
    demand: float
    ready: float
    due: float
    service: float


@dataclass(frozen=True)
class Instance:
    """A Solomon VRPTW instance: identical vehicles leave the depot at its ready time and return by its due time."""

    name: str
    vehicles: int
    capacity: float
    depot: Customer
    customers: tuple[Customer, ...]

    def text(self) -> str:
        """The instance in the standard Solomon text layout (what `read_solomon` parses)."""
        lines = [self.name, "", "VEHICLE", "NUMBER     CAPACITY", f"{self.vehicles:>5}{_number(self.capacity):>12}",
                 "", "CUSTOMER",
                 "CUST NO.   XCOORD.    YCOORD.    DEMAND   READY TIME   DUE DATE   SERVICE TIME", ""]
        for c in (self.depot, *self.customers):
            lines.append(f"{c.number:>5}" + "".join(f"{_number(v):>11}" for v in
                                                    (c.x, c.y, c.demand, c.ready, c.due, c.service)))
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Generated:
    """A generated instance and its witness: routes of customer numbers that serve everyone on time."""

    instance: Instance
    witness: tuple[tuple[int, ...], ...]


def distance(a: Customer, b: Customer) -> float:
    """Euclidean distance, correctly rounded: sqrt of the exact sum of squares of integer coordinates."""
    dx, dy = a.x - b.x, a.y - b.y
    return math.sqrt(dx * dx + dy * dy)


def read_instance(path: Path) -> Instance:
    """Parse a Solomon text file as plain numbers (the benchmark's own view, independent of the engine's)."""
    rows = [line.split() for line in path.read_text().splitlines()]
    numbers = [[float(x) for x in row] for row in rows if row and all(is_number(x) for x in row)]
    nodes = [Customer(int(r[0]), *r[1:]) for r in numbers[1:] if len(r) == 7]
    if not nodes or nodes[0].number != 0:
        raise ValueError(f"{path}: no depot row (customer 0) found")
    name = next((row[0] for row in rows if row), path.stem)
    return Instance(name, int(numbers[0][0]), numbers[0][1], nodes[0], tuple(nodes[1:]))


def generate(customers: int, kind: str, seed: int) -> Generated:
    """An instance of `customers` customers of kind r (uniform), c (clustered) or rc (half each), fixed by seed."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    # A string seed is hashed with sha512: the same draws on every Python and every PYTHONHASHSEED.
    rng = random.Random(f"vrptw-{kind}-{customers}-{seed}")
    side = max(20, round(100 * math.sqrt(customers / 100)))  # Solomon's density: 100 customers on ~100 x 100
    points = _points(rng, kind, customers, side)
    service = 90 if kind == "c" else 10  # as in Solomon's C and R/RC sets
    demands = [10 * (1 + int(rng.random() * 4)) if kind == "c" else 1 + int(rng.random() * 40) for _ in points]
    depot = Customer(0, side // 2, side // 2, 0, 0, 0, 0)
    draft = [Customer(i + 1, x, y, d, 0, 0, service) for i, ((x, y), d) in enumerate(zip(points, demands, strict=True))]
    routes = _sweep(rng, depot, draft)
    durations = [_schedule(depot, [draft[n - 1] for n in route], [0.0] * len(route))[1] for route in routes]
    horizon = math.ceil(max(durations) * HORIZON_SLACK)
    final = {c.number: c for c in draft}
    for route, duration in zip(routes, durations, strict=True):
        stops = [draft[n - 1] for n in route]
        waits = _waits(rng, len(route), (horizon - duration) * WAIT_SHARE)
        times, _ = _schedule(depot, stops, waits)
        for stop, start in zip(stops, times, strict=True):
            final[stop.number] = _windowed(rng, stop, start, horizon, distance(stop, depot))
    name = f"{kind.upper()}_{customers}_{seed}"
    instance = Instance(name, math.ceil(len(routes) * VEHICLE_SLACK), CAPACITY,
                        Customer(0, depot.x, depot.y, 0, 0, horizon, 0),
                        tuple(final[n] for n in sorted(final)))
    return Generated(instance, tuple(tuple(r) for r in routes))


def write_instance(customers: int, kind: str, seed: int, out: Path) -> Generated:
    """Generate and write an instance; bytes, not text, so no platform changes the line endings."""
    generated = generate(customers, kind, seed)
    out.write_bytes(generated.instance.text().encode("ascii"))
    return generated


def main(customers: int, kind: str, seed: int, out: Path) -> int:
    """Write the instance and say what it holds."""
    generated = write_instance(customers, kind, seed, out)
    instance = generated.instance
    print(f"{out}: {instance.name}, {len(instance.customers)} customers, {instance.vehicles} vehicles of capacity "
          f"{_number(instance.capacity)}, depot due {_number(instance.depot.due)}, "
          f"witness {len(generated.witness)} routes")
    return 0


def _points(rng: random.Random, kind: str, count: int, side: int) -> list[tuple[int, int]]:
    clustered = count if kind == "c" else count // 2 if kind == "rc" else 0
    centres = [(side * (0.1 + 0.8 * rng.random()), side * (0.1 + 0.8 * rng.random()))
               for _ in range(max(1, clustered // 10))]
    points = []
    for i in range(count):
        if i < clustered:
            cx, cy = centres[i % len(centres)]
            x, y = rng.gauss(cx, side / 35), rng.gauss(cy, side / 35)
        else:
            x, y = side * rng.random(), side * rng.random()
        points.append((min(max(round(x), 0), side), min(max(round(y), 0), side)))
    rng.shuffle(points)  # RC: clustered and random customers interleave in the file, as in Solomon's
    return points


def _sweep(rng: random.Random, depot: Customer, customers: list[Customer]) -> list[list[int]]:
    """Customers by angle around the depot from a random ray, cut into routes by capacity, each nearest-first."""
    offset = 2 * math.pi * rng.random()
    order = sorted(customers, key=lambda c: ((math.atan2(c.y - depot.y, c.x - depot.x) - offset) % (2 * math.pi),
                                             c.number))
    groups: list[list[Customer]] = [[]]
    for customer in order:
        if sum(c.demand for c in groups[-1]) + customer.demand > CAPACITY:
            groups.append([])
        groups[-1].append(customer)
    routes = []
    for group in groups:
        here, left, route = depot, list(group), []
        while left:
            here = min(left, key=lambda c: (distance(here, c), c.number))
            left.remove(here)
            route.append(here.number)
        routes.append(route)
    return routes


def _waits(rng: random.Random, count: int, spare: float) -> list[float]:
    """A random share of the spare time, split at random before the stops (spreads service over the horizon)."""
    weights = [-math.log(1.0 - rng.random()) for _ in range(count + 1)]  # the last share is never waited
    used = spare * rng.random() / sum(weights)
    return [used * w for w in weights[:count]]


def _schedule(depot: Customer, stops: list[Customer], waits: list[float]) -> tuple[list[float], float]:
    """Service start of each stop when the vehicle waits `waits` before each, and when it is back at the depot."""
    time, here, starts = depot.ready, depot, []
    for stop, wait in zip(stops, waits, strict=True):
        time = time + distance(here, stop) + wait
        starts.append(time)
        time, here = time + stop.service, stop
    return starts, time + distance(here, depot)


def _windowed(rng: random.Random, stop: Customer, start: float, horizon: int, back: float) -> Customer:
    """stop with an integer window around its witness start (ready <= start <= due), inside the horizon."""
    width = horizon * (WINDOW_WIDTH[0] + (WINDOW_WIDTH[1] - WINDOW_WIDTH[0]) * rng.random())
    before = width * rng.random()
    ready = max(0, math.floor(start - before))
    latest = math.floor(horizon - stop.service - back)  # later than this the vehicle cannot get home
    due = max(math.ceil(start), min(math.ceil(start + width - before), latest))
    return Customer(stop.number, stop.x, stop.y, stop.demand, ready, due, stop.service)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
