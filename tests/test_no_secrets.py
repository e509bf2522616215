"""No secret is committed: a SECRET_KEY literal is only ever the documented development
default, which `check --deploy` refuses, and nothing in the repository looks like a real
key or token."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from sagas.checks import PUBLISHED_SECRET_KEYS

ROOT = Path(__file__).resolve().parent.parent

# The development default the settings fall back to; docker-compose.yml has none (a test
# there says so). check --deploy refuses it as an error (sagas/checks.py).
DEVELOPMENT_DEFAULTS = {"django-insecure-sagascope-development-key-only"}

# Shapes of real credentials: private keys, cloud and forge tokens, our own API tokens.
CREDENTIALS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "sagascope API token": re.compile(r"\bsgs_[A-Za-z0-9_-]{40,}"),
}
# Each way a literal can become the key: assigned (Python, YAML, env files, Dockerfile
# ENV), a fallback after reading the environment, a shell default in compose.
SECRET_KEY_VALUES = [
    re.compile(r"""\bSECRET_KEY["']?\s*[=:]\s*["']([^"'\s]{8,})["']"""),
    re.compile(r"""\bSECRET_KEY=([^\s"'$]{8,})"""),
    re.compile(r"""["']SECRET_KEY["']\)?[ \t]*(?:,|or)[ \t]*["']([^"']+)["']"""),
    re.compile(r"""\$\{SECRET_KEY:?-([^}]*)\}"""),
]


def committed_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return [ROOT / name.decode() for name in listed if name]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
        return None  # images and other binaries


def test_secret_key_literals_are_only_the_development_defaults():
    found = {}
    for path in committed_files():
        text = text_of(path)
        for pattern in SECRET_KEY_VALUES:
            for match in pattern.finditer(text or ""):
                found.setdefault(match.group(1), []).append(str(path.relative_to(ROOT)))
    # Equal, not a subset: a pattern that stopped matching would make this test blind.
    assert set(found) == DEVELOPMENT_DEFAULTS, found
    assert DEVELOPMENT_DEFAULTS <= PUBLISHED_SECRET_KEYS  # so a deployment cannot use it


def test_nothing_committed_looks_like_a_credential():
    leaks = [
        f"{path.relative_to(ROOT)}: {kind}"
        for path in committed_files()
        for kind, pattern in CREDENTIALS.items()
        if pattern.search(text_of(path) or "")
    ]
    assert not leaks
