"""A RoutePlan as a drawing: projected points per vehicle route, then SVG text (the live page) or a PNG (matplotlib).

A plan names orders and vehicles but carries no coordinates: those come from the fleet's order and vehicle
events (`positions` below). Routes start where each vehicle is (the engine has no depot: routes may end
anywhere), so the square marker of a route is the vehicle's position, its numbered circles the stops in order.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from schemas import GeoPoint, Location, RoutePlan

# Fixed and distinct, dark enough for white stop numbers; grey and black are kept for unassigned orders.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#393b79", "#637939", "#843c39")
UNASSIGNED_COLOUR = "#444444"
WIDTH, HEIGHT, MARGIN = 760, 520, 36


@dataclass(frozen=True)
class Point:
    """A position on the drawing, in pixels from the top-left corner."""

    x: float
    y: float


@dataclass(frozen=True)
class DrawnStop:
    """One stop of a route: its number in the vehicle's order and its ETA (arrival, UTC)."""

    number: int
    order_id: str
    eta: datetime
    at: Point | None  # None: no known position for this order

    @property
    def eta_label(self) -> str:
        return self.eta.astimezone(UTC).strftime("%H:%M")


@dataclass(frozen=True)
class DrawnRoute:
    """A vehicle's route in its colour: where it starts, then its stops in order."""

    vehicle_id: str
    colour: str
    start: Point | None
    stops: tuple[DrawnStop, ...]
    distance: float
    travel_seconds: float

    @property
    def line(self) -> list[Point]:
        """The polyline through the start and every stop with a position."""
        points = [self.start] if self.start is not None else []
        return points + [s.at for s in self.stops if s.at is not None]


@dataclass(frozen=True)
class DrawnUnassigned:
    """An order no plan served, where it is (if known) and why."""

    order_id: str
    reason: str
    at: Point | None


@dataclass(frozen=True)
class PlanDrawing:
    """Everything either renderer draws; the same geometry for the page and the PNG."""

    fleet_id: str
    plan_id: str
    cycle_at: datetime
    source: str
    cost: float
    width: int
    height: int
    routes: tuple[DrawnRoute, ...]
    unassigned: tuple[DrawnUnassigned, ...]
    missing: tuple[str, ...] = field(default=())  # orders and vehicles with no known position

    @property
    def title(self) -> str:
        return (f"{self.fleet_id}: {self.source} plan for {self.cycle_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, "
                f"cost {self.cost:.0f}")


def colour_of(index: int) -> str:
    """The palette colour of the index-th vehicle (sorted by id), repeating past the palette's end."""
    return PALETTE[index % len(PALETTE)]


def _flat(location: Location, cos_lat: float) -> tuple[float, float]:
    """x east, y north: lon/lat scaled by cos(latitude) so distances look right, or the plane as it is."""
    if isinstance(location, GeoPoint):
        return location.lon * cos_lat, location.lat
    return location.x, location.y


class _Projection:
    """Fits every known position into the drawing, keeping the aspect ratio (north up)."""

    def __init__(self, locations: Sequence[Location], width: int, height: int) -> None:
        lats = [loc.lat for loc in locations if isinstance(loc, GeoPoint)]
        self.cos_lat = math.cos(math.radians(sum(lats) / len(lats))) if lats else 1.0
        flat = [_flat(loc, self.cos_lat) for loc in locations]
        xs, ys = [p[0] for p in flat] or [0.0], [p[1] for p in flat] or [0.0]
        span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
        usable_w, usable_h = width - 2 * MARGIN, height - 2 * MARGIN
        spans = [usable_w / span_x if span_x > 0 else math.inf, usable_h / span_y if span_y > 0 else math.inf]
        self.scale = min(spans) if min(spans) < math.inf else 1.0  # one point, or all on one spot
        self.mid = ((max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2)
        self.centre = (width / 2, height / 2)

    def __call__(self, location: Location | None) -> Point | None:
        if location is None:
            return None
        x, y = _flat(location, self.cos_lat)
        return Point(round(self.centre[0] + (x - self.mid[0]) * self.scale, 1),
                     round(self.centre[1] - (y - self.mid[1]) * self.scale, 1))


def draw_plan(plan: RoutePlan, orders: Mapping[str, Location], vehicles: Mapping[str, Location],
              width: int = WIDTH, height: int = HEIGHT) -> PlanDrawing:
    """The plan's geometry from the positions of its orders and vehicles (unknown ones are listed, not drawn)."""
    routes = sorted(plan.routes, key=lambda r: r.vehicle_id)
    known = [vehicles[r.vehicle_id] for r in routes if r.vehicle_id in vehicles]
    known += [orders[s.order_id] for r in routes for s in r.stops if s.order_id in orders]
    known += [orders[u.order_id] for u in plan.unassigned if u.order_id in orders]
    project = _Projection(known, width, height)
    drawn = tuple(
        DrawnRoute(
            vehicle_id=route.vehicle_id, colour=colour_of(index), start=project(vehicles.get(route.vehicle_id)),
            stops=tuple(DrawnStop(number=n, order_id=stop.order_id, eta=stop.arrival,
                                  at=project(orders.get(stop.order_id)))
                        for n, stop in enumerate(route.stops, start=1)),
            distance=route.distance, travel_seconds=route.travel_seconds,
        )
        for index, route in enumerate(routes)
    )
    unassigned = tuple(DrawnUnassigned(u.order_id, u.reason, project(orders.get(u.order_id)))
                       for u in plan.unassigned)
    missing = [r.vehicle_id for r in routes if r.vehicle_id not in vehicles]
    missing += [s.order_id for r in routes for s in r.stops if s.order_id not in orders]
    missing += [u.order_id for u in plan.unassigned if u.order_id not in orders]
    return PlanDrawing(fleet_id=plan.fleet_id, plan_id=plan.plan_id, cycle_at=plan.cycle_at, source=plan.source,
                       cost=plan.cost, width=width, height=height, routes=drawn, unassigned=unassigned,
                       missing=tuple(missing))


# ------------------------------------------------------------------------------------------------ SVG


def _cross(at: Point, size: float = 6.0) -> str:
    return (f"M{at.x - size} {at.y - size}L{at.x + size} {at.y + size}"
            f"M{at.x - size} {at.y + size}L{at.x + size} {at.y - size}")


def to_svg(drawing: PlanDrawing) -> str:
    """The drawing as standalone SVG text (no external references); ids and reasons are escaped."""
    d = drawing
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plan-map" viewBox="0 0 {d.width} {d.height}" '
        f'width="{d.width}" height="{d.height}" data-plan-id="{escape(d.plan_id)}" '
        f'data-fleet="{escape(d.fleet_id)}" font-family="sans-serif">',
        f"<title>{escape(d.title)}</title>",
        f'<rect width="{d.width}" height="{d.height}" fill="#fafaf7" stroke="#d0d0c8"/>',
    ]
    for route in d.routes:
        parts.append(f'<g class="route" data-vehicle="{escape(route.vehicle_id)}" fill="{route.colour}">')
        line = route.line
        if len(line) > 1:
            path = "M" + "L".join(f"{p.x} {p.y}" for p in line)
            parts.append(f'<path class="route-line" d="{path}" fill="none" stroke="{route.colour}" '
                         'stroke-width="2.5" stroke-linejoin="round" opacity="0.85"/>')
        if route.start is not None:
            s = route.start
            parts.append(f'<rect class="vehicle" x="{s.x - 7}" y="{s.y - 7}" width="14" height="14" '
                         f'stroke="#222" stroke-width="1"><title>{escape(route.vehicle_id)} (now)</title></rect>')
        for stop in route.stops:
            if stop.at is None:
                continue
            p, label = stop.at, escape(f"{route.vehicle_id} stop {stop.number}: {stop.order_id}, ETA {stop.eta_label}")
            parts.append(f'<g class="stop" data-order="{escape(stop.order_id)}"><title>{label}</title>'
                         f'<circle cx="{p.x}" cy="{p.y}" r="8" stroke="#fff" stroke-width="1"/>'
                         f'<text x="{p.x}" y="{p.y + 3.5}" font-size="10" fill="#fff" '
                         f'text-anchor="middle">{stop.number}</text>'
                         f'<text x="{p.x + 10}" y="{p.y - 8}" font-size="9" fill="#333">{stop.eta_label}</text></g>')
        parts.append("</g>")
    for order in d.unassigned:
        if order.at is None:
            continue
        parts.append(f'<g class="unassigned" data-order="{escape(order.order_id)}">'
                     f"<title>{escape(order.order_id)} unassigned: {escape(order.reason)}</title>"
                     f'<path d="{_cross(order.at)}" stroke="{UNASSIGNED_COLOUR}" stroke-width="2.5"/></g>')
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------------------------------------ PNG


def to_png(drawing: PlanDrawing, dpi: int = 100) -> bytes:
    """The same drawing as PNG bytes (matplotlib Agg), with a title and a vehicle legend."""
    import matplotlib  # imported here: the worker's page draws SVG and never needs it

    matplotlib.use("Agg")  # files only: no display on a server
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    d = drawing
    band = 0.4  # inches above the map for the title
    fig = plt.figure(figsize=(d.width / dpi, d.height / dpi + band), dpi=dpi)
    try:
        ax = fig.add_axes((0.0, 0.0, 1.0, d.height / (d.height + band * dpi)))
        ax.set_xlim(0, d.width)
        ax.set_ylim(d.height, 0)  # SVG's y runs down
        ax.set_axis_off()
        ax.add_patch(Rectangle((0, 0), d.width, d.height, facecolor="#fafaf7", edgecolor="#d0d0c8"))
        handles = []
        for route in d.routes:
            line = route.line
            if len(line) > 1:
                ax.plot([p.x for p in line], [p.y for p in line], color=route.colour, linewidth=2.5, alpha=0.85,
                        solid_joinstyle="round", zorder=2)
            if route.start is not None:
                ax.scatter([route.start.x], [route.start.y], marker="s", s=120, color=route.colour,
                           edgecolors="#222", zorder=3)
            for stop in route.stops:
                if stop.at is None:
                    continue
                ax.scatter([stop.at.x], [stop.at.y], s=190, color=route.colour, edgecolors="#fff", zorder=4)
                ax.text(stop.at.x, stop.at.y, str(stop.number), color="#fff", fontsize=7, ha="center",
                        va="center", zorder=5)
                ax.text(stop.at.x + 10, stop.at.y - 8, stop.eta_label, color="#333", fontsize=6.5, zorder=5)
            handles.append(Line2D([], [], color=route.colour, marker="s", linewidth=2.5,
                                  label=f"{route.vehicle_id} ({len(route.stops)} stops)"))
        crosses = [u.at for u in d.unassigned if u.at is not None]
        if crosses:
            ax.scatter([p.x for p in crosses], [p.y for p in crosses], marker="x", s=80, linewidths=2.5,
                       color=UNASSIGNED_COLOUR, zorder=4)
        if d.unassigned:
            handles.append(Line2D([], [], color=UNASSIGNED_COLOUR, marker="x", linestyle="none",
                                  label=f"unassigned ({len(d.unassigned)})"))
        if handles:
            ax.legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.9)
        fig.suptitle(d.title, fontsize=9, y=1 - band / 2 / (d.height / dpi + band), va="center")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        return buffer.getvalue()
    finally:
        plt.close(fig)
