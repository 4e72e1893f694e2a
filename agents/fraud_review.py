"""FraudReviewCycle: every cycle, the most uncertain recent scores go to Granite; verdicts to `fraud-reviews`."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import faust

from agents.fraud_metrics import FraudMetrics
from agents.fraud_scoring import FraudScoring
from agents.topics import RAW_BYTES
from engine.fraud.review import FraudReviewer, ReviewOutcome, most_uncertain, reviews_of
from engine.settings import Settings
from schemas import FraudReview

log = logging.getLogger(__name__)


class FraudReviewCycle:
    """One review request per cycle, under a deadline; late or garbage answers publish nothing."""

    def __init__(self, settings: Settings, scoring: FraudScoring, reviewer: FraudReviewer, reviews: faust.TopicT,
                 metrics: FraudMetrics) -> None:
        self.fraud = settings.fraud
        self.scoring = scoring
        self.reviewer = reviewer
        self.reviews = reviews
        self.metrics = metrics
        self.in_flight: asyncio.Future[ReviewOutcome] | None = None
        self.ticks: set[asyncio.Future[list[FraudReview]]] = set()

    def start_tick(self) -> None:
        """Start a cycle without waiting for it, so the timer keeps a fixed cadence."""
        task = asyncio.ensure_future(self.tick())
        self.ticks.add(task)
        task.add_done_callback(self.ticks.discard)

    async def tick(self, at: datetime | None = None) -> list[FraudReview]:
        at = at or datetime.now(UTC)
        pool = self.scoring.take_review_pool()
        if not pool:
            return []
        if self.in_flight is not None and not self.in_flight.done():
            self.metrics.reviews.labels(outcome="skipped_busy").inc()
            log.warning("fraud review: previous request still running; skipping the cycle at %s", at.isoformat())
            return []
        cases = most_uncertain(pool, self.fraud.review_top_k, self.fraud.alert_threshold)
        task: asyncio.Future[ReviewOutcome] = asyncio.ensure_future(asyncio.to_thread(self.reviewer.review, cases))
        self.in_flight = task
        try:
            outcome = await asyncio.wait_for(asyncio.shield(task), timeout=self.fraud.review_s)
        except TimeoutError:
            self.metrics.reviews.labels(outcome="late").inc()
            log.warning("fraud review: no answer within %.1f s; %s case(s) left unreviewed", self.fraud.review_s,
                        len(cases))
            return []
        if outcome.error is not None:
            self.metrics.reviews.labels(outcome="rejected").inc()
            log.warning("fraud review answer rejected (%s): %r", outcome.error, (outcome.raw_text or "")[:300])
            return []
        self.metrics.reviews.labels(outcome="published").inc()
        published = []
        reviewed_at = datetime.now(UTC)
        for review in reviews_of(outcome, at, reviewed_at):
            await self.reviews.send(key=review.customer_id.encode(), value=review.to_bytes())
            published.append(review)
        log.info("fraud review: %s of %s case(s) reviewed in %.2f s", len(published), len(cases), outcome.seconds)
        return published


def install_fraud_review(app: faust.App, settings: Settings, scoring: FraudScoring, metrics: FraudMetrics
                         ) -> FraudReviewCycle:
    """Register the reviews topic and the review timer; loads the configured LLM now (fail fast)."""
    from agents.answer_store import open_live_model

    reviews = app.topic(settings.topics.fraud_reviews, partitions=settings.topics.partitions, **RAW_BYTES)
    reviewer = FraudReviewer(open_live_model(settings), max_tokens=settings.llm.max_tokens)
    cycle = FraudReviewCycle(settings, scoring, reviewer, reviews, metrics)

    @app.timer(interval=settings.cycle_seconds, name="fraud-review")  # type: ignore[untyped-decorator]
    async def fraud_review() -> None:
        cycle.start_tick()

    return cycle
