"""What every agent shares: the Faust app, topic creation, GapGuard, the dead-letter writer, the cycle timer.

May import `engine.settings` and `schemas/`; no other `agents/` package.
"""
