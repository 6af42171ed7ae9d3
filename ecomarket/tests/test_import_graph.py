"""No import cycle among the project's own modules, and the project package reaches into no app.

The graph is read from the source with ``ast``: every package at the repository's top level (a folder with an
``__init__.py``), without its tests and migrations; every import statement counts, at module level or inside a
function (an import deferred into a function hides a cycle, it does not remove it). ``from a import b`` is an edge
to ``a.b`` when that is a module, else to ``a``; a package's ``__init__`` is not counted as imported by its
submodules' importers (Python runs it, but the dependency a reader follows is on the submodule).
"""

import ast
from collections import deque
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
PROJECT = "ecomarket"

# Imports allowed to close a cycle until the change that owns them has merged: (importer, imported) -> why.
ALLOWED: dict[tuple[str, str], str] = {}


def project_modules() -> dict[str, Path]:
    modules = {}
    for init in sorted(ROOT.glob("*/__init__.py")):
        for path in sorted(init.parent.rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if {"tests", "migrations"} & set(parts) or parts[-1].startswith("test_") or parts[-1] == "conftest":
                continue
            if not all((ROOT.joinpath(*parts[:depth]) / "__init__.py").exists() for depth in range(1, len(parts))):
                continue  # a script folder inside a package, not importable as a module
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def import_graph(modules: dict[str, Path], *, ready_hooks: bool = True) -> dict[str, set[str]]:
    """Each module's imports of the others; without ``ready_hooks``, leaving out what a ``ready()`` method imports."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in _nodes(ast.parse(path.read_text(), str(path)), ready_hooks=ready_hooks):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [node.module])])
                targets = [_submodule_or(base, alias.name, modules) for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def _nodes(tree: ast.AST, *, ready_hooks: bool):
    """Every node of ``tree`` (``ast.walk``), or every one outside a ``def ready`` without ``ready_hooks``."""
    queue = deque([tree])
    while queue:
        node = queue.popleft()
        if not ready_hooks and isinstance(node, ast.FunctionDef) and node.name == "ready":
            continue
        yield node
        queue.extend(ast.iter_child_nodes(node))


def _submodule_or(base: str, name: str, modules: dict) -> str:
    """``from base import name``: the module ``base.name`` if there is one, else ``base``."""
    return f"{base}.{name}" if f"{base}.{name}" in modules else base


def _cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """The shortest cycle through ``start``, as a list of modules that begins and ends with it."""
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for target in sorted(graph[module]):
            if target == start:
                path = [module]
                while came_from[path[-1]] is not None:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if target not in came_from:
                came_from[target] = module
                queue.append(target)
    return None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle per group of modules that import each other, so each tangle is reported once."""
    found, seen = [], set()
    for module in sorted(graph):
        if module in seen:
            continue
        cycle = _cycle_through(graph, module)
        if cycle:
            found.append(cycle)
            seen |= {node for node in graph if _reaches(graph, module, node) and _reaches(graph, node, module)}
    return found


def _reaches(graph: dict[str, set[str]], source: str, target: str) -> bool:
    queue, seen = deque([source]), {source}
    while queue:
        module = queue.popleft()
        if module == target:
            return True
        for following in graph[module] - seen:
            seen.add(following)
            queue.append(following)
    return False


def test_the_project_modules_import_each_other_without_a_cycle():
    graph = import_graph(project_modules())
    for importer, imported in ALLOWED:
        graph[importer].discard(imported)

    found = cycles(graph)

    assert not found, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def test_the_graph_sees_imports_inside_functions_and_relative_ones(tmp_path):
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from shop import b\n")
    (package / "b.py").write_text("from .c import x\n")
    (package / "c.py").write_text("import shop.a\nx = 1\n")
    modules = {f"shop.{name}": package / f"{name}.py" for name in "abc"} | {"shop": package / "__init__.py"}

    assert cycles(import_graph(modules)) == [["shop.a", "shop.b", "shop.c", "shop.a"]]


def test_allowed_imports_still_exist():
    """An allow-list entry whose import is gone must go too, or it would let a new cycle in unseen."""
    graph = import_graph(project_modules())

    assert [edge for edge in ALLOWED if edge[1] not in graph.get(edge[0], set())] == []


# The project package (ecomarket/) may name an app's module only where Django wires the apps together: URL routing
# mounts each app's URLs, and an app's own AppConfig.ready() registers what it adds (its metrics, its readiness
# check); anything else an app offers reaches ecomarket/ that way, never by an import from here.
ROUTING = {"ecomarket.urls"}


def _apps() -> set[str]:
    return {path.parent.name for path in ROOT.glob("*/apps.py")} - {PROJECT}


def test_the_project_package_reaches_into_no_app_outside_ready_hooks_and_url_routing():
    graph = import_graph(project_modules(), ready_hooks=False)
    apps = _apps()

    reaches = sorted(
        (importer, imported)
        for importer, targets in graph.items()
        if importer.split(".")[0] == PROJECT and importer not in ROUTING
        for imported in targets
        if imported.split(".")[0] in apps
    )

    assert reaches == [], "ecomarket/ imports an app's module (register it from the app's AppConfig.ready())"


def test_the_reach_check_sees_an_import_outside_ready_and_none_inside(tmp_path):
    (tmp_path / "hooks.py").write_text(
        "from shop import a\nclass C:\n    def ready(self):\n        from shop import b\n"
    )
    modules = {"hooks": tmp_path / "hooks.py", "shop.a": tmp_path / "a.py", "shop.b": tmp_path / "b.py"}
    for name in ("a", "b"):
        (tmp_path / f"{name}.py").write_text("")

    assert import_graph(modules, ready_hooks=False)["hooks"] == {"shop.a"}
    assert import_graph(modules)["hooks"] == {"shop.a", "shop.b"}
