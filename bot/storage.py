"""File storage for logos and attachments: content-addressed files under CLIENTBOT_STORAGE_DIR.

Names are never trusted: a stored file's key comes from its SHA-256 and the type sniffed from its bytes."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from bot.errors import ValidationFailed

LOGO_MAX_BYTES = 2 * 1024 * 1024
_IMAGE_TYPES = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg")}


@dataclass(frozen=True)
class StoredFile:
    key: str
    sha256: str
    size: int
    mime: str


@dataclass(frozen=True)
class SniffedImage:
    mime: str
    extension: str
    width: int
    height: int


def sniff_image(content: bytes, *, field: str = "logo", max_bytes: int = LOGO_MAX_BYTES) -> SniffedImage:
    """Accept only a real PNG or JPEG no larger than `max_bytes`, judged by its content (Pillow)."""
    if len(content) > max_bytes:
        raise ValidationFailed({field: f"The image is larger than {max_bytes // (1024 * 1024)} MB."})
    try:
        with Image.open(io.BytesIO(content)) as image:
            kind = image.format
            image.verify()  # checks the data is a complete image of that kind
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValidationFailed({field: "That file is not a PNG or JPEG image."}) from None
    if kind not in _IMAGE_TYPES:
        raise ValidationFailed({field: f"Only PNG or JPEG images are accepted (this one is {kind})."})
    mime, extension = _IMAGE_TYPES[kind]
    return SniffedImage(mime=mime, extension=extension, width=width, height=height)


class LocalStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError("storage key escapes the storage directory")
        return path

    def put(self, content: bytes, *, kind: str, extension: str, mime: str) -> StoredFile:
        """Store bytes under `kind/aa/<sha256>.<ext>`; writing the same content twice is a no-op."""
        digest = hashlib.sha256(content).hexdigest()
        key = f"{kind}/{digest[:2]}/{digest}.{extension}"
        path = self._path(key)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(tmp, path)
        return StoredFile(key=key, sha256=digest, size=len(content), mime=mime)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).exists()
