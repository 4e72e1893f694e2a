"""PlanStore: the latest checked plan per fleet, and each vehicle's next stops, in Redis (O(1) reads)."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from agents.redis_client import open_redis
from engine.routes.plan import Plan
from schemas import RoutePlan


class PlanStore:
    """Keys: {prefix}:fleet:{id}:plan (RoutePlan JSON) and {prefix}:fleet:{id}:vehicle:{vid}:next (JSON list)."""

    def __init__(self, url: str, prefix: str) -> None:
        self._redis: aioredis.Redis = open_redis(url)
        self._prefix = prefix

    def plan_key(self, fleet_id: str) -> str:
        return f"{self._prefix}:fleet:{fleet_id}:plan"

    def next_stops_key(self, fleet_id: str, vehicle_id: str) -> str:
        return f"{self._prefix}:fleet:{fleet_id}:vehicle:{vehicle_id}:next"

    def _vehicles_key(self, fleet_id: str) -> str:
        return f"{self._prefix}:fleet:{fleet_id}:plan-vehicles"

    async def publish(self, plan: RoutePlan) -> None:
        """Replace the fleet's plan and every vehicle's next stops in one transaction."""
        fleet = plan.fleet_id
        old_vehicles = await self._redis.smembers(self._vehicles_key(fleet))
        new_vehicles = {route.vehicle_id for route in plan.routes}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self.plan_key(fleet), plan.model_dump_json())
            for vehicle_id in set(map(str, old_vehicles)) - new_vehicles:
                pipe.delete(self.next_stops_key(fleet, vehicle_id))
            for route in plan.routes:
                stops = [stop.model_dump(mode="json") for stop in route.stops]
                pipe.set(self.next_stops_key(fleet, route.vehicle_id), json.dumps({"plan_id": plan.plan_id,
                                                                                   "stops": stops}))
            pipe.delete(self._vehicles_key(fleet))
            if new_vehicles:
                pipe.sadd(self._vehicles_key(fleet), *new_vehicles)
            await pipe.execute()

    async def latest(self, fleet_id: str) -> RoutePlan | None:
        raw = await self._redis.get(self.plan_key(fleet_id))
        return None if raw is None else RoutePlan.model_validate_json(raw)

    async def previous_plan(self, fleet_id: str) -> Plan | None:
        """The last published plan as a Plan (the warm start after a worker restart)."""
        latest = await self.latest(fleet_id)
        return None if latest is None else plan_of(latest)

    async def close(self) -> None:
        await self._redis.aclose()


def plan_of(published: RoutePlan) -> Plan:
    """Which vehicle serves which orders in a published plan (what the next cycle starts from)."""
    return Plan.of({route.vehicle_id: [stop.order_id for stop in route.stops] for route in published.routes})
