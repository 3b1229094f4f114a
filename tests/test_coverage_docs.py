"""docs/coverage.md shows each provider's catalogue as it ships: every behaviour id with its title and how to
provoke it, none left out, none stale; each catalogue file loads (ids unique, every field present)."""
from __future__ import annotations

import re
from pathlib import Path

from simulator.core.coverage import load_catalogue

DOC = (Path(__file__).resolve().parents[1] / "docs" / "coverage.md").read_text()


def test_every_catalogue_entry_is_in_the_docs_table_and_nothing_else():
    rows = re.findall(r"^\| `([^`]+)` \| (.+?) \| (.+?) \| (.+?) \|$", DOC, re.MULTILINE)
    documented = [(ident, title, provoke.replace("\\|", "|"), via) for ident, title, provoke, via in rows]
    shipped = [(b.id, b.title, b.provoke, b.via) for package in ("simulator.bird", "simulator.business_chat")
               for b in load_catalogue(package)]
    assert documented == shipped


def _tallied(module_path: Path) -> set[str]:
    """Every behaviour id a counting module names: literal arguments of tally(...) calls and the values of its
    module-level tables."""
    import ast

    def ids(expr: ast.expr) -> set[str]:  # "a", or "a" if ... else "b"
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return {expr.value}
        if isinstance(expr, ast.IfExp):
            return ids(expr.body) | ids(expr.orelse)
        return set()

    tree = ast.parse(module_path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "tally":
            found |= ids(node.args[0])
    return found


def test_every_id_the_counting_code_names_is_in_its_catalogue():
    from simulator.bird import coverage as bird
    from simulator.business_chat import coverage as bc
    from simulator.core.coverage import webhook_behaviours
    from simulator.core.events import WebhookAttempted

    root = Path(bird.__file__).resolve().parents[1]
    outbox_ids = {i for flags in ((True, True, True, False, None, ""), (False, False, False, False, 500, ""),
                                  (False, False, False, False, None, "timeout"))
                  for i in webhook_behaviours(WebhookAttempted(1, "p", "e", "u", 1, flags[4], flags[5], flags[3], 0,
                                                               "", flags[0], flags[1], flags[2]))}
    assert outbox_ids == {"webhook.duplicate", "webhook.retried", "webhook.reordered", "webhook.unreachable",
                          "webhook.error_answer", "webhook.timeout"}
    for package, module, tables in (
            ("simulator.bird", root / "bird" / "coverage.py", (bird.API_ERRORS, bird.BY_FAILURE_CODE)),
            ("simulator.business_chat", root / "business_chat" / "coverage.py",
             (bc.SENT, bc.ANSWERED, bc.BY_CODE, bc.BY_STATUS))):
        ids = {b.id for b in load_catalogue(package)}
        named = _tallied(module) | {v for table in tables for v in table.values()} | outbox_ids
        assert named <= ids, (package, sorted(named - ids))
        assert len(named) > 10
