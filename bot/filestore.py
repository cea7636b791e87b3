"""Where logos and attachments live: a local directory (`file:///path`, the embedded default) or any
S3-compatible bucket (`s3://bucket/prefix`: AWS S3, MinIO, Ceph RGW, R2), chosen by CLIENTBOT_STORAGE_URL.

Keys are content-addressed (`kind/aa/<sha256>.<ext>`), made here from the bytes and never taken from a user:
every key a backend touches must match `KEY`, so no key can name anything outside the store. Writes carry
their size and SHA-256 (S3: `Content-Length` and `x-amz-checksum-sha256`, so the server refuses bytes that
are not the ones hashed); reads are streamed in chunks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import mimetypes
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import unquote, urlsplit

from bot.telemetry import STORED_BYTES

CHUNK = 256 * 1024
KINDS = ("logos", "attachments")
KEY = re.compile(r"(logos|attachments)/([0-9a-f]{2})/(\2[0-9a-f]{62})\.([a-z0-9]{1,5})")


@dataclass(frozen=True)
class StoredFile:
    key: str
    sha256: str
    size: int
    mime: str


class StorageError(Exception):
    """A stored file that is missing, or whose bytes no longer match their hash."""


def checked_key(key: str) -> str:
    """`key` when it is one this store makes; ValueError otherwise (`../`, absolute paths, other names)."""
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise ValueError("not a storage key")
    return key


def key_for(digest: str, *, kind: str, extension: str) -> str:
    return checked_key(f"{kind}/{digest[:2]}/{digest}.{extension}")


def digest_of(key: str) -> str:
    return KEY.fullmatch(checked_key(key)).group(3)  # type: ignore[union-attr]


class Storage(Protocol):
    url: str

    async def put(self, content: bytes, *, kind: str, extension: str, mime: str) -> StoredFile: ...
    async def write(self, key: str, handle: IO[bytes], *, size: int, mime: str) -> None: ...
    def stream(self, key: str) -> AsyncIterator[bytes]: ...
    async def get(self, key: str, *, max_bytes: int | None = None) -> bytes: ...
    async def exists(self, key: str) -> bool: ...
    def stored_keys(self) -> AsyncIterator[str]: ...
    async def close(self) -> None: ...


class _Base:
    """What both backends share: content addressing, whole reads of small files (logos) and `put`."""

    url: str

    async def put(self, content: bytes, *, kind: str, extension: str, mime: str) -> StoredFile:
        """Store bytes under `kind/aa/<sha256>.<ext>`; writing the same content twice is a no-op."""
        digest = hashlib.sha256(content).hexdigest()
        key = key_for(digest, kind=kind, extension=extension)
        if not await self.exists(key):
            await self.write(key, io.BytesIO(content), size=len(content), mime=mime)
            STORED_BYTES.labels(kind).inc(len(content))
        return StoredFile(key=key, sha256=digest, size=len(content), mime=mime)

    async def get(self, key: str, *, max_bytes: int | None = None) -> bytes:
        """A whole (small) file: ValueError past `max_bytes`. Large files go through `stream`."""
        chunks, size = [], 0
        async for chunk in self.stream(key):  # type: ignore[attr-defined]
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise ValueError(f"{key} is larger than {max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def exists(self, key: str) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    async def write(self, key: str, handle: IO[bytes], *, size: int, mime: str) -> None:  # pragma: no cover
        raise NotImplementedError

    async def close(self) -> None:
        return None


class LocalStorage(_Base):
    """Files under a directory, written to a temporary name and renamed into place (never half-written)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.url = self.root.resolve().as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / checked_key(key)).resolve()
        if not path.is_relative_to(self.root.resolve()):  # belt and braces: KEY already forbids it
            raise ValueError("storage key escapes the storage directory")
        return path

    async def write(self, key: str, handle: IO[bytes], *, size: int, mime: str) -> None:
        await asyncio.to_thread(self._write, self._path(key), handle, size)

    @staticmethod
    def _write(path: Path, handle: IO[bytes], size: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                written = 0
                while chunk := handle.read(CHUNK):
                    written += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if written != size:
                raise StorageError(f"{path.name}: wrote {written} bytes, expected {size}")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise StorageError(f"{key} is not in the store") from None
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def stored_keys(self) -> AsyncIterator[str]:
        for kind in KINDS:
            for path in sorted(await asyncio.to_thread(lambda k=kind: list((self.root / k).glob("*/*")))):
                key = path.relative_to(self.root).as_posix()
                if KEY.fullmatch(key):
                    yield key


class S3Storage(_Base):
    """A bucket (and optional key prefix) of any S3-compatible store through aioboto3. Endpoint, region and
    credentials come from the usual AWS variables (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_PROFILE...); with a custom endpoint (MinIO, Ceph, R2) keys are addressed by
    path. One client per event loop, opened on first use."""

    def __init__(self, bucket: str, prefix: str = "") -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self._clients: dict[asyncio.AbstractEventLoop, tuple[Any, Any]] = {}

    async def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            import aioboto3
            from botocore.config import Config

            custom = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            config = Config(
                s3={"addressing_style": "path" if custom else "auto"},
                retries={"max_attempts": 3, "mode": "standard"},
                request_checksum_calculation="when_required",
            )
            manager = aioboto3.Session().client("s3", config=config)
            self._clients[loop] = (manager, await manager.__aenter__())
        return self._clients[loop][1]

    def _object(self, key: str) -> str:
        return self.prefix + checked_key(key)

    async def write(self, key: str, handle: IO[bytes], *, size: int, mime: str) -> None:
        digest = hashlib.sha256()
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
        handle.seek(0)
        if digest.hexdigest() != digest_of(key):
            raise StorageError(f"{key}: the bytes do not match their key")
        client = await self._client()
        await client.put_object(
            Bucket=self.bucket,
            Key=self._object(key),
            Body=handle,
            ContentLength=size,
            ContentType=mime,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
        )

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        client = await self._client()
        try:
            response = await client.get_object(Bucket=self.bucket, Key=self._object(key))
        except client.exceptions.NoSuchKey:
            raise StorageError(f"{key} is not in the store") from None
        body = response["Body"]
        try:
            async for chunk in body.iter_chunks(CHUNK):
                yield chunk
        finally:
            body.close()

    async def exists(self, key: str) -> bool:
        client = await self._client()
        try:
            await client.head_object(Bucket=self.bucket, Key=self._object(key))
        except client.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    async def stored_keys(self) -> AsyncIterator[str]:
        client = await self._client()
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) :]
                if KEY.fullmatch(key):
                    yield key

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        if loop in self._clients:
            manager, _client = self._clients.pop(loop)
            await manager.__aexit__(None, None, None)


def open_storage(url: str) -> LocalStorage | S3Storage:
    """The backend for `file:///path` (or a plain path) or `s3://bucket[/prefix]`."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError("CLIENTBOT_STORAGE_URL: s3://BUCKET[/PREFIX] needs a bucket")
        return S3Storage(parts.netloc, unquote(parts.path))
    if parts.scheme == "file":
        return LocalStorage(unquote(parts.path))
    if parts.scheme == "":
        return LocalStorage(url)
    raise ValueError(f"CLIENTBOT_STORAGE_URL: unsupported scheme {parts.scheme!r} (file:// or s3://)")


@dataclass
class MigrationResult:
    copied: int = 0
    skipped: int = 0
    bytes: int = 0


async def migrate(source: Storage, target: Storage, *, progress: Any = None) -> MigrationResult:
    """Copy every stored file from `source` to `target`, verifying each one's SHA-256 against its key on
    the way out of the source and again read back from the target. Files already in the target (same key:
    same content) are verified, not copied. Streams through a spooled temporary file; StorageError on any
    mismatch (nothing wrong is left under a valid key: the target refuses bytes that don't match)."""
    result = MigrationResult()
    async for key in source.stored_keys():
        if await target.exists(key):
            await verify(target, key)
            result.skipped += 1
        else:
            with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
                digest, size = hashlib.sha256(), 0
                async for chunk in source.stream(key):
                    digest.update(chunk)
                    size += len(chunk)
                    spool.write(chunk)
                if digest.hexdigest() != digest_of(key):
                    raise StorageError(f"{key} in {source.url} does not match its hash")
                spool.seek(0)
                mime = mimetypes.guess_type(key)[0] or "application/octet-stream"
                await target.write(key, spool, size=size, mime=mime)  # type: ignore[arg-type]
            await verify(target, key)
            result.copied += 1
            result.bytes += size
        if progress:
            progress(key)
    return result


async def verify(storage: Storage, key: str) -> int:
    """The size of a stored file whose bytes match the hash in its key; StorageError otherwise."""
    digest, size = hashlib.sha256(), 0
    async for chunk in storage.stream(key):
        digest.update(chunk)
        size += len(chunk)
    if digest.hexdigest() != digest_of(key):
        raise StorageError(f"{key} in {storage.url} does not match its hash")
    return size
