"""Pictures of the pages of a stored PDF, so that a text can be looked at without opening it.

A page is drawn by poppler's ``pdftoppm`` at 50 dpi (a thumbnail a reader can still recognise)
and kept in the default storage under ``previews/<SHA-256 of the PDF>/<page>.png``: stored PDFs
never change (they are named by their hash), so a picture drawn once stays right for ever.
The PDF is checked against the SHA-256 recorded for it before it is drawn.
"""

import functools
import io
import subprocess
import tempfile
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.translation import gettext as _
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from agreements.storage import read_bytes, sha256_hex
from stipula.errors import DocumentRejected, DomainError, NotFound

RESOLUTION_DPI = 50
TIMEOUT_SECONDS = 30
PDFTOPPM = "pdftoppm"


class PreviewUnavailable(DomainError):
    code = "preview_unavailable"


def _pdf(name: str, sha256: str) -> bytes:
    try:
        data = read_bytes(name)
    except FileNotFoundError:
        raise NotFound(_("The PDF of this document is missing from the storage.")) from None
    if sha256_hex(data) != sha256:
        raise DocumentRejected(
            _(
                "The stored PDF no longer matches the fingerprint recorded for it; it has been "
                "altered. Tell the administrator."
            ),
            reason="altered",
        )
    return data


@functools.lru_cache(maxsize=512)
def page_count(name: str, sha256: str) -> int:
    """The number of pages of a stored PDF (remembered per hash: the file never changes)."""
    try:
        return len(PdfReader(io.BytesIO(_pdf(name, sha256))).pages)
    except PyPdfError:
        raise PreviewUnavailable(_("The PDF of this document cannot be read.")) from None


def _preview_name(sha256: str, page: int) -> str:
    return f"previews/{sha256}/{page}.png"


def page_png(name: str, sha256: str, page: int) -> bytes:
    """Page ``page`` (from 1) of a stored PDF as a PNG; NotFound beyond its last page."""
    cached = _preview_name(sha256, page)
    if default_storage.exists(cached):
        return read_bytes(cached)
    if not 1 <= page <= page_count(name, sha256):
        raise NotFound(_("This document has no page %(page)d.") % {"page": page})
    png = _draw(_pdf(name, sha256), page)
    saved = default_storage.save(cached, ContentFile(png))
    if saved != cached:  # drawn at the same moment by another request
        default_storage.delete(saved)
    return png


def _draw(pdf: bytes, page: int) -> bytes:
    with tempfile.TemporaryDirectory(prefix="stipula-preview-") as folder:
        source = Path(folder) / "document.pdf"
        source.write_bytes(pdf)
        target = Path(folder) / "page"
        command = [
            PDFTOPPM,
            "-png",
            "-r",
            str(RESOLUTION_DPI),
            "-f",
            str(page),
            "-l",
            str(page),
            "-singlefile",
            str(source),
            str(target),
        ]
        try:
            subprocess.run(  # noqa: S603 - fixed command, our own file names
                command, check=True, capture_output=True, timeout=TIMEOUT_SECONDS
            )
            return target.with_suffix(".png").read_bytes()
        except (OSError, subprocess.SubprocessError):
            raise PreviewUnavailable(
                _("The preview of page %(page)d could not be drawn. Download the PDF instead.")
                % {"page": page}
            ) from None
