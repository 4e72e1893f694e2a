"""Benchmarks that print JSON, each with its baseline measured in the same run (`python -m benchmarks -h`).

They live apart and are not packaged: they may import agents/, engine/, schemas/ and devstack/, and nothing
imports them (the CLI runs `engine bench ...` as `python -m benchmarks ...`). `environment.py` holds the
set-up they share: local services, isolated settings, a worker process.
"""
