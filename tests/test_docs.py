"""Documentation cannot drift from the commands: every command has help with an example, every option is explained,
and every command is in the README.

The commands are found by walking the command tree Typer builds, so a new command is checked without touching this
file; the ones users are told about are listed too, so that one cannot disappear unnoticed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from isrcdb.cli import app
from tests.conftest import Cli

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"

EXPECTED = ["lookup", "db path", "db current", "db upgrade", "import", "sync", "query", "export", "stats"]


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Every runnable command under ``command``, as ("db path", command)."""
    children = getattr(command, "commands", None)
    if children is None:
        yield " ".join(path), command
        return
    for name, child in sorted(children.items()):
        if not getattr(child, "hidden", False):
            yield from walk(child, (*path, name))


COMMANDS = dict(walk(get_command(app)))
NAMES = sorted(set(COMMANDS) | set(EXPECTED))


def command(name: str) -> Any:
    if name not in COMMANDS:
        pytest.fail(f"there is no command 'isrcdb {name}' (found: {', '.join(sorted(COMMANDS))})")
    return COMMANDS[name]


@pytest.mark.parametrize("name", NAMES)
def test_every_command_has_help_with_an_example(name: str) -> None:
    text = command(name).help or ""
    summary = text.strip().splitlines()[0] if text.strip() else ""
    assert summary, f"isrcdb {name} has no help text"
    assert re.search(rf"^\s*Example: isrcdb {re.escape(name)}\b", text, re.MULTILINE), (
        f"isrcdb {name}'s help has no line 'Example: isrcdb {name} ...'"
    )


@pytest.mark.parametrize("name", NAMES)
def test_every_commands_help_page_shows_its_example(cli: Cli, name: str) -> None:
    command(name)
    result = cli(*name.split(), "--help")
    assert (result.exit_code, result.stderr) == (0, "")
    assert f"Example: isrcdb {name}" in " ".join(result.stdout.split())


@pytest.mark.parametrize("name", NAMES)
def test_every_option_and_argument_is_explained(name: str) -> None:
    unexplained = [
        param.name
        for param in command(name).params
        if param.name not in ("help",) and not getattr(param, "hidden", False) and not getattr(param, "help", None)
    ]
    assert unexplained == [], f"isrcdb {name}: no help for {', '.join(unexplained)}"


@pytest.mark.parametrize("name", NAMES)
def test_every_command_is_in_the_readme(name: str) -> None:
    command(name)
    readme = README.read_text(encoding="utf-8")
    assert re.search(rf"\bisrcdb {re.escape(name)}\b", readme), f"README.md never mentions 'isrcdb {name}'"


def test_the_readme_points_to_the_schema_documentation() -> None:
    assert "docs/schema.md" in README.read_text(encoding="utf-8")
