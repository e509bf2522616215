"""Turns committed SagaEvents into channel-layer messages: the one place pushes come from.

It runs after commit (sagas.signals), in whatever process committed: a worker, a web
process serving the API or an operator's action, the demo. Each committed batch becomes one
message to the feed group (a row per saga changed, read back from the database as it now
stands) and one hint per saga to that saga's group. Pushes are hints: a browser that misses
one catches up from the SagaEvent table by id. Nothing here may raise into the saga's path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from sagas.models import SagaEvent, SagaInstance
from sagas.serializers import SUMMARY_FIELDS

from .. import payloads
from .publisher import Message, publisher

log = logging.getLogger(__name__)

FEED_GROUP = "sagascope.feed"
FEED_MESSAGE = "sagas.changed"
SAGA_MESSAGE = "saga.changed"


def saga_group(saga_id: object) -> str:
    return f"sagascope.saga.{saga_id}"


def on_events_committed(
    sender: object,
    events: Sequence[SagaEvent],
    sagas: Sequence[SagaInstance] = (),
    **kwargs: Any,
) -> None:
    """Receiver of sagas.signals.saga_events_committed."""
    try:
        publisher.publish(messages_for(events, sagas))
    except Exception:
        log.warning("could not build live messages for %d event(s)", len(events), exc_info=True)


def messages_for(
    events: Sequence[SagaEvent], written: Sequence[SagaInstance] = ()
) -> list[Message]:
    """The feed message and the per-saga hints for `events`; the rows the committing
    transaction wrote (`written`, read right after its commit, so as committed) are used as
    they are, and only the other sagas are read back: no query on a worker's hot path."""
    committed_at = time.time()  # on_commit runs right after COMMIT: the push latency's origin
    latest: dict[str, int] = {}
    for event in events:
        if event.saga_id is None:
            continue  # a reply for no known saga: nobody watches it, and it is no saga id
        saga_id = str(event.saga_id)
        latest[saga_id] = max(latest.get(saga_id, 0), event.id or 0)
    if not latest:
        return []
    known = {
        str(row.id): row
        for row in written
        if not row.get_deferred_fields().intersection(SUMMARY_FIELDS)
    }
    rows = [known[saga_id] for saga_id in latest if saga_id in known]
    unknown = [saga_id for saga_id in latest if saga_id not in known]
    if unknown:
        rows += SagaInstance.objects.filter(id__in=unknown).only(*SUMMARY_FIELDS)
    # Each row says when it committed, so a browser (or bench/live_latency.py) can tell
    # how stale what it shows is.
    sagas = [
        {**payloads.list_row(saga, event_id=latest[str(saga.id)]), "committed_at": committed_at}
        for saga in rows
    ]
    messages: list[Message] = [
        (FEED_GROUP, {"type": FEED_MESSAGE, "sagas": sagas, "committed_at": committed_at})
    ]
    for saga_id, event_id in latest.items():
        messages.append(
            (
                saga_group(saga_id),
                {
                    "type": SAGA_MESSAGE,
                    "saga": saga_id,
                    "event_id": event_id,
                    "committed_at": committed_at,
                },
            )
        )
    return messages
