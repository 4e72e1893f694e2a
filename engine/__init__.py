"""The pure core: one subpackage per concept (`routes`, `fraud`, `llm`, `replay`) and `settings`.

Plain functions and small classes over plain data, with the clock as an input, so the same code runs
live and in a backtest. It may import `schemas/` and third-party libraries; never Kafka, Redis, Faust,
asyncio or anything in `agents/`, `benchmarks/` or `devstack/`.
"""
