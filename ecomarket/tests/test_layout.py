"""The repository's layout: the test and dev harness (harness/) stays out of the product. No module a server runs
imports it, so a deployment (the Docker image copies no harness/) never needs it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HARNESS = "harness"


def _product_packages() -> list[Path]:
    """Every Django app the project installs (the Dockerfile's test counts them the same way)."""
    return sorted(path.parent for path in ROOT.glob("*/apps.py"))


def _is_test_module(path: Path) -> bool:
    return "tests" in path.parts or path.name == "conftest.py"


def _modules(*, tests: bool) -> list[Path]:
    found = [ROOT / "manage.py"] if not tests else []
    for package in _product_packages():
        found += [path for path in package.rglob("*.py") if _is_test_module(path.relative_to(ROOT)) == tests]
    return found


def _harness_uses(path: Path) -> list[str]:
    """Where the module names the harness: ``import harness...``, ``from harness... import``, or a dotted path in a
    string (``importlib.import_module("harness.x")``, a setting that names a class), at any depth of the module."""
    uses = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value]
        else:
            continue
        uses += [
            f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
            for name in names
            if name == HARNESS or name.startswith(f"{HARNESS}.")
        ]
    return uses


def test_no_product_module_imports_the_harness():
    modules = _modules(tests=False)
    assert len(modules) > 50  # the whole product, not an empty glob
    assert [use for path in modules for use in _harness_uses(path)] == []


def test_the_check_finds_the_harness_where_the_tests_use_it():
    """The scan above would pass on an empty or broken walk: here it must find the imports the tests do make."""
    uses = [use for path in _modules(tests=True) for use in _harness_uses(path)]
    assert any(use.startswith("ecomarket/tests/conftest.py:") and "harness.processes" in use for use in uses)
