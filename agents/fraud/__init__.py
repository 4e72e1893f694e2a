"""Fraud wiring: the scoring agent, the label feed, the review cycle, the Redis risk store, Prometheus metrics.

May import `agents.kafka`, `agents.llm`, `engine/` and `schemas/`.
"""
