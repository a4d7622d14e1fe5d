"""Answers every part of Stipula gives the same way."""

from django.http import FileResponse, Http404, HttpResponse
from django.utils.translation import gettext as _


def download(data: bytes, filename: str, content_type: str, *, sha256: str = "") -> HttpResponse:
    """Stored bytes as an attachment; ``sha256`` (the recorded hash) becomes the ETag. Never
    cached by shared caches: who may download is decided per request."""
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    if sha256:
        response["ETag"] = f'"{sha256}"'
    response["Cache-Control"] = "private, no-cache"
    return response


def stored_file_response(field_file, *, filename: str, content_type: str, as_attachment=True):
    """A stored file, streamed; 404 if there is none or it is missing from the storage."""
    if not field_file:
        raise Http404(_("There is no such file."))
    try:
        handle = field_file.open("rb")
    except FileNotFoundError:
        raise Http404(_("The file is missing from the storage.")) from None
    return FileResponse(
        handle, as_attachment=as_attachment, filename=filename, content_type=content_type
    )
