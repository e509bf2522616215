"""Test settings: the project's, plus a test app whose sagas count their effects."""

import os

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SAGASCOPE_POLL_INTERVAL = 0.05
# Workers evaluate no alert rules unless a test says so (tests/alerts/, or a spawned
# process with SAGASCOPE_ALERTS=1): their threads would write beside every other test.
SAGASCOPE_ALERTS = os.environ.get("SAGASCOPE_ALERTS", "0") == "1"
# Workers prune nothing unless a test says so (tests/retention/, or SAGASCOPE_PRUNE=1).
SAGASCOPE_PRUNE = os.environ.get("SAGASCOPE_PRUNE", "0") == "1"
SAGASCOPE_ARCHIVE_DIR = os.environ.get("SAGASCOPE_ARCHIVE_DIR", str(BASE_DIR / "var" / "archive"))  # noqa: F405
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Times in the logs of the processes the tests spawn, to read a chaos run afterwards.
    "formatters": {"timed": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "timed"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

# A file, not SQLite's shared in-memory database: worker threads then lock and wait the way
# they do in production instead of failing with "database table is locked".
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    (BASE_DIR / "var").mkdir(exist_ok=True)  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test.sqlite3")}  # noqa: F405
