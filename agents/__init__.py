"""The Faust wiring: each subpackage wires one concept of `engine/` to Kafka and Redis.

`kafka/` is what every agent shares, `redis_client.py` the Redis client every store opens, `routes/` and
`fraud/` the agents and stores of each concept, `llm/` the shared model, `replay/` recording and replaying
topics, `demo/` the terminal demo, `cli/` the `engine` command on top, `worker.py` puts it together. The only
code that knows partitions, commits, rebalances and tables. May import `engine/`, `schemas/` and `devstack/`;
never `benchmarks/`.
"""
