"""What may be stored as a logo or an attachment, judged by the bytes; where files are kept: bot.filestore
(content-addressed keys under CLIENTBOT_STORAGE_URL).

Names are never trusted: a stored file's key comes from its SHA-256 and the type sniffed from its bytes."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath

import magic
import olefile
from PIL import Image, UnidentifiedImageError

from bot.errors import ValidationFailed
from bot.filestore import LocalStorage, S3Storage, Storage, StoredFile, open_storage

__all__ = ["LocalStorage", "S3Storage", "Storage", "StoredFile", "open_storage"]

LOGO_MAX_BYTES = 2 * 1024 * 1024
# A logo is drawn 30 x 18 mm: 2048 px a side is plenty, and decoding one costs at most 16 MB (RGBA).
LOGO_MAX_SIDE = 2048
# Attachments are stored and handed back, never decoded here; a photo from a phone is under 50 Mpx.
ATTACHMENT_MAX_PIXELS = 60_000_000
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
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# What a handed-back file may be called, per stored type: any other extension gets the right one appended.
_NAME_EXTENSIONS = {
    "pdf": {"pdf"},
    "docx": {"docx"},
    "xlsx": {"xlsx"},
    "pptx": {"pptx"},
    "doc": {"doc"},
    "png": {"png"},
    "jpg": {"jpg", "jpeg"},
    "eml": {"eml"},
    "txt": {"txt", "text", "csv", "md", "log"},
}
# Names that Windows, macOS or a browser would run, open as a web page or load with macros: refused whatever
# the bytes look like (a PowerShell script is plain text to libmagic).
_RUNNABLE_EXTENSIONS = frozenset(
    """exe com scr pif cpl dll sys drv ocx msi msp mst msix msixbundle appx appxbundle application gadget
    bat cmd ps1 psm1 psd1 ps1xml psc1 vb vbs vbe js jse mjs wsf wsh wsc sct hta htm html xhtml shtml mht
    mhtml svg svgz xml xsl jar jnlp class lnk url scf reg inf ins isp settingcontent-ms library-ms
    search-ms chm hlp msc diagcab sh bash zsh csh ksh command tool app dmg pkg apk deb rpm run bin elf py
    pyw pyc pl rb php asp aspx jsp cgi iso img vhd vhdx docm dotm xlsm xltm xlam xll pptm potm ppam ppsm
    sldm accde mde ade""".split()
)
_RESERVED_NAMES = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(1, 10)), *(f"lpt{n}" for n in range(1, 10))}
)
NAME_MAX_CHARS = 120
# Office Open XML containers: what a genuine docx/xlsx/pptx holds, and bounds against zip bombs.
ZIP_MAX_ENTRIES = 2000
ZIP_MAX_UNPACKED = 200 * 1024 * 1024
ZIP_MAX_RATIO = 200
_OOXML_COMMON = ("_rels/", "docProps/", "customXml/")
_OOXML_PART_SUFFIXES = frozenset(
    """.xml .rels .vml .png .jpeg .jpg .jpe .jfif .gif .bmp .tif .tiff .emf .wmf .emz .wmz .svg .wdp
    .odttf .fntdata .ttf .mp3 .m4a .wav .mp4 .m4v""".split()
)
_OOXML_EMBEDDED = {".docx", ".xlsx", ".pptx"}
_OOXML_MACROS = re.compile(rb"macroEnabled|vbaProject|vbaData|ms-office\.activeX", re.IGNORECASE)
_MSI_CLSIDS = {"000C1084-0000-0000-C000-000000000046", "000C1086-0000-0000-C000-000000000046"}
_OLE_MACRO_STORAGES = {"macros", "_vba_project_cur", "vba", "_vba_project"}
# Text that a browser, a shell or Windows would run: refused even when named .txt.
_SCRIPT_MIMES = (
    "text/html",
    "text/xml",
    "text/javascript",
    "text/x-javascript",
    "text/vbscript",
    "text/x-vbscript",
    "text/x-msdos-batch",
    "text/x-shellscript",
    "text/x-script",
    "text/x-python",
    "text/x-perl",
    "text/x-php",
    "text/x-ruby",
    "text/x-tcl",
    "text/x-lua",
    "text/x-awk",
    "text/x-nawk",
    "text/x-gawk",
    "image/svg+xml",
    "application/xhtml+xml",
    "application/xml",
    "application/javascript",
    "application/x-shellscript",
)
_PROGRAM_MIMES = (
    "application/x-dosexec",
    "application/x-msdownload",
    "application/x-msi",
    "application/x-ms-installer",
    "application/x-executable",
    "application/x-pie-executable",
    "application/x-sharedlib",
    "application/x-mach-binary",
    "application/x-java-applet",
    "application/java-archive",
)


@dataclass(frozen=True)
class SniffedImage:
    mime: str
    extension: str
    width: int
    height: int


def sniff_image(
    content: bytes,
    *,
    field: str = "logo",
    max_bytes: int = LOGO_MAX_BYTES,
    max_side: int | None = LOGO_MAX_SIDE,
    max_pixels: int | None = None,
) -> SniffedImage:
    """Accept only a real PNG or JPEG no larger than `max_bytes`, and no larger than `max_side` pixels a side
    (or `max_pixels` in all), judged by its content (Pillow). The size is read from the header, before any
    pixel is decoded, so an image bomb costs nothing."""
    if len(content) > max_bytes:
        raise ValidationFailed({field: f"The image is larger than {max_bytes // (1024 * 1024)} MB."})
    what = "The logo" if field == "logo" else "The image"
    try:
        with Image.open(io.BytesIO(content)) as image:
            kind = image.format
            width, height = image.size
            too_big = (max_side is not None and max(width, height) > max_side) or (
                max_pixels is not None and width * height > max_pixels
            )
            if not too_big:
                image.verify()  # checks the data is a complete image of that kind
    except Image.DecompressionBombError:
        too_big, width, height = True, 0, 0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, zlib.error):
        raise ValidationFailed({field: "That file is not a PNG or JPEG image."}) from None
    if too_big:
        size = f"{width}×{height} pixels" if width else "far too many pixels"
        limit = f"at most {max_side}×{max_side}" if max_side else f"at most {max_pixels // 1_000_000} Mpx"
        raise ValidationFailed({field: f"{what} is {size}: use one of {limit}."})
    if kind not in _IMAGE_TYPES:
        raise ValidationFailed({field: f"Only PNG or JPEG images are accepted (this one is {kind})."})
    mime, extension = _IMAGE_TYPES[kind]
    return SniffedImage(mime=mime, extension=extension, width=width, height=height)


def bounded_logo(content: bytes, *, max_side: int = LOGO_MAX_SIDE, out_side: int = 600) -> bytes | None:
    """A stored logo made safe to draw: None when its header claims more than `max_side` pixels a side (a
    logo stored before uploads were bounded: decoding it could take gigabytes), otherwise a PNG at most
    `out_side` pixels a side (30 mm at 500 dpi)."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            if max(image.size) > max_side:
                return None
            image.thumbnail((out_side, out_side))
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            return buffer.getvalue()
    except (Image.DecompressionBombError, UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None


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
    """Identify an attachment by its bytes with libmagic, then look inside containers: PDF, Office Open XML
    (docx/xlsx/pptx: only a document's own parts, no macros, no programs, no zip bomb), legacy Word (OLE2 with
    a Word stream: not an installer, no macros), PNG, JPEG, RFC 822 email, or plain UTF-8 text (not a script,
    web page or SVG). A name that Windows would run (.exe, .ps1, .hta...) is refused whatever the bytes."""
    label = safe_filename(name) if name != "the file" else name
    if len(content) > max_bytes:
        raise ValidationFailed({field: f"{label} is larger than {max_bytes // (1024 * 1024)} MB."})
    suffix = _suffix(name)
    if suffix in _RUNNABLE_EXTENSIONS:
        raise ValidationFailed(
            {field: f"{label} is a program, script or web page (.{suffix}), which can't be attached."}
        )
    if not content:
        return SniffedFile("text/plain", "txt")  # an empty file is harmless (and mail clients send them)
    mime = magic.from_buffer(content, mime=True)
    if mime.startswith(_PROGRAM_MIMES):
        raise ValidationFailed({field: f"{label} is a program ({mime}), not an accepted file type."})
    if content.startswith(b"%PDF-"):
        return SniffedFile("application/pdf", "pdf")
    if content.startswith(b"PK\x03\x04"):
        extension, office_mime = inspect_ooxml(content, field=field, name=label)
        return SniffedFile(office_mime, extension)
    if content.startswith(_OLE2_MAGIC):
        inspect_ole2(content, field=field, name=label)
        return SniffedFile("application/msword", "doc")
    if content.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):
        image = sniff_image(
            content, field=field, max_bytes=max_bytes, max_side=None, max_pixels=ATTACHMENT_MAX_PIXELS
        )
        return SniffedFile(image.mime, image.extension)
    if mime.startswith(_SCRIPT_MIMES):
        raise ValidationFailed(
            {field: f"{label} is a script or web page ({mime}), not plain text, so it can't be attached."}
        )
    textual = mime.startswith("text/") or mime in ("message/rfc822", "application/json")
    if textual and _looks_like_email(content):
        return SniffedFile("message/rfc822", "eml")
    if textual and _looks_like_text(content):
        # Source code, CSV, JSON, notes: kept as plain text, handed back under a .txt-family name.
        return SniffedFile("text/plain", "txt")
    raise ValidationFailed({field: f"{label} is not an accepted file type: send {ALLOWED_ATTACHMENTS}."})


def _suffix(name: str) -> str:
    base = re.split(r"[/\\]", name or "")[-1].strip().rstrip(". ")
    return base.rpartition(".")[2].lower() if "." in base else ""


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed({field: message})


def inspect_ooxml(content: bytes, *, field: str = "attachments", name: str = "the file", depth: int = 0):
    """(extension, mime) of a genuine Word/Excel/PowerPoint Open XML file; ValidationFailed otherwise.

    Only the central directory is read (plus [Content_Types].xml and embedded Office files, each bounded),
    so a zip bomb is refused by its declared sizes without being unpacked. CPU-bound: callers off the event
    loop."""
    damaged = f"{name} is damaged or is not a Word, Excel or PowerPoint file."
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            entries = archive.infolist()
            if len(entries) > ZIP_MAX_ENTRIES:
                raise _refuse(field, f"{name} holds {len(entries)} parts: more than a document has.")
            names = [e.filename for e in entries]
            if len(set(names)) != len(names):
                raise _refuse(field, damaged)
            kind = [value for marker, value in _OFFICE.items() if marker in names]
            if len(kind) != 1 or "[Content_Types].xml" not in names:
                raise _refuse(field, f"{name} is a zip archive, not a Word, Excel or PowerPoint file.")
            extension, mime = kind[0]
            root = {"docx": "word/", "xlsx": "xl/", "pptx": "ppt/"}[extension]
            if sum(e.file_size for e in entries) > ZIP_MAX_UNPACKED or any(
                e.file_size > 1024 * 1024 and e.file_size > ZIP_MAX_RATIO * max(e.compress_size, 1)
                for e in entries
            ):
                raise _refuse(field, f"{name} unpacks to far more than its size (a zip bomb).")
            for entry in entries:
                _check_ooxml_part(archive, entry, root=root, field=field, name=name, depth=depth)
    except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, ValueError, zlib.error):
        raise _refuse(field, damaged) from None
    return extension, mime


def _check_ooxml_part(
    archive: zipfile.ZipFile, entry: zipfile.ZipInfo, *, root: str, field: str, name: str, depth: int
) -> None:
    path = entry.filename
    parts = PurePosixPath(path).parts
    if path.startswith("/") or "\\" in path or ".." in parts or entry.flag_bits & 0x1:
        raise _refuse(field, f"{name} is damaged or is not a Word, Excel or PowerPoint file.")
    if path.endswith("/"):
        return  # a folder entry
    lowered = path.lower()
    base = lowered.rsplit("/", 1)[-1]
    suffix = "." + base.rpartition(".")[2] if "." in base else ""
    if base in ("vbaproject.bin", "vbadata.xml", "vbaprojectsignature.bin"):
        raise _refuse(field, f"{name} contains macros, which can't be attached; save it without them.")
    if path == "[Content_Types].xml":
        if entry.file_size > 1024 * 1024:
            raise _refuse(field, f"{name} is damaged or is not a Word, Excel or PowerPoint file.")
        if _OOXML_MACROS.search(archive.read(entry)):
            raise _refuse(field, f"{name} contains macros, which can't be attached; save it without them.")
        return
    if not path.startswith((root, *_OOXML_COMMON)):
        raise _refuse(field, f"{name} holds {_shown(path)}, which is not part of an Office document.")
    if suffix in _OOXML_PART_SUFFIXES or (suffix == ".bin" and "/printersettings/" in f"/{lowered}"):
        return
    if suffix in _OOXML_EMBEDDED and depth == 0 and "/embeddings/" in lowered:
        with archive.open(entry) as part:
            inner = part.read(ATTACHMENT_MAX_BYTES + 1)
        inspect_ooxml(inner, field=field, name=name, depth=depth + 1)
        return
    raise _refuse(field, f"{name} holds {_shown(path)}, which is not part of an Office document.")


def _shown(path: str) -> str:
    return safe_filename(path.replace("/", "∕"))[:80]


def inspect_ole2(content: bytes, *, field: str = "attachments", name: str = "the file") -> None:
    """Accept an OLE2 compound file only when it is a Word 97-2003 document (a WordDocument stream starting
    with the Word signature) without macros or embedded packages: an MSI installer, a macro workbook or any
    other compound file is refused."""
    try:
        with olefile.OleFileIO(content) as ole:
            entries = ole.listdir(streams=True, storages=True)
            clsid = (ole.root.clsid or "").upper()
            lowered = {"/".join(e).lower() for e in entries}
            is_word = "worddocument" in lowered and ole.openstream("WordDocument").read(2) == b"\xec\xa5"
    except Exception:  # olefile raises many kinds on hostile bytes; any of them means "not a Word file"
        raise _refuse(field, f"{name} is damaged or is not a Word document.") from None
    if clsid in _MSI_CLSIDS:
        raise _refuse(field, f"{name} is a Windows installer (MSI), which can't be attached.")
    if not is_word:
        raise _refuse(field, f"{name} is not a Word document; send {ALLOWED_ATTACHMENTS}.")
    if any(part in _OLE_MACRO_STORAGES for e in entries for part in (p.lower() for p in e)):
        raise _refuse(field, f"{name} contains macros, which can't be attached; save it without them.")
    if any(e[-1].lower() in ("\x01ole10native", "package") for e in entries):
        raise _refuse(field, f"{name} has an embedded program package, which can't be attached.")


def safe_filename(name: str | None, extension: str | None = None) -> str:
    """The name a stored file is shown and handed back under: the last path part only, no control or
    direction-changing characters, nothing Windows forbids, at most NAME_MAX_CHARS characters, and (when
    `extension` is given) ending in an extension that matches what the bytes are."""
    base = unicodedata.normalize("NFC", name or "")
    base = re.split(r"[/\\]", base)[-1]
    # Control, format (right-to-left override...), private and unassigned characters go; separators: spaces.
    base = "".join(
        " " if unicodedata.category(ch)[0] == "Z" else ch
        for ch in base
        if unicodedata.category(ch)[0] != "C" or ch in "\t\n\r"
    )
    base = re.sub(r'[<>:"|?*]', "_", base)
    base = re.sub(r"\s+", " ", base).strip(" .")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    if extension and suffix.lower() not in _NAME_EXTENSIONS.get(extension, {extension}):
        stem, suffix = base, extension
    stem = stem[: NAME_MAX_CHARS - len(suffix) - 1].strip(" .")
    if not stem or stem.split(".")[0].lower() in _RESERVED_NAMES:
        stem = f"attachment{'-' + stem if stem else ''}"
    return f"{stem}.{suffix}" if suffix else stem


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

    A file declared as a PDF, an image or an Office document that is an HTML page (Slack's sign-in page)
    or sniffs as another accepted type (text, say) is refused. Content of no accepted type, and other
    claims (text: an .hta or .svg posing as text), are left to `sniff_attachment`, which names them."""
    claimed = (claimed_mime or "").split(";")[0].strip().lower()
    if claimed not in _CLAIMS:
        return None  # text and other claims: sniff_attachment judges (and names) what the bytes are
    if looks_like_html(content):
        return web_page_instead(name)
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
