"""The worker's language model: opened once per worker and shared, its answers kept in Redis.

Wiring only: it may import engine/ (engine/llm holds the model adapters and the answer cache) and
schemas/, never the other agents/ packages.
"""
