"""Route decisions: fleet state from events, the problem a cycle solves, candidates, the OR-Tools check.

`state` (FleetState) → `problem` + `travel` (Problem, matrices) → `llm_proposer`, `solver`, `pyvrp_improver`
(candidates) → `check` + `routing_model` (the gate) → `decide` (choice and audit record); `plan` is a
candidate plan, `solomon` reads benchmark instances. May import `engine.settings`, `engine.llm` and `schemas`.
"""
