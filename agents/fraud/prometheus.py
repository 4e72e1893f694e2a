"""FraudMetrics: Prometheus counters and gauges of the fraud stream, served at the worker's /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class FraudMetrics:
    """The fraud series, in the worker's registry (agents/kafka/metrics_page.py serves it)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.scored = Counter("fraud_transactions_scored", "Transactions scored.", registry=r)
        self.alerts = Counter("fraud_alerts", "Scores at or above the alert threshold.", registry=r)
        self.dead_lettered = Counter("fraud_dead_lettered", "Inputs sent to the dead-letter topic.", ["topic"],
                                     registry=r)
        self.duplicates = Counter("fraud_duplicate_transactions", "Repeated transaction ids skipped.", registry=r)
        self.labels = Counter("fraud_labels_applied", "Confirmed labels applied to terminal state.", registry=r)
        self.batch_seconds = Histogram("fraud_batch_seconds", "Time to score and publish one batch.", registry=r,
                                       buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
        self.reviews = Counter("fraud_reviews", "LLM review requests by outcome.", ["outcome"], registry=r)
        self.score_psi = Gauge("fraud_score_psi", "PSI of recent model scores against the training scores.",
                               registry=r)
        self.alert_precision = Gauge("fraud_alert_precision", "Share of labelled alerts confirmed as fraud.",
                                     registry=r)
        self.drift_events = Counter("fraud_drift_events", "Drift events published.", ["kind"], registry=r)
