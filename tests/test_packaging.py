"""What a user installs: the wheel and the sdist, built with hatchling the way pip builds them, carry the licence, the
typing marker and the entry points of the pytest and Datasette plugins, and the extras keep tools apart."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tarfile
import zipfile
from configparser import ConfigParser
from dataclasses import dataclass
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from isrcdb import __version__

ROOT = Path(__file__).parent.parent
DIST = f"isrcdb-{__version__}"
ENTRY_POINTS = {
    "console_scripts": {
        "isrcdb": "isrcdb.cli:main",
        "isrcdb-spotify-replica": "isrcdb.testing.spotify.__main__:main",
    },
    "pytest11": {"isrcdb": "isrcdb.testing.pytest_plugin"},
    "datasette": {"isrcdb": "isrcdb.datasette_plugin"},
}


@dataclass(frozen=True)
class Built:
    wheel: zipfile.ZipFile
    sdist: tarfile.TarFile

    def wheel_text(self, name: str) -> str:
        return self.wheel.read(name).decode("utf-8")

    def sdist_text(self, name: str) -> str:
        member = self.sdist.extractfile(f"{DIST}/{name}")
        assert member is not None, name
        return member.read().decode("utf-8")

    def metadata(self) -> Message:
        return Parser().parsestr(self.wheel_text(f"{DIST}.dist-info/METADATA"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The sdist and the wheel, built once by hatchling's PEP 517 hooks from the checkout (no network)."""
    out = tmp_path_factory.mktemp("dist")
    build = "import sys, hatchling.build as b; b.build_sdist(sys.argv[1]); b.build_wheel(sys.argv[1])"
    subprocess.run([sys.executable, "-c", build, str(out)], cwd=ROOT, check=True, capture_output=True, timeout=300)
    return Built(zipfile.ZipFile(out / f"{DIST}-py3-none-any.whl"), tarfile.open(out / f"{DIST}.tar.gz"))


def test_the_licence_is_in_the_repository_the_wheel_and_the_sdist(built: Built) -> None:
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License\n\nCopyright (c) 2026 the isrcdb authors\n")
    assert built.wheel_text(f"{DIST}.dist-info/licenses/LICENSE") == licence
    assert built.sdist_text("LICENSE") == licence
    assert (built.metadata()["License-Expression"], built.metadata()["License-File"]) == ("MIT", "LICENSE")


def test_the_typing_marker_ships_in_the_wheel_and_the_sdist(built: Built) -> None:
    assert "isrcdb/py.typed" in built.wheel.namelist()
    assert built.sdist_text("isrcdb/py.typed") == ""
    assert "Typing :: Typed" in built.metadata().get_all("Classifier", [])


def test_the_wheel_declares_the_commands_and_both_plugins(built: Built) -> None:
    parser = ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # entry point names are case-sensitive
    parser.read_string(built.wheel_text(f"{DIST}.dist-info/entry_points.txt"))
    assert {group: dict(parser[group]) for group in parser.sections()} == ENTRY_POINTS


@pytest.mark.parametrize(
    "target", [target for entries in ENTRY_POINTS.values() for target in entries.values()], ids=str
)
def test_every_entry_point_names_something_that_imports(target: str) -> None:
    module, _, attribute = target.partition(":")
    loaded = importlib.import_module(module)
    assert not attribute or callable(getattr(loaded, attribute))


def test_the_wheel_carries_the_plugins_and_the_schema_descriptions(built: Built) -> None:
    names = set(built.wheel.namelist())
    assert {"isrcdb/datasette_plugin.py", "isrcdb/schema_doc.py", "isrcdb/testing/pytest_plugin.py"} <= names
    assert "isrcdb/cli/datasette.py" in names


def extras(metadata: Message) -> dict[str, set[str]]:
    """Each extra's requirements, by project name."""
    found: dict[str, set[str]] = {extra: set() for extra in metadata.get_all("Provides-Extra", [])}
    for line in metadata.get_all("Requires-Dist", []):
        requirement = Requirement(line)
        for extra in found:
            if requirement.marker is not None and requirement.marker.evaluate({"extra": extra}):
                found[extra].add(requirement.name.lower())
    return found


def test_the_extras_keep_development_tools_apart_from_what_tests_need(built: Built) -> None:
    by_extra = extras(built.metadata())
    assert set(by_extra) == {"datasette", "postgresql", "test", "dev"}
    assert by_extra["datasette"] == {"datasette"}
    assert by_extra["postgresql"] == {"psycopg"}
    needed = {"pytest", "pytest-timeout", "hypothesis", "jsonschema", "pyyaml", "datasette", "psycopg", "hatchling"}
    assert needed <= by_extra["test"]
    assert {"ruff", "mypy", "types-requests"} <= by_extra["dev"]
    assert by_extra["test"] & {"ruff", "mypy", "types-requests"} == set()


def test_the_metadata_says_where_the_project_lives(built: Built) -> None:
    urls = dict(url.split(", ", 1) for url in built.metadata().get_all("Project-URL", []))
    assert urls["Homepage"] == urls["Source"] == "https://github.com/isrcdb/isrcdb"
    assert all(url.startswith("https://github.com/isrcdb/isrcdb") for url in urls.values())
    assert "spotify" in (built.metadata()["Keywords"] or "").split(",")
