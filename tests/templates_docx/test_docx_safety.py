"""check_docx refuses each kind of bad file with a message that says what to do.

Every bad file is built here from a real DOCX, so each test fails if its check is removed.
"""

import io
import re
import struct
import warnings
import zipfile

import pytest
from django.test import override_settings
from pypdf import PdfWriter

from stipula.errors import DocumentRejected
from templates_docx.docx_safety import check_docx
from templates_docx.shipped import shipped_template_path
from tests.templates_docx.conftest import docx_bytes

MAIN_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
MACRO_TYPE = "application/vnd.ms-word.document.macroEnabled.main+xml"


def good_docx() -> bytes:
    return docx_bytes("Art. 1 – Oggetto", "Il presente Protocollo ha per oggetto {{ oggetto }}.")


def members(data: bytes) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info, archive.read(info)) for info in archive.infolist()]


def member(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name)


def rezip(entries, *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are written on purpose in one test
        with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
            for name, content in entries:
                archive.writestr(name, content)
    return buffer.getvalue()


def with_members(data: bytes, *, replace=None, add=(), drop=(), compression=zipfile.ZIP_DEFLATED):
    replace = replace or {}
    entries = [
        (info.filename, replace.get(info.filename, content))
        for info, content in members(data)
        if info.filename not in drop
    ]
    return rezip([*entries, *add], compression=compression)


def rejected(data: bytes, **kwargs) -> DocumentRejected:
    with pytest.raises(DocumentRejected) as caught:
        check_docx(data, **kwargs)
    return caught.value


def test_a_real_docx_and_the_shipped_templates_pass():
    check_docx(good_docx())
    for key in ("protocollo_intesa", "convenzione_art15", "patto_inclusione_sociale"):
        check_docx(shipped_template_path(key).read_bytes())


def test_empty_file():
    error = rejected(b"")
    assert error.details["reason"] == "empty"
    assert "The file is empty" in str(error)


def test_over_the_size_limit_given_or_from_settings():
    data = good_docx()
    error = rejected(data, max_bytes=len(data) - 1)
    assert error.details["reason"] == "too_large"
    assert "the limit is" in str(error) and "Compress or remove large images" in str(error)
    with override_settings(STIPULA_MAX_DOCX_BYTES=1024):
        assert rejected(data).details["reason"] == "too_large"
    check_docx(data, max_bytes=len(data))


def test_a_pdf_is_named_as_such():
    buffer = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.write(buffer)
    error = rejected(buffer.getvalue())
    assert error.details["reason"] == "pdf"
    assert "The file is a PDF, not a Word document" in str(error)


def test_plain_text_is_not_a_word_document():
    error = rejected(b"Convenzione tra le Parti\n")
    assert error.details["reason"] == "not_zip"
    assert "save it as Word Document (.docx)" in str(error)


def test_an_old_doc_or_password_protected_document():
    # Word 97-2003 files and password-protected .docx files are OLE compound files.
    error = rejected(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096))
    assert error.details["reason"] == "doc_or_encrypted"
    assert "Remove any password" in str(error)


def test_a_truncated_zip():
    data = good_docx()
    error = rejected(data[: len(data) // 2])
    assert error.details["reason"] == "corrupt"
    assert "damaged" in str(error) and "save it again as .docx" in str(error)


def test_a_member_with_a_bad_checksum_is_found_by_reading_it():
    data = with_members(good_docx(), compression=zipfile.ZIP_STORED)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("word/document.xml")
    # Flip one byte of the stored (uncompressed) content: the directory is intact, the CRC not.
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26 :][:4])
    offset = info.header_offset + 30 + name_length + extra_length + 100
    damaged = data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]
    error = rejected(damaged)
    assert error.details["reason"] == "corrupt_member"
    assert "word/document.xml cannot be read" in str(error)


def test_a_docm_with_a_vba_project():
    data = with_members(good_docx(), add=[("word/vbaProject.bin", b"\x00VBA" * 100)])
    error = rejected(data)
    assert error.details["reason"] == "macros"
    assert "contains macros" in str(error) and "save it as Word Document (.docx)" in str(error)


def test_a_docm_declared_in_the_content_types():
    data = good_docx()
    content_types = member(data, "[Content_Types].xml")
    macro = content_types.replace(MAIN_TYPE.encode(), MACRO_TYPE.encode())
    assert macro != content_types
    error = rejected(with_members(data, replace={"[Content_Types].xml": macro}))
    assert error.details["reason"] == "macros"


def test_a_word_template_dotx():
    data = good_docx()
    content_types = member(data, "[Content_Types].xml")
    dotx = content_types.replace(b".document.main+xml", b".template.main+xml")
    error = rejected(with_members(data, replace={"[Content_Types].xml": dotx}))
    assert error.details["reason"] == "dotx"
    assert "Word template (.dotx)" in str(error)


@pytest.mark.parametrize(
    ("missing", "named"),
    [("word/document.xml", "word/document.xml"), ("[Content_Types].xml", "[Content_Types].xml")],
)
def test_a_zip_that_is_not_a_word_document(missing, named):
    error = rejected(with_members(good_docx(), drop=[missing]))
    assert error.details["reason"] == "not_docx"
    assert f"it has no {named}" in str(error)


def test_an_encrypted_member():
    # zipfile cannot encrypt, so set the «encrypted» flag in the local and central headers,
    # which is what a reader (and check_docx) goes by.
    data = bytearray(good_docx())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        infos = archive.infolist()
    for info in infos:
        data[info.header_offset + 6] |= 0x1
    start = bytes(data).index(b"PK\x01\x02")
    while start != -1:
        data[start + 8] |= 0x1
        start = bytes(data).find(b"PK\x01\x02", start + 4)
    error = rejected(bytes(data))
    assert error.details["reason"] == "encrypted"
    assert "The file is encrypted. Remove the password" in str(error)


@override_settings(STIPULA_MAX_DOCX_UNCOMPRESSED_BYTES=2 * 1024 * 1024)
def test_a_zip_bomb_over_the_unpacked_size_limit():
    bomb = with_members(good_docx(), add=[("word/media/image1.png", bytes(3 * 1024 * 1024))])
    assert len(bomb) < 64 * 1024  # a few MB of zeros compress to almost nothing
    error = rejected(bomb)
    assert error.details["reason"] == "zip_bomb"
    assert re.search(
        r"probable ZIP bomb: it would unpack to 3\.\d MB, the limit is 2\.0 MB", str(error)
    )


def test_a_zip_bomb_by_compression_ratio():
    bomb = with_members(good_docx(), add=[("word/media/image1.png", bytes(4 * 1024 * 1024))])
    error = rejected(bomb)
    assert error.details["reason"] == "zip_bomb"
    assert "word/media/image1.png is compressed" in str(error)


def test_declared_sizes_are_not_trusted():
    # Declare 1000 bytes for a member that unpacks to 3 MB: the real size shows when read.
    data = bytearray(
        with_members(good_docx(), add=[("word/media/image1.png", bytes(3 * 1024 * 1024))])
    )
    start = bytes(data).index(b"PK\x01\x02")
    while start != -1:
        name_length = struct.unpack("<H", data[start + 28 : start + 30])[0]
        name = bytes(data[start + 46 : start + 46 + name_length])
        if name == b"word/media/image1.png":
            data[start + 24 : start + 28] = struct.pack("<I", 1000)
        start = bytes(data).find(b"PK\x01\x02", start + 4)
    error = rejected(bytes(data))
    assert error.details["reason"] in {"corrupt_member", "zip_bomb"}


def test_two_parts_with_the_same_name():
    data = good_docx()
    document = member(data, "word/document.xml")
    error = rejected(with_members(data, add=[("word/document.xml", document)]))
    assert error.details["reason"] == "duplicate_part"


def test_a_dtd_in_a_part_is_refused():
    data = good_docx()
    document = member(data, "word/document.xml")
    laughs = document.replace(
        b"?>",
        b'?><!DOCTYPE w:document [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>',
        1,
    )
    error = rejected(with_members(data, replace={"word/document.xml": laughs}))
    assert error.details["reason"] == "dtd"
    assert "word/document.xml declares a DTD" in str(error)
