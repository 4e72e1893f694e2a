"""Fraud scoring: windowed features, a trained scorer with reasons, rules, Granite review, drift.

`intake` validates a payment, `features` builds its windows, `scorer` + `risk_assessor` score it with
reasons, `review` asks Granite about uncertain cases, `drift` watches scores, `handbook` + `training` train
the scorer, `detection_metrics` measures it. May import `engine.settings`, `engine.llm` and `schemas`.
"""
