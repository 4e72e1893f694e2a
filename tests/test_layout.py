"""The house rules, read from the code's own imports: nothing imports upward, no circle anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("schemas", "engine", "agents", "benchmarks", "devstack", "models")
# What each top-level package may import of this project (besides itself).
ALLOWED: dict[str, set[str]] = {
    "schemas": set(),
    "devstack": set(),
    "models": set(),
    "engine": {"schemas"},
    "agents": {"engine", "schemas", "devstack"},
    "benchmarks": {"agents", "engine", "schemas", "devstack"},
}


def imports_of(path: Path) -> set[str]:
    """Every project module a file imports, lazily or not (dotted names)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.split(".")[0] in PROJECT}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("package", list(ALLOWED))
def test_no_package_imports_upward(package: str) -> None:
    """Each package imports only the floors below it: engine never agents, agents never benchmarks, ..."""
    wrong = {
        f"{module_name(path)} -> {name}"
        for path in (ROOT / package).rglob("*.py")
        for name in imports_of(path)
        if name.split(".")[0] not in ALLOWED[package] | {package}
    }
    assert not wrong, sorted(wrong)


def test_no_import_circle_between_modules() -> None:
    """No module reaches itself through top-level imports (devstack's old stack <-> kafka circle included)."""
    modules = {module_name(p): p for package in ALLOWED for p in (ROOT / package).rglob("*.py")}
    graph = {name: {i for i in imports_of(path) if i in modules and i != name} for name, path in modules.items()}
    # Importing a package runs its __init__, which is not an edge back to a submodule unless it imports one.
    state: dict[str, int] = {}
    circles: list[str] = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1 and not name.startswith(target + "."):
                circles.append(" -> ".join([*trail[trail.index(target):], target]) if target in trail else target)
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, circles


def test_engine_has_no_command_line() -> None:
    """The CLI lives in agents/cli (the `engine` console script); engine/ keeps no __main__.py."""
    assert not (ROOT / "engine" / "__main__.py").exists()
    assert (ROOT / "agents" / "cli" / "main.py").is_file()
    assert 'engine = "agents.cli.main:main"' in (ROOT / "pyproject.toml").read_text()


def test_every_folder_says_what_lives_there() -> None:
    """Each package's __init__.py opens with a docstring of what it holds and what it may import."""
    for package in ALLOWED:
        for init in (ROOT / package).rglob("__init__.py"):
            doc = ast.get_docstring(ast.parse(init.read_text()))
            assert doc and "import" in doc.lower(), f"{init.relative_to(ROOT)}: say what it may import"
