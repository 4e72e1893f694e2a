"""The terminal demo: local services, a worker process, a synthetic fleet stream, the state shown live.

`simulator` makes the synthetic fleet (pure, seeded; fleets named per run), `demo` drives and draws it,
`reset` deletes a run's Redis keys. May import the rest of
`agents/`, `engine/`, `schemas/` and `devstack/`.
"""
