"""Where archive files are kept: a directory (SAGASCOPE_ARCHIVE_DIR), or an S3-compatible
bucket where SAGASCOPE_ARCHIVE_BUCKET is set. Both store a file whole or not at all: the
directory by writing a temporary file, fsyncing and renaming it; a bucket because an
object PUT is atomic. Names are relative ("2026/11/29/sagas-....jsonl.gz")."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Protocol

from sagas import conf


class StoreError(Exception):
    """The archive store cannot be reached or refused the operation."""


class Store(Protocol):
    def put(self, name: str, data: bytes) -> None: ...
    def get(self, name: str) -> bytes: ...
    def exists(self, name: str) -> bool: ...
    def names(self, prefix: str = "") -> list[str]: ...
    def discard_partial(self, name: str) -> None: ...
    def where(self, name: str) -> str: ...


class DirectoryStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, name: str, data: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(temporary, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        # The rename is durable only once the directory's entry is on disk.
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def get(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    def exists(self, name: str) -> bool:
        return (self.root / name).is_file()

    def names(self, prefix: str = "") -> list[str]:
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return []
        return sorted(
            str(p.relative_to(self.root)) for p in base.rglob("sagas-*.jsonl.gz") if p.is_file()
        )

    def discard_partial(self, name: str) -> None:
        """Remove the temporary files a killed writer of `name` left (never the file)."""
        path = self.root / name
        for partial in path.parent.glob(f".{path.name}.*.tmp"):
            partial.unlink(missing_ok=True)

    def where(self, name: str) -> str:
        return str(self.root / name)


class BucketStore:
    """An S3-compatible bucket (AWS, MinIO, Ceph...), through boto3 (the `s3` extra);
    credentials as boto3 finds them (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY...)."""

    def __init__(self, url: str, endpoint_url: str | None = None) -> None:
        if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
            raise StoreError(f"SAGASCOPE_ARCHIVE_BUCKET must be s3://bucket[/prefix], not {url!r}")
        bucket, _, prefix = url[5:].partition("/")
        self.bucket, self.prefix = bucket, prefix.strip("/") + "/" if prefix.strip("/") else ""
        try:
            import boto3
        except ImportError:
            raise StoreError(
                "SAGASCOPE_ARCHIVE_BUCKET is set but boto3 is not installed: "
                "pip install 'sagascope[s3]'"
            ) from None
        self.client: Any = boto3.client("s3", endpoint_url=endpoint_url or None)

    def put(self, name: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self.prefix + name, Body=data, ContentType="application/gzip"
        )

    def get(self, name: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"].read()

    def exists(self, name: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def names(self, prefix: str = "") -> list[str]:
        found = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"][len(self.prefix) :]
                if name.rsplit("/", 1)[-1].startswith("sagas-"):
                    found.append(name)
        return sorted(found)

    def discard_partial(self, name: str) -> None:
        """A PUT leaves no partial object behind."""

    def where(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{name}"


def store() -> Store:
    """The configured store: the bucket if one is set, else the directory."""
    bucket = conf.archive_bucket()
    if bucket:
        return BucketStore(bucket, conf.archive_endpoint_url())
    return DirectoryStore(Path(conf.archive_dir()))
