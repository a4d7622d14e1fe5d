"""Checking an uploaded DOCX before anything else opens it.

Used for templates, uploaded agreement versions and the parties' proposals alike, so it knows
nothing about templates: it takes bytes and either returns or raises ``DocumentRejected`` with a
message that says what is wrong with the file and what to do about it.

A DOCX is a ZIP archive of XML parts (Office Open XML). Every member is decompressed here, in
bounded chunks, with a cap on the total: the sizes an archive declares are not trusted, and a
damaged member (bad CRC, truncated data) is found now rather than halfway through a rendering.
"""

import io
import re
import zipfile
import zlib

from django.conf import settings
from django.utils.translation import gettext as _
from lxml import etree

from stipula.errors import DocumentRejected

MiB = 1024 * 1024

DEFAULT_MAX_DOCX_BYTES = 20 * MiB
# Limits on the unpacked archive; a real agreement is a few MB unpacked, images included.
DEFAULT_MAX_UNCOMPRESSED_BYTES = 100 * MiB
MAX_MEMBERS = 2000
# Word's XML compresses about 5-20:1; a member far beyond that is built to blow up when unpacked.
MAX_COMPRESSION_RATIO = 100
RATIO_CHECKED_ABOVE = 1 * MiB
CHUNK = 64 * 1024

MAIN_DOCUMENT = "word/document.xml"
CONTENT_TYPES = "[Content_Types].xml"
DOCX_MAIN_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
DOTX_MAIN_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml"

_PDF_MAGIC = b"%PDF"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Word 97-2003 .doc, or a password-protected .docx
_RTF_MAGIC = b"{\\rtf"
_ZIP_MAGIC = b"PK\x03\x04"
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError)


def _mb(size: int) -> str:
    return f"{size / MiB:.1f}"


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, None) or default)


def check_docx(data: bytes, *, max_bytes: int | None = None) -> None:
    """Refuse anything that is not a plain, intact, macro-free Word document of sensible size.

    ``max_bytes`` defaults to ``settings.STIPULA_MAX_DOCX_BYTES`` (20 MiB when unset); the limit
    on the unpacked size is ``settings.STIPULA_MAX_DOCX_UNCOMPRESSED_BYTES`` (100 MiB when unset).
    """
    if max_bytes is None:
        max_bytes = _setting("STIPULA_MAX_DOCX_BYTES", DEFAULT_MAX_DOCX_BYTES)
    if not data:
        raise DocumentRejected(
            _(
                "The file is empty. Choose the .docx file again; if it is empty on your computer "
                "too, save the document again from Word or LibreOffice."
            ),
            reason="empty",
        )
    if len(data) > max_bytes:
        raise DocumentRejected(
            _(
                "The file is %(size)s MB; the limit is %(limit)s MB. Compress or remove large "
                "images (in Word: File › Compress Pictures) and upload it again."
            )
            % {"size": _mb(len(data)), "limit": _mb(max_bytes)},
            reason="too_large",
        )
    _check_container(data)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS:
        raise DocumentRejected(
            _(
                "The file is damaged (its ZIP structure is broken or truncated, perhaps by an "
                "interrupted download). Open it in Word or LibreOffice, save it again as .docx and "
                "upload the new file."
            ),
            reason="corrupt",
        ) from None
    with archive:
        _check_members(archive)


def _check_container(data: bytes) -> None:
    """Name the usual wrong files precisely, before trying to read them as ZIP."""
    head = data[:8]
    if head.startswith(_PDF_MAGIC):
        raise DocumentRejected(
            _(
                "The file is a PDF, not a Word document. Upload the editable .docx file (the PDF "
                "is produced from it)."
            ),
            reason="pdf",
        )
    if head.startswith(_OLE_MAGIC):
        raise DocumentRejected(
            _(
                "The file is an old Word 97-2003 document (.doc) or a password-protected document. "
                "Remove any password, then save it as Word Document (.docx) and upload that file."
            ),
            reason="doc_or_encrypted",
        )
    if head.startswith(_RTF_MAGIC):
        raise DocumentRejected(
            _(
                "The file is an RTF document. Save it as Word Document (.docx) and upload that "
                "file."
            ),
            reason="rtf",
        )
    if not head.startswith(_ZIP_MAGIC):
        raise DocumentRejected(
            _(
                "The file is not a Word document (.docx). Open it in Word or LibreOffice, save it "
                "as Word Document (.docx) and upload that file."
            ),
            reason="not_zip",
        )


def _check_members(archive: zipfile.ZipFile) -> None:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _bomb(_("it has %(count)d parts") % {"count": len(infos)})
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        # Different programs would read different copies: refuse rather than guess.
        raise DocumentRejected(
            _(
                "The file is damaged: it contains two parts with the same name. Save it again as "
                ".docx from Word or LibreOffice and upload the new file."
            ),
            reason="duplicate_part",
        )
    if any(info.flag_bits & 0x1 for info in infos):
        raise DocumentRejected(
            _(
                "The file is encrypted. Remove the password (in Word: File › Info › Protect "
                "Document), save it as .docx and upload it again."
            ),
            reason="encrypted",
        )
    if CONTENT_TYPES not in names or MAIN_DOCUMENT not in names:
        raise DocumentRejected(
            _(
                "The file is a ZIP archive but not a Word document (it has no %(part)s). Open "
                "it in Word or LibreOffice, save it as Word Document (.docx) and upload that file."
            )
            % {"part": MAIN_DOCUMENT if CONTENT_TYPES in names else CONTENT_TYPES},
            reason="not_docx",
        )
    if any(name.lower().endswith("vbaproject.bin") for name in names):
        raise _macros()

    limit = _setting("STIPULA_MAX_DOCX_UNCOMPRESSED_BYTES", DEFAULT_MAX_UNCOMPRESSED_BYTES)
    declared = sum(info.file_size for info in infos)
    if declared > limit:
        raise _bomb(
            _("it would unpack to %(size)s MB, the limit is %(limit)s MB")
            % {"size": _mb(declared), "limit": _mb(limit)}
        )
    for info in infos:
        if info.file_size > RATIO_CHECKED_ABOVE and info.file_size > MAX_COMPRESSION_RATIO * max(
            info.compress_size, 1
        ):
            raise _bomb(
                _("its part %(name)s is compressed %(ratio)d times")
                % {"name": info.filename, "ratio": info.file_size // max(info.compress_size, 1)}
            )

    content_types = b""
    unpacked = 0
    for info in infos:
        head, size = _read_member(archive, info, budget=limit - unpacked)
        unpacked += size
        if info.filename == CONTENT_TYPES:
            content_types = head
        if info.filename.lower().endswith((".xml", ".rels")) and _DTD.search(head):
            # Office Open XML forbids DTDs; one here is an entity-expansion or XXE attempt.
            raise DocumentRejected(
                _(
                    "The file is not a valid Word document: its part %(name)s declares a DTD, "
                    "which Word never writes. Save it again from Word or LibreOffice as .docx."
                )
                % {"name": info.filename},
                reason="dtd",
            )
    _check_content_types(content_types)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, budget: int):
    """Decompress one member in chunks; return its first 64 KiB and its real size."""
    head = b""
    size = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(CHUNK):
                if not head:
                    head = chunk
                size += len(chunk)
                if size > budget:
                    raise _bomb(_("its content is larger than it declares"))
    except _ZIP_ERRORS:
        raise DocumentRejected(
            _(
                "The file is damaged: its part %(name)s cannot be read (checksum error or "
                "truncated data). Open it in Word or LibreOffice, save it again as .docx and "
                "upload the new file."
            )
            % {"name": info.filename},
            reason="corrupt_member",
        ) from None
    return head, size


def _check_content_types(content_types: bytes) -> None:
    try:
        root = etree.fromstring(  # noqa: S320 - DTDs refused above; no entities, no network
            content_types,
            parser=etree.XMLParser(resolve_entities=False, no_network=True),
        )
    except etree.XMLSyntaxError:
        raise DocumentRejected(
            _(
                "The file is damaged: its list of content types cannot be read. Save it again as "
                ".docx from Word or LibreOffice and upload the new file."
            ),
            reason="corrupt_content_types",
        ) from None
    main_type = ""
    for element in root:
        content_type = element.get("ContentType", "")
        if "macroenabled" in content_type.lower() or "vbaproject" in content_type.lower():
            raise _macros()
        if element.get("PartName", "").lower() == "/" + MAIN_DOCUMENT:
            main_type = content_type
    if main_type == DOTX_MAIN_TYPE:
        raise DocumentRejected(
            _(
                "The file is a Word template (.dotx). Open it, save it as Word Document (.docx) "
                "and upload that file."
            ),
            reason="dotx",
        )
    if main_type and main_type != DOCX_MAIN_TYPE:
        raise DocumentRejected(
            _(
                "The file is not a Word document (its main part is of type %(type)s). Save it as "
                "Word Document (.docx) and upload that file."
            )
            % {"type": main_type},
            reason="not_docx",
        )


def _macros() -> DocumentRejected:
    return DocumentRejected(
        _(
            "The document contains macros (it is a macro-enabled .docm). Macros are not accepted: "
            "save it as Word Document (.docx), which removes them, and upload that file."
        ),
        reason="macros",
    )


def _bomb(detail: str) -> DocumentRejected:
    return DocumentRejected(
        _(
            "The file was refused as a probable ZIP bomb: %(detail)s. No real document does this; "
            "upload the .docx as saved by Word or LibreOffice."
        )
        % {"detail": detail},
        reason="zip_bomb",
    )
