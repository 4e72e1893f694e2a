"""check: is a plan feasible for a problem? Every violation precisely, and OR-Tools' own verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.routes.plan import Plan
from engine.routes.problem import Problem, Vehicle
from engine.routes.routing_model import RoutingModel, build_routing_model, derived
from schemas import Violation

TOLERANCE_S = 1e-6


@dataclass(frozen=True)
class StopTime:
    """When a vehicle reaches, serves and leaves one stop, and its load afterwards."""

    order_id: str
    arrival: float
    service_start: float
    departure: float
    load_after: int


@dataclass(frozen=True)
class RouteSchedule:
    """One vehicle's route with its times and cost."""

    vehicle_id: str
    stops: tuple[StopTime, ...]
    travel_seconds: float
    distance: float
    cost: float


@dataclass(frozen=True)
class CheckResult:
    """The verdict on a plan: feasible when the precise check and OR-Tools (when asked) both accept it."""

    feasible: bool
    violations: tuple[Violation, ...]
    cost: float
    schedules: tuple[RouteSchedule, ...]
    unassigned: tuple[str, ...]
    ortools_accepts: bool | None  # None: OR-Tools was not asked (check(..., ortools=False))
    notes: tuple[str, ...] = field(default=())


def check(problem: Problem, plan: Plan, *, ortools: bool = True) -> CheckResult:
    """Check every constraint of plan against problem (and ask OR-Tools unless told not to); cost counts if feasible."""
    # ortools=False is for repair's loop; a plan to publish is always checked with OR-Tools.
    violations: list[Violation] = []
    seen: dict[str, str] = {}
    schedules: list[RouteSchedule] = []
    for vehicle_id, orders in plan.routes:
        vehicle = problem.vehicle(vehicle_id)
        if vehicle is None:
            violations.append(Violation(vehicle_id=vehicle_id, constraint="unknown_id",
                                        message=f"vehicle {vehicle_id} is not in this fleet's problem"))
            continue
        known: list[str] = []
        for order_id in orders:
            if problem.stop(order_id) is None:
                violations.append(Violation(vehicle_id=vehicle_id, order_id=order_id, constraint="unknown_id",
                                            message=f"order {order_id} is not an open order of this fleet"))
            elif order_id in seen:
                violations.append(Violation(vehicle_id=vehicle_id, order_id=order_id, constraint="duplicate_order",
                                            message=f"order {order_id} is also on vehicle {seen[order_id]}"))
            else:
                seen[order_id] = vehicle_id
                known.append(order_id)
        schedule, route_violations = _schedule(problem, vehicle, known)
        schedules.append(schedule)
        violations += route_violations
    for vehicle in problem.vehicles:
        if vehicle.committed and vehicle.vehicle_id not in dict(plan.routes):
            violations.append(Violation(vehicle_id=vehicle.vehicle_id, order_id=vehicle.committed[0],
                                        constraint="committed_stop",
                                        message=f"committed stops {list(vehicle.committed)} are missing"))
    ortools_accepts: bool | None = None
    notes: tuple[str, ...] = ()
    if ortools:
        ortools_accepts = not violations and _ortools_accepts(problem, plan)
        if not ortools_accepts and not violations:
            notes = ("OR-Tools rejected routes the precise check accepted",)
            violations.append(Violation(constraint="time_window", message=notes[0]))
    unassigned = tuple(s.order_id for s in problem.stops if s.order_id not in seen)
    return CheckResult(
        feasible=not violations, violations=tuple(violations), cost=sum(s.cost for s in schedules),
        schedules=tuple(schedules), unassigned=unassigned, ortools_accepts=ortools_accepts, notes=notes,
    )


def _schedule(problem: Problem, vehicle: Vehicle, orders: list[str]) -> tuple[RouteSchedule, list[Violation]]:
    violations: list[Violation] = []
    committed = list(vehicle.committed)
    if committed and orders[: len(committed)] != committed:
        violations.append(Violation(vehicle_id=vehicle.vehicle_id, order_id=committed[0], constraint="committed_stop",
                                    message=f"route must start with committed stops {committed}, "
                                            f"starts with {orders[: len(committed)]}"))
    time, load, here = vehicle.available_from, 0, vehicle.start
    travel = distance = cost = 0.0
    stops: list[StopTime] = []
    for order_id in orders:
        stop = problem.stop(order_id)
        assert stop is not None
        arrival = time + problem.seconds[here][stop.location]
        travel += problem.seconds[here][stop.location]
        distance += problem.distance[here][stop.location]
        cost += problem.leg_cost(here, stop.location)
        start = max(arrival, stop.window_start)
        if start > stop.window_end + TOLERANCE_S:
            violations.append(Violation(vehicle_id=vehicle.vehicle_id, order_id=order_id, constraint="time_window",
                                        excess=start - stop.window_end,
                                        message=f"service starts {start - stop.window_end:.0f} s after the window "
                                                f"of {order_id} closes"))
        load += stop.demand
        time, here = start + stop.service_s, stop.location
        stops.append(StopTime(order_id, arrival, start, time, load))
    if load > vehicle.capacity:
        violations.append(Violation(vehicle_id=vehicle.vehicle_id, order_id=orders[-1] if orders else None,
                                    constraint="capacity", excess=float(load - vehicle.capacity),
                                    message=f"load {load} exceeds free capacity {vehicle.capacity}"))
    if vehicle.end is not None:
        time += problem.seconds[here][vehicle.end]
        travel += problem.seconds[here][vehicle.end]
        distance += problem.distance[here][vehicle.end]
        cost += problem.leg_cost(here, vehicle.end)
    if orders and time > vehicle.shift_end + TOLERANCE_S:
        violations.append(Violation(vehicle_id=vehicle.vehicle_id, order_id=orders[-1], constraint="shift_end",
                                    excess=time - vehicle.shift_end,
                                    message=f"route ends {time - vehicle.shift_end:.0f} s after the shift ends"))
    return RouteSchedule(vehicle.vehicle_id, tuple(stops), travel, distance, cost), violations


def _ortools_accepts(problem: Problem, plan: Plan) -> bool:
    """OR-Tools' verdict: the routes load into its model as a solution that satisfies every constraint."""
    cache = derived(problem)
    with cache["lock"]:  # one reader at a time: reading routes runs the model's solver
        model = checker_model(problem)
        return model.routing.ReadAssignmentFromRoutes(model.routes_for(plan), True) is not None


def checker_model(problem: Problem) -> RoutingModel:
    """The closed check model of a problem, built once per Problem object; each check reads its routes into it."""
    cache = derived(problem)
    with cache["lock"]:
        if "checker" not in cache:
            model = build_routing_model(problem)
            model.routing.CloseModel()
            cache["checker"] = model
        checker: RoutingModel = cache["checker"]
    return checker
