"""Route wiring: the fleet-state agent (events into the table), RouteCycle (decide and publish), Redis stores.

May import `agents.kafka`, `agents.llm`, `engine/` and `schemas/`.
"""
