"""The live dispatch page: a board of the newest plans, decisions and fraud alerts, served by the worker.

May import `agents.kafka`, `engine/` and `schemas/`.
"""
