"""``docs/reliability.md`` cannot drift from the tests: every test it names exists, every reliability test is named."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"


def defined_tests(paths: list[Path]) -> set[str]:
    names = set()
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {
            node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        }
    return names


def test_every_test_the_document_names_exists() -> None:
    named = set(re.findall(r"\b(test_[a-z0-9_]+)\b(?!\.py)", DOC.read_text(encoding="utf-8")))
    files = set(re.findall(r"`(tests/[\w/]+\.py)", DOC.read_text(encoding="utf-8")))
    assert all((ROOT / file).is_file() for file in files), files
    missing = named - defined_tests(sorted((ROOT / "tests").rglob("test_*.py")))
    assert missing == set()


def test_every_reliability_test_is_named_in_the_document() -> None:
    text = DOC.read_text(encoding="utf-8")
    tests = defined_tests(sorted(Path(__file__).parent.glob("test_*.py"))) - defined_tests([Path(__file__)])
    assert {name for name in tests if name not in text} == set()
