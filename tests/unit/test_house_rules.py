"""House rules that keep the package honest: public API, pure modules, CLI help, one error tree."""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer.main

import qbfailover
from qbfailover import errors

PACKAGE_DIR = Path(qbfailover.__file__).parent

# Modules whose public classes users handle directly (results, health, settings, items, errors).
API_MODULES = ("client", "config", "errors", "health", "items")
# Judgement without I/O: a test (or a user) can run them with no network, no database, no clock.
PURE_MODULES = ("breaker", "health", "items")
FORBIDDEN_IMPORTS = frozenset({"httpx", "sqlite3", "asyncio", "socket", "subprocess", "time"})


def public_classes(module: ModuleType) -> set[str]:
    return {
        name
        for name, obj in inspect.getmembers(module, inspect.isclass)
        if obj.__module__ == module.__name__ and not name.startswith("_")
    }


# --- (a) the public API ----------------------------------------------------------------------------


def test_all_is_sorted_unique_and_resolvable() -> None:
    """qbfailover.__all__ is sorted, has no duplicates, and every name in it exists."""
    names = list(qbfailover.__all__)
    assert names == sorted(names), "keep __all__ sorted"
    assert len(names) == len(set(names))
    missing = [n for n in names if not hasattr(qbfailover, n)]
    assert not missing, f"__all__ names that do not exist: {missing}"


@pytest.mark.parametrize("module_name", API_MODULES)
def test_all_exports_every_public_class(module_name: str) -> None:
    """Every public class of the API modules (errors, client results, health, settings, items) is exported."""
    module = importlib.import_module(f"qbfailover.{module_name}")
    missing = sorted(public_classes(module) - set(qbfailover.__all__))
    assert not missing, f"export these from qbfailover (or make them private with _): {missing}"
    for name in public_classes(module):
        assert getattr(qbfailover, name) is getattr(module, name)


def test_all_exports_the_entry_points() -> None:
    """The functions a workflow script starts from are exported, and so is the version."""
    assert {"load_settings", "parse_item", "__version__"} <= set(qbfailover.__all__)


# --- (b) pure modules --------------------------------------------------------------------------------


def imports_of(module_name: str) -> Iterator[tuple[str, int]]:
    """(top-level module, line) for every import in a package module, nested imports included."""
    path = PACKAGE_DIR / f"{module_name}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                yield node.module.split(".")[0], node.lineno
            elif node.level == 1 and node.module:
                yield f".{node.module.split('.')[0]}", node.lineno
            elif node.level == 1:
                for alias in node.names:
                    yield f".{alias.name}", node.lineno


def forbidden_imports(module_name: str, seen: set[str] | None = None) -> list[str]:
    """Forbidden imports of a module and of every package module it imports, transitively."""
    seen = set() if seen is None else seen
    if module_name in seen:
        return []
    seen.add(module_name)
    found: list[str] = []
    for name, line in imports_of(module_name):
        if name.startswith("."):
            found += forbidden_imports(name[1:], seen)
        elif name in FORBIDDEN_IMPORTS:
            found.append(f"{module_name}.py:{line} imports {name}")
    return found


@pytest.mark.parametrize("module_name", PURE_MODULES)
def test_pure_modules_import_no_io(module_name: str) -> None:
    """Pure modules (and what they import) never import httpx, sqlite3, asyncio, socket, subprocess, time."""
    assert (PACKAGE_DIR / f"{module_name}.py").is_file()
    assert forbidden_imports(module_name) == []


def test_import_checker_sees_forbidden_imports() -> None:
    """The checker itself is not blind: it finds the I/O imports of client.py."""
    assert any("imports httpx" in f or "imports asyncio" in f for f in forbidden_imports("client"))


# --- (c) CLI help ----------------------------------------------------------------------------------


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


# --- (d) the error tree -------------------------------------------------------------------------------


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
