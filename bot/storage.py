"""File storage for logos and attachments: content-addressed files under CLIENTBOT_STORAGE_DIR.

Names are never trusted: a stored file's key comes from its SHA-256 and the type sniffed from its bytes."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from bot.errors import ValidationFailed

LOGO_MAX_BYTES = 2 * 1024 * 1024
ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
ALLOWED_ATTACHMENTS = "PDF, Word (doc, docx), Excel (xlsx), PowerPoint (pptx), text, PNG, JPEG or email (eml)"
_OFFICE = {
    "word/document.xml": ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xl/workbook.xml": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "ppt/presentation.xml": (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
}
_HEADER_LINE = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*:[ \t]")
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


@dataclass(frozen=True)
class SniffedFile:
    mime: str
    extension: str


def sniff_attachment(
    content: bytes,
    *,
    field: str = "attachments",
    name: str = "the file",
    max_bytes: int = ATTACHMENT_MAX_BYTES,
) -> SniffedFile:
    """Identify an attachment by its bytes (magic numbers and structure), never by its name: PDF, Office
    Open XML (docx/xlsx/pptx), legacy Word (OLE2), PNG, JPEG, RFC 822 email, or plain UTF-8 text."""
    if len(content) > max_bytes:
        raise ValidationFailed({field: f"{name} is larger than {max_bytes // (1024 * 1024)} MB."})
    if content.startswith(b"%PDF-"):
        return SniffedFile("application/pdf", "pdf")
    if content.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile:
            names = set()
        for marker, (extension, mime) in _OFFICE.items():
            if marker in names and "[Content_Types].xml" in names:
                return SniffedFile(mime, extension)
    elif content.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return SniffedFile("application/msword", "doc")
    elif content.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):
        image = sniff_image(content, field=field, max_bytes=max_bytes)
        return SniffedFile(image.mime, image.extension)
    elif _looks_like_email(content):
        return SniffedFile("message/rfc822", "eml")
    elif _looks_like_text(content):
        return SniffedFile("text/plain", "txt")
    raise ValidationFailed({field: f"{name} is not an accepted file type: send {ALLOWED_ATTACHMENTS}."})


# What a file's declared type (Slack's `mimetype`) allows its sniffed content to be.
_CLAIMS = {
    "application/pdf": ({"pdf"}, "a PDF"),
    "image/png": ({"png", "jpg"}, "an image"),
    "image/jpeg": ({"png", "jpg"}, "an image"),
    "application/msword": ({"doc"}, "a Word document"),
    **{mime: ({ext}, f"an Office ({ext}) document") for ext, mime in _OFFICE.values()},
}
_HTML_START = (b"<!doctype html", b"<html", b"<head", b"<body")


def looks_like_html(content: bytes) -> bool:
    """An HTML page (say Slack's sign-in page) rather than a file's bytes."""
    return content[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith(_HTML_START)


def web_page_instead(name: str) -> str:
    return f"Slack sent a web page (its sign-in page) instead of {name}: clientbot can't open that file."


def claimed_type_problem(content: bytes, *, claimed_mime: str | None, name: str) -> str | None:
    """Why `content` is not the file it claims to be (judged by its bytes), or None when it is.

    An HTML page where the file is not HTML is refused whatever it claims; a file declared as a PDF, an
    image or an Office document that sniffs as another accepted type (text, say) is refused. Content of
    no accepted type, and other claims, are left to `sniff_attachment`."""
    claimed = (claimed_mime or "").split(";")[0].strip().lower()
    if looks_like_html(content) and claimed != "text/html":
        return web_page_instead(name)
    if claimed not in _CLAIMS:
        return None
    allowed, label = _CLAIMS[claimed]
    try:
        kind = sniff_attachment(content, name=name, max_bytes=len(content) + 1)
    except ValidationFailed:
        return None  # no accepted type at all: sniff_attachment says so where the file is stored
    if kind.extension not in allowed:
        return f"{name} is not {label}, as it claims to be: its content is {kind.mime}. Nothing was saved."
    return None


def _looks_like_text(content: bytes) -> bool:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(ord(ch) < 32 and ch not in "\t\n\r\f" for ch in text[:65536])


def _looks_like_email(content: bytes) -> bool:
    head = content[:16384].split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    lines = [line for line in head.splitlines() if line and not line[:1].isspace()]
    names = {line.split(b":", 1)[0].lower() for line in lines if _HEADER_LINE.match(line)}
    return (
        bool(lines)
        and all(_HEADER_LINE.match(line) for line in lines)
        and b"from" in names
        and bool(names & {b"subject", b"date", b"to"})
        and _looks_like_text(content)
    )


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
