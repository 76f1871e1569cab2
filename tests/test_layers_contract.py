"""The layers contract of `make lint` (pyproject's [tool.importlinter]) fails on a new
back-import: run against a copy of the package where a low module imports a higher app."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def _lint(source: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    shutil.copy(ROOT / "pyproject.toml", cwd / "pyproject.toml")
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(source)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "sarafan",
        source / "sarafan",
        ignore=shutil.ignore_patterns("__pycache__", "locale", "static", "templates"),
    )
    return source


def test_the_contract_holds_on_the_package_as_it_is(copy, tmp_path):
    linted = _lint(copy, tmp_path)
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        ("core/money.py", "sarafan.tracking.models"),  # ground imports the top of the domain
        ("campaigns/services.py", "sarafan.referrals.services"),  # domain imports upward
        ("rewards/services.py", "sarafan.analytics.selectors"),
    ],
)
def test_a_new_back_import_breaks_the_contract(copy, tmp_path, module, imported):
    path = copy / "sarafan" / module
    path.write_text(path.read_text() + f"\nimport {imported}  # noqa\n")

    linted = _lint(copy, tmp_path)

    assert linted.returncode == 1, linted.stdout
    assert "BROKEN" in linted.stdout and imported in linted.stdout


# Modules that compose apps and may import any of them (the contract's own ignores).
INTERFACE = re.compile(r"^sarafan\.\w+\.(admin|api|console|tasks|handlers|management)(\.|$)")


def _domain_apps() -> list[str]:
    layers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = layers["contracts"][0]
    return [app.strip() for layer in contract["layers"][1:] for app in layer.split(":")]


def test_no_two_apps_import_each_other_from_domain_modules():
    """The layers contract implies it; this says it outright, on the package as it is, with no
    exception: the contract's ignores name interface modules only."""
    graph = grimp.build_graph("sarafan")
    apps = _domain_apps()

    def app_of(module: str) -> str | None:
        return next((app for app in apps if module == app or module.startswith(app + ".")), None)

    edges: set[tuple[str, str]] = set()
    for importer in graph.modules:
        source = app_of(importer)
        if source is None or INTERFACE.match(importer) or ".migrations." in importer:
            continue
        for imported in graph.find_modules_directly_imported_by(importer):
            target = app_of(imported)
            if target is not None and target != source:
                edges.add((source, target))
    both_ways = sorted((a, b) for a, b in edges if (b, a) in edges and a < b)
    assert both_ways == []
