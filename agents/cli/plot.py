"""`engine plot plan`: a fleet's current route plan as a PNG, the same drawing as the dispatch page's map."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import redis.exceptions
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from agents.cli.errors import UsageError, existing_file
from agents.cli.parsing import Commands
from agents.dashboard.board import Board, plan_members
from agents.dashboard.feed import read_board
from agents.routes.plan_store import PlanStore
from agents.routes.published_plans import last_published_plan
from engine.routes.plan_drawing import draw_plan, to_png
from engine.settings import Settings, load_settings
from schemas import RoutePlan, readable_errors

PLAN_SOURCES = ("redis", "topic")


def _check_out(out: Path) -> None:
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder: give a file name, e.g. {out / 'plan.png'}")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist (create it first)")


def _plan_from_file(path: Path) -> RoutePlan:
    existing_file(path, "--plan-file")
    try:
        return RoutePlan.model_validate_json(path.read_bytes())
    except ValidationError as error:
        first = readable_errors(error)[0]
        raise UsageError(f"--plan-file {path} is not a RoutePlan: {first.location}: {first.message}") from None


async def _stored_plan(settings: Settings, fleet_id: str, source: str) -> RoutePlan | None:
    """The fleet's plan from Redis (falling back to the routes topic when Redis has none), or from the topic."""
    if source == "redis":
        store = PlanStore(str(settings.redis_url), settings.redis_prefix)
        try:
            plan = await store.latest(fleet_id)
        except redis.exceptions.ConnectionError as error:
            print(f"note: Redis at {settings.redis_url} unreachable ({error}); reading topic {settings.topics.routes}",
                  file=sys.stderr)
            plan = None
        finally:
            await store.close()
        if plan is not None:
            return plan
    return await last_published_plan(settings, fleet_id)


def _positions_from_events(path: Path, board: Board, settings: Settings) -> None:
    """Order and vehicle events (JSON lines, as `engine send` takes them) into the board's positions."""
    existing_file(path, "--events")
    topics = settings.topics
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
        except json.JSONDecodeError as error:
            raise UsageError(f"--events {path} line {number}: not JSON ({error.msg})") from None
        topic = topics.vehicles if isinstance(fields, dict) and "position" in fields else topics.orders
        skipped = board.skipped
        board.take(topic, line.encode())
        if board.skipped > skipped:
            kind = "vehicle" if topic == topics.vehicles else "order"
            raise UsageError(f"--events {path} line {number}: not a valid {kind} event")


def run_plan(args: argparse.Namespace) -> int:
    """Write the PNG of a fleet's current plan (from Redis or the routes topic, or a RoutePlan JSON file)."""
    _check_out(args.out)
    settings = load_settings()
    plan = _plan_from_file(args.plan_file) if args.plan_file else None
    if plan is not None and args.fleet and args.fleet != plan.fleet_id:
        raise UsageError(f"--fleet {args.fleet} does not match fleet {plan.fleet_id} of --plan-file {args.plan_file}")
    fleet_id = plan.fleet_id if plan is not None else args.fleet
    if fleet_id is None:
        raise UsageError("give --fleet FLEET_ID (or --plan-file FILE)")
    try:
        if plan is None:
            plan = asyncio.run(_stored_plan(settings, fleet_id, args.source))
            if plan is None:
                raise UsageError(f"--fleet {fleet_id}: no plan in Redis ({settings.redis_prefix}:fleet:{fleet_id}:plan)"
                                 f" nor on topic {settings.topics.routes}: check the fleet id and that a worker runs")
        if args.events:
            board = Board(settings.topics)
            _positions_from_events(args.events, board, settings)
        else:
            board = asyncio.run(read_board(settings, fleet_id))
    except KafkaError as error:
        raise UsageError(f"Kafka at {','.join(settings.kafka.bootstrap_servers)}: {error!r} "
                         "(ENGINE_KAFKA__BOOTSTRAP_SERVERS; or give --plan-file and --events)") from None
    drawing = draw_plan(plan, *board.positions(fleet_id, plan_members(plan)))
    args.out.write_bytes(to_png(drawing))
    stops = sum(len(r.stops) for r in plan.routes)
    print(f"wrote {args.out}: {plan.plan_id}, {len(plan.routes)} route(s), {stops} stop(s), "
          f"{len(plan.unassigned)} unassigned" + (f", no position for {', '.join(drawing.missing)}"
                                                  if drawing.missing else ""))
    return 0


def add_to(commands: Commands) -> None:
    plot = commands.add_parser("plot", help="Draw decisions as PNG files.").add_subparsers(dest="what", required=True)
    plan = plot.add_parser("plan", help=run_plan.__doc__)
    plan.add_argument("--fleet", default=None, help="the fleet id (its current plan is drawn)")
    plan.add_argument("--out", type=Path, required=True, help="the PNG file to write")
    plan.add_argument("--source", choices=PLAN_SOURCES, default="redis",
                      help="where the plan comes from: redis (falls back to the topic when Redis has none) or topic")
    plan.add_argument("--plan-file", type=Path, default=None, help="a RoutePlan JSON file instead of Redis/Kafka")
    plan.add_argument("--events", type=Path, default=None,
                      help="order/vehicle events (JSON lines) for the positions, instead of the Kafka topics")
    plan.set_defaults(run=run_plan)
