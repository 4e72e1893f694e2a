"""The plan drawing: geometry from a RoutePlan and positions, and its SVG and PNG renderings."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import timedelta

from PIL import Image

from engine.routes.plan_drawing import HEIGHT, MARGIN, PALETTE, WIDTH, draw_plan, to_png, to_svg
from schemas import GeoPoint, Location, PlanePoint, PlannedStop, RoutePlan, UnassignedOrder, VehicleRoute
from tests.factories import T0

SVG = "{http://www.w3.org/2000/svg}"


def sample_plan(fleet: str = "fleet-d", reason: str = "no vehicle has room before the window closes"
                ) -> tuple[RoutePlan, dict[str, Location], dict[str, Location]]:
    """Two vehicles (v1 north of v0), three stops each, one unassigned order; with every position known."""
    vehicles: dict[str, Location] = {"v0": GeoPoint(lat=53.40, lon=-2.99), "v1": GeoPoint(lat=53.42, lon=-2.99)}
    orders: dict[str, Location] = {f"o{i}": GeoPoint(lat=53.40 + 0.004 * i, lon=-2.98 + 0.003 * (i % 3))
                                   for i in range(7)}
    routes = []
    for index, (vehicle_id, served) in enumerate((("v0", ["o0", "o1", "o2"]), ("v1", ["o5", "o4", "o3"]))):
        stops = [PlannedStop(order_id=o, arrival=T0 + timedelta(minutes=10 * (n + 1) + index),
                             service_start=T0 + timedelta(minutes=10 * (n + 1) + index),
                             departure=T0 + timedelta(minutes=10 * (n + 1) + index + 2), load_after=2 * (n + 1))
                 for n, o in enumerate(served)]
        routes.append(VehicleRoute(vehicle_id=vehicle_id, stops=stops, travel_seconds=1800.0, distance=4200.0))
    plan = RoutePlan(plan_id=RoutePlan.make_id(fleet, T0), fleet_id=fleet, cycle_at=T0, routes=routes,
                     unassigned=[UnassignedOrder(order_id="o6", reason=reason)], cost=1800.0, source="solver")
    return plan, orders, vehicles


def test_routes_are_numbered_in_order_with_their_own_colours_and_etas() -> None:
    """Each vehicle gets a distinct palette colour; stops are numbered 1.. in route order with the arrival as ETA."""
    plan, orders, vehicles = sample_plan()
    drawing = draw_plan(plan, orders, vehicles)
    assert [r.vehicle_id for r in drawing.routes] == ["v0", "v1"]
    assert [r.colour for r in drawing.routes] == list(PALETTE[:2])
    v1 = drawing.routes[1]
    assert [(s.number, s.order_id) for s in v1.stops] == [(1, "o5"), (2, "o4"), (3, "o3")]
    assert [s.eta_label for s in v1.stops] == ["08:11", "08:21", "08:31"]
    assert len(v1.line) == 4, "the vehicle's position, then its three stops"
    assert drawing.unassigned[0].order_id == "o6" and drawing.unassigned[0].at is not None
    assert drawing.missing == ()


def test_projection_fits_the_frame_with_north_up() -> None:
    """Every point lies inside the margins, the extremes touch them, and a northern point is drawn higher."""
    plan, orders, vehicles = sample_plan()
    drawing = draw_plan(plan, orders, vehicles)
    points = [p for r in drawing.routes for p in r.line] + [u.at for u in drawing.unassigned if u.at]
    assert all(MARGIN - 0.1 <= p.x <= WIDTH - MARGIN + 0.1 and MARGIN - 0.1 <= p.y <= HEIGHT - MARGIN + 0.1
               for p in points)
    assert min(p.y for p in points) == MARGIN or min(p.x for p in points) == MARGIN  # the limiting span fills
    v0_start, v1_start = drawing.routes[0].start, drawing.routes[1].start
    assert v0_start is not None and v1_start is not None
    assert v1_start.y < v0_start.y, "v1 is further north, so higher on the map"


def test_unknown_positions_are_listed_not_drawn() -> None:
    """A stop or vehicle without a known position is left off the map and named in `missing`."""
    plan, orders, vehicles = sample_plan()
    del orders["o4"], vehicles["v0"]
    drawing = draw_plan(plan, orders, vehicles)
    assert set(drawing.missing) == {"o4", "v0"}
    assert drawing.routes[0].start is None
    assert [s.at is None for s in drawing.routes[1].stops] == [False, True, False]
    assert len(drawing.routes[1].line) == 3


def test_one_spot_and_plane_points_draw_without_dividing_by_zero() -> None:
    """Everything on one spot lands in the middle; x/y fleets are drawn as they are."""
    plan, orders, vehicles = sample_plan()
    same: dict[str, Location] = {k: PlanePoint(x=5, y=5) for k in orders}
    drawing = draw_plan(plan, same, {k: PlanePoint(x=5, y=5) for k in vehicles})
    assert {(p.x, p.y) for r in drawing.routes for p in r.line} == {(WIDTH / 2, HEIGHT / 2)}
    empty = draw_plan(plan.model_copy(update={"routes": [], "unassigned": []}), {}, {})
    assert empty.routes == () and "<svg" in to_svg(empty)


def test_svg_is_well_formed_with_one_line_per_route_and_escaped_text() -> None:
    """The SVG parses as XML, has a coloured route-line per vehicle, numbered stops, and escapes reasons."""
    plan, orders, vehicles = sample_plan(reason='<script>alert("x")</script> & more')
    svg = to_svg(draw_plan(plan, orders, vehicles))
    root = ET.fromstring(svg)
    assert root.get("data-plan-id") == plan.plan_id
    lines = [p for p in root.iter(f"{SVG}path") if p.get("class") == "route-line"]
    assert [p.get("stroke") for p in lines] == list(PALETTE[:2])
    numbers = [t.text for g in root.iter(f"{SVG}g") if g.get("class") == "stop" for t in g.iter(f"{SVG}text")]
    assert numbers[:2] == ["1", "08:10"]
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    unassigned = [g for g in root.iter(f"{SVG}g") if g.get("class") == "unassigned"]
    assert len(unassigned) == 1 and "&" in (unassigned[0].findtext(f"{SVG}title") or "")


def test_png_draws_the_same_geometry() -> None:
    """The PNG has the drawing's size (plus a title band) and each route's colour at its first stop."""
    plan, orders, vehicles = sample_plan()
    drawing = draw_plan(plan, orders, vehicles)
    png = to_png(drawing)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    band = image.height - drawing.height
    assert image.width == drawing.width and band == 40
    for route in drawing.routes:
        first = route.stops[0].at
        assert first is not None
        pixel = image.getpixel((round(first.x) - 6, round(first.y) + band))  # beside the white number
        expected = tuple(int(route.colour[i:i + 2], 16) for i in (1, 3, 5))
        assert isinstance(pixel, tuple)
        assert max(abs(a - b) for a, b in zip(pixel, expected, strict=True)) < 40, (route.vehicle_id, pixel)
