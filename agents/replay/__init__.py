"""Recording topics into event logs and replaying logs back into Kafka (the file format is `engine/replay`).

May import `agents.kafka`, `engine/` and `schemas/`.
"""
