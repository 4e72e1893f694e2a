"""RiskStore's Redis entries for a batch of scores, built without Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic_core import from_json

from agents.fraud.risk_store import RiskStore
from schemas import FraudScore, ScoreReason

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def score(tx_id: str, customer: str, terminal: str, value: float, minutes: int) -> FraudScore:
    return FraudScore(transaction_id=tx_id, customer_id=customer, terminal_id=terminal,
                      occurred_at=AT + timedelta(minutes=minutes), score=value, alert=value >= 0.5,
                      reasons=[ScoreReason(code="amount", text=f"reason of {tx_id}", weight=0.1)],
                      model_version="v1", scored_at=AT + timedelta(hours=1))


def test_the_newest_score_of_each_customer_and_terminal_is_kept() -> None:
    """Later scores win per key; an older score still fills a terminal no later score touched."""
    store = RiskStore("redis://127.0.0.1:1/0", "run")  # never connected: entries are built, not written
    batch = [score("a", "c1", "t1", 0.1, 0), score("b", "c2", "t2", 0.2, 1), score("c", "c1", "t3", 0.9, 2),
             score("d", "c2", "t2", 0.3, 3)]
    entries = {key: from_json(value) for key, value in store.score_entries(batch).items()}
    assert {key: entry["transaction_id"] for key, entry in entries.items()} == {
        "run:fraud:customer:c1": "c", "run:fraud:customer:c2": "d",
        "run:fraud:terminal:t1:last": "a", "run:fraud:terminal:t3:last": "c", "run:fraud:terminal:t2:last": "d"}
    newest = entries["run:fraud:customer:c1"]
    assert newest == {"score": 0.9, "alert": True, "transaction_id": "c",
                      "occurred_at": (AT + timedelta(minutes=2)).isoformat(),
                      "scored_at": (AT + timedelta(hours=1)).isoformat(), "model_version": "v1",
                      "reasons": ["reason of c"]}
