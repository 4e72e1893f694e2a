"""Plan: which vehicle serves which orders, in order (what proposers produce and the check judges)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """vehicle_id -> order ids in visiting order; vehicles without work may be left out."""

    routes: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def of(cls, routes: Mapping[str, list[str] | tuple[str, ...]]) -> Plan:
        return cls(tuple(sorted((v, tuple(orders)) for v, orders in routes.items())))

    def as_dict(self) -> dict[str, tuple[str, ...]]:
        return dict(self.routes)

    def assigned(self) -> set[str]:
        return {order for _, orders in self.routes for order in orders}

    def vehicle_of(self) -> dict[str, str]:
        """order id -> vehicle id."""
        return {order: vehicle for vehicle, orders in self.routes for order in orders}
