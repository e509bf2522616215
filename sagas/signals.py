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
    from sagas.models import SagaEvent

log = logging.getLogger(__name__)

# Sent with `events`: the SagaEvent rows of one committed transaction, in id order.
saga_events_committed = Signal()


def publish_events_on_commit(events: Sequence[SagaEvent]) -> None:
    batch = list(events)

    def send() -> None:
        for receiver, result in saga_events_committed.send_robust(sender=None, events=batch):
            if isinstance(result, Exception):
                log.warning("saga event receiver %r failed: %s", receiver, result)

    transaction.on_commit(send)
