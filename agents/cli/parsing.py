"""Argument types shared by the commands (each says what a good value looks like)."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

Commands = Any  # argparse's _SubParsersAction, whose type is private

HANDBOOK = Path("../shared/data/fraud/handbook_sim_2018-04-01_to_2018-04-28.csv")


def iso_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO time (e.g. 2026-03-02T08:00:00Z)") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone (e.g. 2026-03-02T08:00:00Z)")
    return value


def topic_offset(text: str) -> tuple[tuple[str, int], int]:
    try:
        topic, partition, offset = text.rsplit(":", 2)
        return (topic, int(partition)), int(offset)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not TOPIC:PARTITION:OFFSET") from None


def rename(text: str) -> tuple[str, str]:
    old, sep, new = text.partition("=")
    if not sep or not old or not new:
        raise argparse.ArgumentTypeError(f"{text!r} is not OLD=NEW")
    return old, new


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value
