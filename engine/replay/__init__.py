"""Recorded event logs: the file format, the event-time clock, the backtest and the diff of two backtests.

`event_log` reads and writes logs, `event_clock` fires cycles on record time, `backtest` runs the live
decision core over a log, `backtest_diff` compares two runs, `datasets/` turns public data into logs.
Recording and replaying against Kafka live in `agents/replay`. May import the rest of `engine/` and `schemas`.
"""
