"""The live list under a query: a socket is sent only the sagas the query matches, which
the database confirms (a row alone does not carry the input a query reads)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from channels.db import database_sync_to_async

from tests.factories import settle, start, worker
from tests.sockets import communicator, run

# A worker runs: it claims by the database clock, which a test transaction would freeze.
pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 20  # seconds a frame may take on a busy machine; a bound, not a measurement


def test_the_live_list_sends_only_the_sagas_a_query_matches(operator):
    async def scenario():
        params = urlencode({"q": 'input.country = "AQ"'})
        ws = communicator(f"/ws/sagas/?{params}", operator)
        assert (await ws.connect(timeout=WAIT))[0]
        assert (await ws.receive_json_from(timeout=WAIT))["rows"] == []
        kept = await database_sync_to_async(start)("ledger", {"country": "AQ"})
        await database_sync_to_async(start)("ledger", {"country": "FR"})
        await database_sync_to_async(settle)(worker())
        sent = set()
        while not await ws.receive_nothing(timeout=1.0):
            frame = await ws.receive_json_from(timeout=WAIT)
            sent |= {row["id"] for row in frame.get("sagas", [])}
        assert sent == {str(kept.id)}
        await ws.disconnect()

    run(scenario)
