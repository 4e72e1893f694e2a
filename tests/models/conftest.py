"""Fixtures: the tiny Granite files, built once per test session into a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.tiny_granite import F32_NAME, build_tiny_granite


@pytest.fixture(scope="session")
def tiny_granite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(F32 path, Q4_K_M path) of the seed-0 tiny model."""
    f32 = tmp_path_factory.getbasetemp() / "tiny-granite" / F32_NAME
    return f32, build_tiny_granite(f32)
