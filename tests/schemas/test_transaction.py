"""Tests of Transaction validation (bad payment input must never be scored)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import Transaction

GOOD = {"transaction_id": "tx1", "occurred_at": "2026-03-02T08:00:00Z", "customer_id": "c1",
        "terminal_id": "t1", "amount": 25.0, "currency": "EUR"}
IDS = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:\-]{0,30}\Z", fullmatch=True)


def test_valid_transaction() -> None:
    """A plain payment parses with its defaults."""
    tx = Transaction.model_validate_json(json.dumps(GOOD))
    assert tx.amount == 25.0 and tx.channel == "unknown" and tx.merchant_name == ""


@pytest.mark.parametrize("amount", ["-0.01", "-3.5", "NaN", "Infinity", "-Infinity", "2000000"])
def test_bad_amounts_rejected(amount: str) -> None:
    """Negative, NaN, infinite and absurd amounts are rejected."""
    data = json.dumps({**GOOD, "amount": "AMOUNT"}).replace('"AMOUNT"', amount)
    with pytest.raises(ValidationError, match="amount"):
        Transaction.model_validate_json(data)


def test_zero_amount_card_check_accepted() -> None:
    """A zero amount (a card verification) is a valid payment to score."""
    assert Transaction.model_validate_json(json.dumps({**GOOD, "amount": 0.0})).amount == 0


def test_nan_amount_rejected_in_python() -> None:
    """A NaN amount built in Python is rejected as well."""
    with pytest.raises(ValidationError, match="amount"):
        Transaction(transaction_id="tx", occurred_at=datetime(2026, 3, 2, tzinfo=UTC), customer_id="c",
                    terminal_id="t", amount=float("nan"))


def test_string_amount_rejected() -> None:
    """Strict mode: "25.0" is not a number."""
    with pytest.raises(ValidationError, match="amount"):
        Transaction.model_validate_json(json.dumps({**GOOD, "amount": "25.0"}))


@pytest.mark.parametrize("currency", ["XYZ", "eur", ""])
def test_unknown_currency_rejected(currency: str) -> None:
    """A currency outside the settled list is rejected rather than scored on a wrong scale."""
    with pytest.raises(ValidationError, match="currency"):
        Transaction.model_validate_json(json.dumps({**GOOD, "currency": currency}))


def test_merchant_name_bounded() -> None:
    """Merchant names are length-limited free text."""
    assert Transaction.model_validate_json(json.dumps({**GOOD, "merchant_name": "m" * 200})).merchant_name
    with pytest.raises(ValidationError, match="merchant_name"):
        Transaction.model_validate_json(json.dumps({**GOOD, "merchant_name": "m" * 201}))


def test_naive_time_rejected() -> None:
    """A payment time without a time zone is rejected."""
    with pytest.raises(ValidationError, match="occurred_at"):
        Transaction.model_validate_json(json.dumps({**GOOD, "occurred_at": "2026-03-02T08:00:00"}))


def test_unknown_channel_rejected() -> None:
    """Only the documented channels exist."""
    with pytest.raises(ValidationError, match="channel"):
        Transaction.model_validate_json(json.dumps({**GOOD, "channel": "carrier_pigeon"}))


@settings(max_examples=60, deadline=None)
@given(
    st.builds(
        Transaction, transaction_id=IDS, customer_id=IDS, terminal_id=IDS,
        occurred_at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                                 timezones=st.just(UTC)),
        amount=st.floats(min_value=0, max_value=1_000_000, exclude_min=True),
        currency=st.sampled_from(["EUR", "USD", "JPY", "BGN"]),
        merchant_name=st.text(st.characters(blacklist_categories=("Cs",)), max_size=200),
        channel=st.sampled_from(["card_present", "online", "contactless", "unknown"]),
    )
)
def test_bytes_round_trip(tx: Transaction) -> None:
    """Any valid payment survives to_bytes then from_bytes unchanged."""
    assert Transaction.from_bytes(tx.to_bytes()) == tx
