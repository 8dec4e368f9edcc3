"""House rules that keep the package honest: layers, pure core, public API, CLI help, one error tree."""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer.main

import qbfailover
from qbfailover import errors

PACKAGE_DIR = Path(qbfailover.__file__).parent
REPO = PACKAGE_DIR.parents[1]

# Modules whose public classes users handle directly (results, health, settings, items, errors).
API_MODULES = (
    *("core.outcomes", "engine.client", "config.model", "errors", "core.health", "core.items"),
    *("api.spec_client", "api.vpn_checker"),
)
# The layers, lowest first: a module may import only from its own layer or from lower ones.
LAYERS = (
    *("errors", "atomicfile", "core", "config", "qbt", "ledger", "observe", "engine"),
    *("api", "gateway", "ops", "cli"),
)
# What pure decision code never touches: the network, the database, processes, the event loop, the
# environment, the clock.
FORBIDDEN_IN_CORE = frozenset({"httpx", "sqlite3", "socket", "subprocess", "asyncio", "os", "time"})
MAX_LINES = 400


@dataclass(frozen=True)
class Module:
    """One source module of the package, parsed once."""

    name: str  # dotted, relative to qbfailover: "core.items", "cli" (a package's __init__)
    path: Path
    tree: ast.Module

    @property
    def layer(self) -> str:
        return self.name.split(".")[0]


@cache
def modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if not parts or parts == ["__main__"]:
            continue  # the package root re-exports the public API; __main__ only calls the CLI
        found[".".join(parts)] = Module(".".join(parts), path, ast.parse(path.read_text(encoding="utf-8")))
    return found


def imports_of(module: Module) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import, nested and TYPE_CHECKING ones included.

    Package modules come back relative to qbfailover ("core.items"); others by their top name.
    """
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield _local(alias.name), node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{module.path}:{node.lineno}: use absolute imports"
            base = _local(node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                yield (sub if sub in modules() else base), node.lineno


def _local(dotted: str) -> str:
    if dotted == "qbfailover":
        return ""
    if dotted.startswith("qbfailover."):
        return dotted.removeprefix("qbfailover.")
    return dotted.split(".")[0]


def package_imports() -> Iterator[tuple[Module, str, int]]:
    for module in modules().values():
        for target, line in imports_of(module):
            if target == "" or target in modules():
                yield module, target, line


# --- (a) layers and arrows ------------------------------------------------------------------------


def test_every_module_sits_in_a_known_layer() -> None:
    """Each module belongs to one of the layers, so its place in the architecture is explicit."""
    stray = sorted(m.name for m in modules().values() if m.layer not in LAYERS)
    assert not stray, f"modules outside the layers {LAYERS}: {stray}"


def test_imports_point_down_the_layers() -> None:
    """A module imports only its own layer or lower ones (core never imports the engine, ...)."""
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    upward = [
        f"{m.path.relative_to(REPO)}:{line} ({m.layer}) imports {target}"
        for m, target, line in package_imports()
        if target and rank[target.split(".")[0]] > rank[m.layer]
    ]
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_no_module_imports_the_package_root() -> None:
    """Inside the package, names come from the module that defines them, not from qbfailover/__init__."""
    root = [
        f"{m.path.relative_to(REPO)}:{node.lineno}"
        for m in modules().values()
        for node in ast.walk(m.tree)
        if isinstance(node, ast.ImportFrom)
        and node.module == "qbfailover"
        and not all(a.name.startswith("__") for a in node.names)  # __version__ lives in the root
    ]
    assert not root, "import from the defining module instead: " + ", ".join(root)


def test_no_import_circles() -> None:
    """The module import graph (lazy imports too) has no cycle."""
    graph: dict[str, set[str]] = {name: set() for name in modules()}
    for m, target, _ in package_imports():
        if target and target != m.name:
            graph[m.name].add(target)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name)):
            pytest.fail("import circle: " + " -> ".join(cycle))


def test_circle_checker_is_not_blind() -> None:
    """The walk sees real arrows: the engine imports core and the ledger."""
    targets = {t for m, t, _ in package_imports() if m.name == "engine.client"}
    assert any(t.startswith("core.") for t in targets)
    assert any(t.startswith("ledger.") for t in targets)


# --- (b) the pure core ------------------------------------------------------------------------------


def test_core_imports_no_io() -> None:
    """Modules under core/ import no httpx, sqlite3, socket, subprocess, asyncio, os or time."""
    core = [m for m in modules().values() if m.layer == "core"]
    assert len(core) >= 5
    found = [
        f"{m.path.relative_to(REPO)}:{line} imports {target}"
        for m in core
        for target, line in imports_of(m)
        if target in FORBIDDEN_IN_CORE
    ]
    assert not found, "\n".join(found)


def test_core_checker_is_not_blind() -> None:
    """The same check finds the I/O imports of the engine."""
    engine = modules()["engine.probes"]
    assert {"asyncio", "httpx"} <= {t for t, _ in imports_of(engine)}


# --- (c) size, privacy, one way of doing a thing ------------------------------------------------------


def test_no_module_over_the_size_limit() -> None:
    """No source module is longer than 400 lines: past that, split it by concern."""
    long = {m.name: n for m in modules().values() if (n := len(m.path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def private_names_defined(module: Module) -> set[str]:
    """Private names a module defines itself: functions, classes, attributes, arguments."""
    names: set[str] = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_no_module_uses_another_modules_private_names() -> None:
    """A private name (``_x``) is used only in the module that defines it: not imported, not reached into."""
    found: list[str] = []
    for m in modules().values():
        own = private_names_defined(m)
        for node in ast.walk(m.tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qbfailover"):
                found += [
                    f"{m.path.relative_to(REPO)}:{node.lineno} imports {a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
            elif (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and node.attr not in own
            ):
                found.append(f"{m.path.relative_to(REPO)}:{node.lineno} uses .{node.attr}")
    assert not found, "\n".join(found)


def test_one_atomic_write_helper() -> None:
    """Only atomicfile.py replaces files (write to a temp file, fsync, rename): one way, tested once."""
    users = sorted(
        m.name
        for m in modules().values()
        for node in ast.walk(m.tree)
        if isinstance(node, ast.Attribute)
        and node.attr in {"replace", "rename"}
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )
    assert users == ["atomicfile"], f"use qbfailover.atomicfile instead of os.replace in: {users}"


def test_pyproject_links_resolve() -> None:
    """Every repository file that pyproject.toml mentions exists."""
    text = (REPO / "pyproject.toml").read_text()
    mentioned = {word.strip("(),;:\"'") for word in text.split() if word.endswith(".md") or "docs/" in word}
    missing = sorted(w for w in mentioned if w and not (REPO / w).exists())
    assert not missing, f"pyproject.toml mentions files that do not exist: {missing}"


# --- (d) the public API and its documentation ----------------------------------------------------------


def public_classes(module: ModuleType) -> set[str]:
    return {
        name
        for name, obj in inspect.getmembers(module, inspect.isclass)
        if obj.__module__ == module.__name__ and not name.startswith("_")
    }


def test_all_is_sorted_unique_and_resolvable() -> None:
    """qbfailover.__all__ is sorted, has no duplicates, and every name in it exists."""
    names = list(qbfailover.__all__)
    assert names == sorted(names), "keep __all__ sorted"
    assert len(names) == len(set(names))
    missing = [n for n in names if not hasattr(qbfailover, n)]
    assert not missing, f"__all__ names that do not exist: {missing}"


@pytest.mark.parametrize("module_name", API_MODULES)
def test_all_exports_every_public_class(module_name: str) -> None:
    """Every public class of the API modules (errors, results, health, settings, items) is exported."""
    module = importlib.import_module(f"qbfailover.{module_name}")
    missing = sorted(public_classes(module) - set(qbfailover.__all__))
    assert not missing, f"export these from qbfailover (or make them private with _): {missing}"
    for name in public_classes(module):
        assert getattr(qbfailover, name) is getattr(module, name)


def test_all_exports_the_entry_points() -> None:
    """The functions a workflow script starts from are exported, and so is the version."""
    assert {"load_settings", "parse_item", "__version__"} <= set(qbfailover.__all__)


def test_every_exported_name_is_documented() -> None:
    """Each class and function in qbfailover.__all__ has a docstring of its own."""
    bare = [
        n
        for n in qbfailover.__all__
        if (inspect.isclass(obj := getattr(qbfailover, n)) or inspect.isfunction(obj))
        and not (inspect.getdoc(obj) or "").strip()
    ]
    assert not bare, f"exported without a docstring: {bare}"


def undocumented(module: Module) -> Iterator[str]:
    """Public functions, classes and methods of public classes that have no docstring."""

    def check(body: list[ast.stmt], prefix: str) -> Iterator[str]:
        for node in body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if node.name.startswith("_"):
                continue
            if ast.get_docstring(node) is None and not _is_overload(node):
                yield f"{module.path.relative_to(REPO)}:{node.lineno} {prefix}{node.name}"
            if isinstance(node, ast.ClassDef):
                yield from check(node.body, f"{prefix}{node.name}.")

    yield from check(module.tree.body, "")


def _is_overload(node: ast.AST) -> bool:
    decorators = getattr(node, "decorator_list", [])
    return any(isinstance(d, ast.Name) and d.id == "overload" for d in decorators)


def test_every_public_definition_has_a_docstring() -> None:
    """Every public function, class and method says why it exists (a concise docstring)."""
    missing = [line for m in modules().values() for line in undocumented(m)]
    assert not missing, f"{len(missing)} public definitions without a docstring:\n" + "\n".join(missing)


def test_every_package_says_what_it_is_for() -> None:
    """Each sub-package's __init__ has a docstring naming its role in the layout."""
    bare = [
        p.parent.name
        for p in PACKAGE_DIR.glob("*/__init__.py")
        if not (ast.get_docstring(ast.parse(p.read_text())) or "").strip()
    ]
    assert not bare, f"packages without a docstring: {bare}"


# --- (e) CLI help ----------------------------------------------------------------------------------


def walk(command: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, command
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        yield from walk(sub, f"{path} {name}")


def cli_commands() -> list[tuple[str, Any]]:
    from qbfailover.cli import app

    return list(walk(typer.main.get_command(app), "qbfailover"))


def test_cli_has_commands() -> None:
    """The walk sees the real command tree (add, status, queue and its sub-commands)."""
    paths = {path for path, _ in cli_commands()}
    assert {"qbfailover add", "qbfailover status", "qbfailover queue", "qbfailover queue drain"} <= paths


def test_every_command_has_help() -> None:
    """Every command and sub-command has help text (qbfailover CMD --help is never empty)."""
    missing = [path for path, cmd in cli_commands() if not (cmd.help or cmd.short_help or "").strip()]
    assert not missing, f"commands without help: {missing}"


def test_every_option_and_argument_has_help() -> None:
    """Every visible option and argument of every command says what it is for."""
    missing = [
        f"{path} {param.name}"
        for path, cmd in cli_commands()
        for param in cmd.params
        if not getattr(param, "hidden", False) and not (getattr(param, "help", None) or "").strip()
    ]
    assert not missing, f"parameters without help: {missing}"


# --- (f) the error tree -------------------------------------------------------------------------------


def error_classes() -> dict[str, type]:
    return {
        name: obj
        for name, obj in vars(errors).items()
        if inspect.isclass(obj) and obj.__module__ == errors.__name__
    }


def test_every_error_is_a_qbfailover_error() -> None:
    """Every class in errors.py subclasses QbFailoverError, which subclasses Exception."""
    classes = error_classes()
    assert len(classes) >= 10
    assert issubclass(errors.QbFailoverError, Exception)
    outside = [name for name, cls in classes.items() if not issubclass(cls, errors.QbFailoverError)]
    assert not outside, f"errors outside the tree: {outside}"


def test_every_error_is_drawn_and_documented() -> None:
    """Each error class appears in the tree drawn in errors.py's docstring and has a one-line docstring."""
    tree = errors.__doc__ or ""
    for name, cls in error_classes().items():
        assert name in tree, f"{name} is missing from the tree in errors.py's docstring"
        doc = (cls.__doc__ or "").strip()
        assert doc and "\n" not in doc, f"{name} needs a one-line docstring"


def test_every_error_is_catchable_from_the_package() -> None:
    """Every error class can be imported from qbfailover itself."""
    assert set(error_classes()) <= set(qbfailover.__all__)
