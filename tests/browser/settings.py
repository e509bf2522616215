"""Settings of the daphne and worker processes the browser tests start."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.browser.showcase"]
SAGASCOPE_OVERVIEW_REFRESH_SECONDS = 0.5
SAGASCOPE_OUTBOX_POLL_SECONDS = 0.5
SAGASCOPE_STUCK_AFTER = {"shipment": 2}  # so the overview lists the saga left waiting
