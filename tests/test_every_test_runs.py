"""`make test` collects every app's tests: a new app (or a new folder of tests) that the test
paths leave out fails here, the day it is added, instead of silently never running.

Worked example: before this test, pyproject.toml's testpaths named core, usage, credits,
billing and tests, so audit's 24 tests never ran.
"""

import tomllib
from pathlib import Path

from django.apps import apps
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# Run by their own command in scripts/run_tests.py (plain Python, no Django).
SEPARATE_SUITES = {"client"}
NOT_SOURCE = {".venv", ".git", "var", "staticfiles", "node_modules", "bench"}


def _testpaths() -> list[Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [ROOT / path for path in config["tool"]["pytest"]["ini_options"]["testpaths"]]


def _is_under(path: Path, folders: list[Path]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


def test_every_test_file_of_the_project_is_under_a_collected_path():
    collected = _testpaths()
    left_out = [
        path.relative_to(ROOT)
        for path in ROOT.rglob("test_*.py")
        if not (set(path.relative_to(ROOT).parts) & NOT_SOURCE)
        and path.relative_to(ROOT).parts[0] not in SEPARATE_SUITES
        and not _is_under(path, collected)
    ]
    assert left_out == [], f"test files pytest never collects (add their app to testpaths): {left_out}"


def test_every_app_of_ours_has_tests_and_they_are_collected():
    ours = [
        config
        for config in apps.get_app_configs()
        if ROOT in Path(config.path).parents
        and not (set(Path(config.path).relative_to(ROOT).parts) & NOT_SOURCE)
    ]
    assert {config.name for config in ours} >= {"core", "audit", "usage", "credits", "billing"}
    collected = _testpaths()
    for config in ours:
        tests = Path(config.path) / "tests"
        assert (tests / "__init__.py").exists(), f"app {config.name} has no tests package"
        assert _is_under(tests, collected), f"app {config.name}'s tests are not in pyproject testpaths"
