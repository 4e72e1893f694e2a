"""The terminal demo: local services, a worker process, a synthetic fleet stream, the state shown live.

`simulator` makes the synthetic fleet (pure, seeded), `demo` drives and draws it. May import the rest of
`agents/`, `engine/`, `schemas/` and `devstack/`.
"""
