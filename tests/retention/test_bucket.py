"""Archives in an S3-compatible bucket: moto's S3 server on a real socket, spoken to over
HTTP by boto3, as a MinIO or AWS endpoint would be. The same round trip as the directory,
and a pruner killed with SIGKILL after storing its file archives nothing twice."""

from __future__ import annotations

import io
import signal
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from django.core.management import call_command

from sagas.models import PruneBatch, SagaInstance
from sagas.services import archive, retention
from sagas.services.archive_stores import BucketStore, StoreError

from .crashing_prune import spawn as pruner
from .scenarios import days, finished, latest_finish

pytestmark = pytest.mark.django_db(transaction=True)

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")


@pytest.fixture
def bucket(settings, monkeypatch, tmp_path) -> Iterator[tuple[str, str]]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"
    # moto keeps its buckets per process, across servers: a bucket of this test's own.
    name = f"sagas-{uuid.uuid4().hex[:12]}"
    for variable, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SAGASCOPE_ARCHIVE_BUCKET": f"s3://{name}/prod",
        "SAGASCOPE_ARCHIVE_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(variable, value)  # the spawned pruner reads them too
    settings.SAGASCOPE_ARCHIVE_BUCKET = f"s3://{name}/prod"
    settings.SAGASCOPE_ARCHIVE_ENDPOINT_URL = endpoint
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    yield endpoint, name
    server.stop()


def keys(bucket: tuple[str, str]) -> list[str]:
    endpoint, name = bucket
    listed = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=name)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_pruned_sagas_go_to_the_bucket_and_come_back(bucket, tmp_path):
    done, refused = finished(("ledger", {}), ("ledger", {"fail_at": "b"}))
    assert retention.prune(latest_finish() + days(31)).sagas == 2
    (key,) = keys(bucket)
    assert key.startswith(f"prod/{done.finished_at:%Y/%m/%d}/sagas-") and key.endswith(".gz")
    assert not (tmp_path / "archive").exists()  # nothing went to the directory
    out = io.StringIO()
    call_command("archive_show", "--id", str(refused.id), stdout=out, stderr=io.StringIO())
    assert f"saga {refused.id}  ledger  compensated" in out.getvalue()
    name = archive.files()[0]
    out = io.StringIO()
    call_command("archive_load", name, "--id", str(done.id), stdout=out)
    assert f"loaded {done.id} (read-only)" in out.getvalue()
    assert SagaInstance.objects.get().status == "completed"


@pytest.mark.postgres
@pytest.mark.slow
def test_a_pruner_killed_after_storing_its_object_archives_nothing_twice(bucket, tmp_path):
    sagas = finished(*[("ledger", {}) for _ in range(20)])
    now = latest_finish() + days(31)
    process = pruner(now, tmp_path / "pruner.log", CRASH_AT="written", CRASH_BATCH="1")
    assert process.wait(60) == -signal.SIGKILL, (tmp_path / "pruner.log").read_text()
    assert PruneBatch.objects.count() == 1 and len(keys(bucket)) == 1
    assert retention.prune(now, size=10).recovered == 1
    archived = Counter(r["saga"]["id"] for n in archive.files() for r in archive.read_stored(n))
    assert archived == Counter(str(s.id) for s in sagas)
    assert not SagaInstance.objects.exists()


def test_a_wrong_bucket_setting_says_what_is_wrong():
    with pytest.raises(StoreError, match="s3://bucket"):
        BucketStore("sagas-archive")
