"""A pruner that kills itself with SIGKILL at a chosen point of its Nth batch (test
machinery: it wraps the service from outside). Run by tests/retention/test_prune_crash.py:

    CRASH_AT=journaled|renaming|written|deleted CRASH_BATCH=2 \
        python -m tests.retention.crashing_prune
"""

from __future__ import annotations

import os
import signal
from datetime import datetime

import django


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
