"""Rules of the house that a reader cannot be trusted to keep by hand: no object's method is replaced at run time,
and core names no provider's tables (docs/architecture.md)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

SIMULATOR = Path(__file__).resolve().parents[1] / "simulator"


def _functions(tree: ast.Module) -> set[str]:
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def _callable_value(value: ast.expr, functions: set[str]) -> bool:
    if isinstance(value, ast.Lambda):
        return True
    if isinstance(value, ast.Name) and value.id in functions:
        return True
    if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name) and value.value.id == "self":
        return True  # a bound method handed to another object's attribute
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in (
        "partial", "wraps", "MethodType")


def test_no_method_of_another_object_is_replaced_at_run_time() -> None:
    found = []
    for path in sorted(SIMULATOR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = _functions(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            else:
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
                        and len(node.args) == 3 and _callable_value(node.args[2], functions)):
                    found.append(f"{path.relative_to(SIMULATOR)}:{node.lineno}: setattr with a callable")
                continue
            for target in targets:
                owner = target.value if isinstance(target, ast.Attribute) else None
                if owner is None or (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                    continue
                if _callable_value(value, functions):
                    found.append(f"{path.relative_to(SIMULATOR)}:{node.lineno}: {ast.unparse(target)} = "
                                 f"{ast.unparse(value)}")
    assert found == []


def test_the_rule_catches_what_it_is_for() -> None:
    source = "def wrapped(): pass\nobj.send = wrapped\nrouter.middleware_stack = lambda s: s\nx.y = 1\n"
    tree = ast.parse(source)
    functions = _functions(tree)
    assigned = [n for n in ast.walk(tree) if isinstance(n, ast.Assign)]
    assert [_callable_value(n.value, functions) for n in assigned] == [True, True, False]


def test_core_names_no_provider_table() -> None:
    provider_tables = re.compile(r"\b(bird|bc|ui)_[a-z_]+\b")
    offenders = []
    for path in sorted((SIMULATOR / "core").glob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if provider_tables.search(code):
                offenders.append(f"core/{path.name}:{number}: {line.strip()}")
    assert offenders == []
