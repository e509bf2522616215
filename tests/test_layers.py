"""The floors of the code, as import-linter contracts in pyproject.toml: the engine imports
nothing above it, sagas never imports the dashboard, and each floor uses only those below.
A broken contract fails here with the chain of imports that breaks it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_import_contract_is_kept():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports; "
            "raise SystemExit(lint_imports(no_cache=True))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def is_test_module(module: str) -> bool:
    tail = module.rsplit(".", 1)[-1]
    return tail.startswith("test_") or tail == "conftest"


def imports_of_test_modules(path: Path) -> list[str]:
    """The test modules (test_*.py, conftest.py) that `path` imports: a test module's helpers
    belong in a helper module or a fixture, so moving a test never breaks another."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if is_test_module(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if is_test_module(module):
                found.append(module)
            # `from . import conftest` names a module; `from x import test_y` may name a function
            folder = path.parent.joinpath(*[".."] * max(node.level - 1, 0))
            if node.level and not node.module:
                found += [a.name for a in node.names if (folder / f"{a.name}.py").exists()]
    return found


def test_no_test_module_imports_another():
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if (found := imports_of_test_modules(path))
    }
    assert offenders == {}


def test_the_check_sees_an_import_of_a_test_module(tmp_path):
    probe = tmp_path / "test_probe.py"
    (tmp_path / "conftest.py").write_text("")
    probe.write_text(
        "from .test_views import embedded\nfrom . import conftest\nimport tests.test_layers\n"
        "from tests.processes import test_database_url\n"  # a function, not a module
    )
    assert imports_of_test_modules(probe) == [".test_views", "conftest", "tests.test_layers"]
