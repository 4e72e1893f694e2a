"""RulesScorer: the rules-only baseline (hard limits a payment team would write by hand)."""

from __future__ import annotations

RULES: tuple[tuple[str, str, float], ...] = (
    ("high_amount", "amount above 200", 0.4),
    ("velocity", "5 or more payments by this customer in the last hour", 0.2),
    ("new_terminal_high_amount", "first use of this terminal and amount above 100", 0.2),
    ("risky_terminal", "over 20% of this terminal's labelled payments in 7 days were fraud", 0.3),
)


def rule_hits(features: dict[str, float]) -> list[str]:
    """Codes of the rules a transaction trips."""
    hits = []
    if features["amount"] > 200:
        hits.append("high_amount")
    if features["customer_count_1h"] >= 5:
        hits.append("velocity")
    if features["terminal_new_for_customer"] and features["amount"] > 100:
        hits.append("new_terminal_high_amount")
    if features["terminal_risk_7d"] > 0.2:
        hits.append("risky_terminal")
    return hits


WEIGHTS = {code: weight for code, _, weight in RULES}


def rules_score(features: dict[str, float]) -> float:
    """A score in [0, 1]: the sum of the weights of the rules hit."""
    return score_of_hits(rule_hits(features))


def score_of_hits(hits: list[str]) -> float:
    """rules_score from rule_hits' codes (the stream has them already for the alert's reasons)."""
    return min(sum(WEIGHTS[code] for code in hits), 1.0)
