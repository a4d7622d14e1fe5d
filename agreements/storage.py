"""Content-addressed file storage: a stored file is named by its SHA-256.

A rolled-back attempt leaves at most a file that the next upload of the same bytes reuses, and a
stored file is never overwritten with other bytes.
"""

import hashlib

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.translation import gettext as _

from stipula.errors import DocumentRejected, NotFound


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store_bytes(data: bytes, *, folder: str, extension: str) -> tuple[str, str]:
    """Store ``data`` and return (storage name, SHA-256 hex)."""
    digest = sha256_hex(data)
    name = f"{folder}/{digest[:2]}/{digest}.{extension}"
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(data))
        if saved != name:  # a concurrent writer stored the same bytes first
            default_storage.delete(saved)
    return name, digest


def read_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def read_checked(stored, sha256: str, *, altered: str | None = None) -> bytes:
    """The stored file (a FieldFile or its name), if it still has the hash recorded for it:
    NotFound when it is missing, DocumentRejected (``altered`` says why, if given) when its
    bytes were altered."""
    try:
        data = read_bytes(getattr(stored, "name", stored))
    except FileNotFoundError:
        raise NotFound(_("The file is missing from the storage.")) from None
    if sha256_hex(data) != sha256:
        raise DocumentRejected(
            altered
            or _(
                "The stored file no longer matches the fingerprint recorded for it; it has been "
                "altered. Tell the administrator."
            ),
            reason="altered",
        )
    return data
