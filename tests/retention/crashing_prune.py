"""A pruner that kills itself with SIGKILL at a chosen point of its Nth batch (test
machinery: it wraps the service from outside). Run by tests/retention/test_prune_crash.py:

    CRASH_AT=journaled|renaming|written|deleted CRASH_BATCH=2 \
        python -m tests.retention.crashing_prune
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import django
from django.conf import settings as django_settings

from tests import processes
from tests.processes import ROOT


def spawn(now, log: Path, **env: str) -> subprocess.Popen:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": processes.test_database_url(),
        "SAGASCOPE_ARCHIVE_DIR": django_settings.SAGASCOPE_ARCHIVE_DIR,
        "PRUNE_NOW": now.isoformat(),
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.retention.crashing_prune"],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from sagas.services import archive, retention

    point = os.environ.get("CRASH_AT", "")
    nth = int(os.environ.get("CRASH_BATCH", "1"))
    seen = {"journaled": 0, "renaming": 0, "written": 0, "deleted": 0}

    def die_at(where: str) -> None:
        seen[where] += 1
        if where == point and seen[where] == nth:
            print(f"SIGKILL {where} at batch {nth}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    write, finish = archive.write, retention.finish

    def writing(relative, lines):
        die_at("journaled")  # the batch is journaled, its file not yet written
        path = write(relative, lines)
        die_at("written")  # the file is in place, the sagas not yet deleted
        return path

    def finishing(journal):
        result = finish(journal)
        die_at("deleted")  # the batch is deleted and its journal gone
        return result

    replace = os.replace

    def renaming(source, target):
        die_at("renaming")  # the temporary file is written and fsynced, not yet renamed
        return replace(source, target)

    archive.write, retention.finish, os.replace = writing, finishing, renaming
    now = datetime.fromisoformat(os.environ["PRUNE_NOW"])
    summary = retention.prune(now, size=int(os.environ.get("PRUNE_BATCH", "10")))
    print(f"done: {summary}", flush=True)


if __name__ == "__main__":
    main()
