"""Tests of Transaction validation (bad payment input must never be scored)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas import Transaction

GOOD = {"transaction_id": "tx1", "occurred_at": "2026-03-02T08:00:00Z", "customer_id": "c1",
        "terminal_id": "t1", "amount": 25.0, "currency": "EUR"}


def test_valid_transaction() -> None:
    """A plain payment parses with its defaults."""
    tx = Transaction.model_validate_json(json.dumps(GOOD))
    assert tx.amount == 25.0 and tx.channel == "unknown"


@pytest.mark.parametrize("amount", [0, -3.5, "NaN", 2_000_000])
def test_bad_amounts_rejected(amount: object) -> None:
    """Zero, negative, NaN and absurd amounts are rejected."""
    data = json.dumps({**GOOD, "amount": amount}).replace('"NaN"', "NaN")
    with pytest.raises(ValidationError, match="amount"):
        Transaction.model_validate_json(data)


def test_unknown_currency_rejected() -> None:
    """A currency outside the settled list is rejected rather than scored on a wrong scale."""
    with pytest.raises(ValidationError, match="currency"):
        Transaction.model_validate_json(json.dumps({**GOOD, "currency": "XYZ"}))


def test_merchant_name_bounded() -> None:
    """Merchant names are length-limited free text."""
    with pytest.raises(ValidationError, match="merchant_name"):
        Transaction.model_validate_json(json.dumps({**GOOD, "merchant_name": "m" * 201}))
