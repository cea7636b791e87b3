"""Hostile sample files for the upload tests, built in memory: nothing is shipped as a binary fixture."""

from __future__ import annotations

import io
import struct
import uuid
import zipfile
import zlib

from PIL import Image

_FREE, _END, _FAT, _NONE = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
MSI_CLSID = "000C1084-0000-0000-C000-000000000046"  # the root CLSID of a Windows Installer package
WORD_CLSID = "00020906-0000-0000-C000-000000000046"  # Word.Document.8


def ole2(streams: dict[str, bytes], *, clsid: str) -> bytes:
    """A minimal OLE2 compound file (MS-CFB v3, 512-byte sectors) holding `streams` at the root. olefile
    reads but can't write these. Each stream is padded to 4096 bytes, so all live in the regular FAT (no
    mini stream) and declared at its padded size; the directory is a plain right-sibling chain."""
    names = list(streams)
    dir_sectors = -(-(len(names) + 1) // 4)
    data = [streams[n].ljust(max(4096, -(-len(streams[n]) // 512) * 512), b"\0") for n in names]
    fat = [_FAT, *range(2, 1 + dir_sectors), _END]
    starts = []
    for blob in data:
        first, count = len(fat), len(blob) // 512
        starts.append(first)
        fat += [*range(first + 1, first + count), _END]
    assert len(fat) <= 128, "one FAT sector is enough for a test sample"
    fat += [_FREE] * (128 - len(fat))

    def entry(name: str, kind: int, child: int, right: int, start: int, size: int, cls: str = "") -> bytes:
        encoded = (name + "\0").encode("utf-16-le") if name else b""
        return (
            encoded.ljust(64, b"\0")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", _NONE, right, child)
            + (uuid.UUID(cls).bytes_le if cls else b"\0" * 16)
            + b"\0" * 20
            + struct.pack("<IQ", start, size)
        )

    directory = entry("Root Entry", 5, 1 if names else _NONE, _NONE, _END, 0, clsid)
    for index, name in enumerate(names):
        right = index + 2 if index + 1 < len(names) else _NONE
        directory += entry(name, 2, _NONE, right, starts[index], len(data[index]))
    empty = b"\0" * 64 + struct.pack("<HBB", 0, 0, 0) + struct.pack("<III", _NONE, _NONE, _NONE) + b"\0" * 48
    directory = directory.ljust(dir_sectors * 512, b"\0")
    directory = b"".join(
        directory[i : i + 128] if directory[i : i + 128].strip(b"\0") else empty
        for i in range(0, len(directory), 128)
    )
    header = (
        bytes.fromhex("d0cf11e0a1b11ae1")
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, _END, 0, _END, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", _FREE) * 108
    )
    assert len(header) == 512
    return header + struct.pack("<128I", *fat) + directory + b"".join(data)


def msi() -> bytes:
    """A Windows Installer package's shape: an OLE2 file with the MSI root CLSID, a summary stream and
    MSI's own (encoded) table streams."""
    return ole2(
        {
            "\x05SummaryInformation": b"\xfe\xff\0\0" + b"\0" * 60,
            "\u4840\u3f7f\u4164\u422f\u4836": b"\0" * 32,  # the encoded name of MSI's _Tables stream
            "\u4840\u3b3f\u43f2\u4438\u45b1": b"MZ\x90\0" + b"\0" * 60,  # the _Columns stream
        },
        clsid=MSI_CLSID,
    )


def word_doc(*, macros: bool = False) -> bytes:
    """A legacy Word document's shape: a WordDocument stream starting with the Word signature (0xA5EC)."""
    streams = {"WordDocument": b"\xec\xa5\xc1\x00" + b"\0" * 60, "1Table": b"\0" * 64}
    if macros:
        streams["Macros"] = b'Attribute VB_Name = "ThisDocument"\n'
    return ole2(streams, clsid=WORD_CLSID)


_DOCX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
        '"/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.'
        'document.main+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>'
    ),
    "word/document.xml": (
        '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
        'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Offer letter</w:t></w:r></w:p></w:body>'
        "</w:document>"
    ),
}


def docx(extra: dict[str, bytes] | None = None, *, macro_types: bool = False) -> bytes:
    """A minimal genuine .docx, plus `extra` entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in _DOCX_PARTS.items():
            if macro_types and name == "[Content_Types].xml":
                text = text.replace("document.main+xml", "document.macroEnabled.main+xml")
            archive.writestr(name, text)
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
    return buffer.getvalue()


def zip_bomb_docx() -> bytes:
    """A genuine-looking .docx whose media part unpacks from ~100 KB to 100 MB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, text in _DOCX_PARTS.items():
            archive.writestr(name, text)
        with archive.open("word/media/image1.png", "w", force_zip64=True) as part:
            block = b"\0" * (1024 * 1024)
            for _ in range(100):
                part.write(block)
    return buffer.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit black PNG of width x height: a few KB on disk (all-zero rows deflate ~1000:1), but
    gigabytes once an RGB(A) copy is decoded. Streamed, so building it costs no memory."""
    row = b"\0" * (1 + -(-width // 8))  # filter byte + packed bits
    squeeze = zlib.compressobj(9)
    chunks, rows_per_chunk = [], max(1, (1 << 20) // len(row))
    for start in range(0, height, rows_per_chunk):
        chunks.append(squeeze.compress(row * min(rows_per_chunk, height - start)))
    chunks.append(squeeze.flush())
    idat = b"".join(chunks)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def pillow_png(size: tuple[int, int]) -> bytes:
    """A small ordinary PNG made by Pillow."""
    buffer = io.BytesIO()
    Image.new("1", size).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
