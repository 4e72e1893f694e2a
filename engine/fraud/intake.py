"""read_transaction: a payment's bytes into a Transaction, or a DecodeError saying what is wrong with it."""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas import DecodeError, ErrorDetail, Transaction, decode


def read_transaction(value: bytes | None, key: bytes | None, now: datetime, max_future_s: float) -> Transaction:
    """The payment, if it decodes, its key is its customer and it is not dated more than max_future_s ahead."""
    tx = decode(Transaction, value)
    problems = []
    shown = None if key is None else key.decode("utf-8", "replace")
    if shown != tx.customer_id:
        problems.append(ErrorDetail(location="(key)", error_type="key_mismatch",
                                    message=f"Kafka key {shown!r} must equal customer_id {tx.customer_id!r}"))
    if tx.occurred_at > now + timedelta(seconds=max_future_s):
        problems.append(ErrorDetail(location="occurred_at", error_type="in_future",
                                    message=f"{tx.occurred_at.isoformat()} is more than "
                                            f"{max_future_s:g} s after the time received"))
    if problems:
        raise DecodeError("Transaction", problems)
    return tx
