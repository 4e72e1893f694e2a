"""read_transaction: what the live agent and the backtest accept as a payment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.fraud.intake import read_transaction
from schemas import DecodeError
from tests.fraud_factories import transaction

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_a_valid_payment_keyed_by_its_customer_is_read() -> None:
    """Bytes of a Transaction keyed by its customer come back as that Transaction."""
    tx = transaction("tx1", NOW, customer="c9")
    assert read_transaction(tx.to_bytes(), b"c9", NOW, 300) == tx


def test_wrong_key_and_future_date_are_both_reported() -> None:
    """A payment keyed by someone else and dated past the allowance fails with both problems named."""
    tx = transaction("tx1", NOW + timedelta(minutes=10), customer="c9")
    with pytest.raises(DecodeError) as failure:
        read_transaction(tx.to_bytes(), b"someone-else", NOW, 300)
    kinds = {d.error_type for d in failure.value.errors}
    assert kinds == {"key_mismatch", "in_future"}
    with pytest.raises(DecodeError):
        read_transaction(b"{broken", b"c9", NOW, 300)
