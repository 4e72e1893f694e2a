"""Builders for fraud tests: a small trained model and transactions/labels around a given time."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from engine.fraud.drift import reference_distribution
from engine.fraud.handbook import read_handbook, replay_features
from engine.fraud.scorer import FraudScorer
from schemas import FraudLabel, Transaction

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fraud" / "handbook_sim_2018-04-01_to_2018-04-28.csv"


def train_small_model(out: Path, rows: int = 60_000) -> Path:
    """A real LightGBM scorer on the handbook's first days; labels arrive after 1 day so terminal risk is learnt."""
    replayed = list(replay_features(read_handbook(DATA, limit=rows), label_delay=timedelta(days=1)))
    features, labels = [f for _, f in replayed], [row.fraud for row, _ in replayed]
    scorer = FraudScorer.train(features, labels, metadata={"data": DATA.name, "rows": rows, "label_delay_days": 1})
    scorer.metadata["score_reference"] = reference_distribution(scorer.score_many(features[-10_000:]))
    return scorer.save(out)


def transaction(tx_id: str, at: datetime, *, customer: str = "c1", terminal: str = "t1", amount: float = 40.0,
                merchant: str = "") -> Transaction:
    return Transaction(transaction_id=tx_id, occurred_at=at, customer_id=customer, terminal_id=terminal,
                       amount=amount, merchant_name=merchant, channel="card_present")


def label(tx: Transaction, fraud: bool, at: datetime) -> FraudLabel:
    return FraudLabel(transaction_id=tx.transaction_id, customer_id=tx.customer_id, terminal_id=tx.terminal_id,
                      occurred_at=tx.occurred_at, fraud=fraud, labelled_at=at)
