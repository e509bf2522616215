"""The engine's one outward hook: committed saga events, for whoever pushes them live.

The engine imports nothing from the dashboard; the dashboard connects a receiver. Receivers
run after commit, and a failing receiver is logged, never raised into the saga's path.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import transaction
from django.dispatch import Signal

if TYPE_CHECKING:
    from sagas.models import SagaEvent, SagaInstance

log = logging.getLogger(__name__)

# Sent with `events`: the SagaEvent rows of one committed transaction, in id order; and
# `sagas`: the SagaInstance rows that transaction wrote, as written (some or none of the
# events' sagas), so a receiver need not read back what the writer already holds.
saga_events_committed = Signal()


def publish_events_on_commit(
    events: Sequence[SagaEvent], sagas: Sequence[SagaInstance] = ()
) -> None:
    batch, rows = list(events), list(sagas)

    def send() -> None:
        results = saga_events_committed.send_robust(sender=None, events=batch, sagas=rows)
        for receiver, result in results:
            if isinstance(result, Exception):
                log.warning("saga event receiver %r failed: %s", receiver, result)

    transaction.on_commit(send)
