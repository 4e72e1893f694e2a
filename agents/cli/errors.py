"""One way for every command to refuse a user error: a one-line message that names the fix, exit 2."""

from __future__ import annotations

from pathlib import Path


class UsageError(Exception):
    """A user error: main prints `error: <message>` on one line and exits 2 (no traceback)."""


def existing_file(path: Path, what: str = "") -> Path:
    """The path if it is a readable file; else UsageError naming the option."""
    label = f"{what} {path}" if what else str(path)
    if path.is_dir():
        raise UsageError(f"{label} is a folder, not a file")
    if not path.is_file():
        raise UsageError(f"{label} does not exist")
    return path
