"""FraudReviewCycle: every cycle, the most uncertain recent scores go to Granite; verdicts to `fraud-reviews`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import faust

from agents.fraud.prometheus import FraudMetrics
from agents.fraud.scoring import FraudScoring
from agents.kafka.cycle_timer import BackgroundTicks, every_cycle
from agents.kafka.topics import RAW_BYTES
from agents.llm.worker_model import SharedModel
from engine.fraud.review import FraudReviewer, ReviewCase, most_uncertain, reviews_of
from engine.llm.context import context_tokens, overflow, prompt_tokens
from engine.settings import Settings
from schemas import FraudReview

log = logging.getLogger(__name__)


def fitting_cases(reviewer: FraudReviewer, cases: list[ReviewCase]) -> list[ReviewCase]:
    """The most uncertain cases whose prompt fits the model's context beside the answer (at least one)."""
    n_ctx = context_tokens(reviewer.model)
    while len(cases) > 1 and overflow(prompt_tokens(reviewer.model, reviewer.prompt(cases)), reviewer.max_tokens,
                                      n_ctx) is not None:
        cases = cases[:-1]  # most uncertain first: the least uncertain wait for the next cycle
    return cases


class FraudReviewCycle:
    """One review request per cycle, under a deadline; late or garbage answers publish nothing."""

    def __init__(self, settings: Settings, scoring: FraudScoring, model: SharedModel, reviews: faust.TopicT,
                 metrics: FraudMetrics) -> None:
        self.fraud = settings.fraud
        self.scoring = scoring
        self.model = model
        self.reviewer = FraudReviewer(model.model, max_tokens=settings.llm.max_tokens)
        self.reviews = reviews
        self.metrics = metrics
        self.backend = settings.llm.backend

    async def tick(self, at: datetime | None = None) -> list[FraudReview]:
        at = at or datetime.now(UTC)
        pool = self.scoring.take_review_pool()
        if not pool:
            return []
        cases = most_uncertain(pool, self.fraud.review_top_k, self.fraud.alert_threshold)
        reviewer = self.reviewer
        turn = await self.model.ask(lambda: reviewer.review(fitting_cases(reviewer, cases)), self.fraud.review_s)
        if turn.status == "busy":
            self.metrics.reviews.labels(outcome="skipped_busy").inc()
            log.warning("fraud review: the model is busy with another request; skipping the cycle at %s",
                        at.isoformat())
            return []
        if turn.value is None:
            self.metrics.reviews.labels(outcome="late").inc()
            log.warning("fraud review: no answer within %.1f s (backend %s); %s case(s) left unreviewed",
                        self.fraud.review_s, self.backend, len(cases))
            return []
        outcome = turn.value
        if outcome.error is not None and outcome.raw_text is None:  # the request itself failed
            self.metrics.reviews.labels(outcome="failed").inc()
            log.warning("fraud review: LLM request failed (backend %s): %s", self.backend,
                        outcome.error.removeprefix("LLM failed: "))
            return []
        if outcome.error is not None:
            self.metrics.reviews.labels(outcome="rejected").inc()
            log.warning("fraud review answer rejected (backend %s, parse error: %s): %r", self.backend, outcome.error,
                        (outcome.raw_text or "")[:300])
            return []
        self.metrics.reviews.labels(outcome="published").inc()
        published = []
        reviewed_at = datetime.now(UTC)
        for review in reviews_of(outcome, at, reviewed_at):
            await self.reviews.send(key=review.customer_id.encode(), value=review.to_bytes())
            published.append(review)
        log.info("fraud review: %s of %s case(s) reviewed in %.2f s", len(published), len(cases), outcome.seconds)
        return published


def install_fraud_review(app: faust.App, settings: Settings, scoring: FraudScoring, metrics: FraudMetrics,
                         model: SharedModel) -> tuple[FraudReviewCycle, BackgroundTicks]:
    """Register the reviews topic and the review timer; `model` is the worker's shared LLM."""
    reviews = app.topic(settings.topics.fraud_reviews, partitions=settings.topics.partitions, **RAW_BYTES)
    cycle = FraudReviewCycle(settings, scoring, model, reviews, metrics)
    return cycle, every_cycle(app, "fraud-review", settings.cycle_seconds, cycle.tick)
