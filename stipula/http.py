"""Answers every part of Stipula gives the same way."""

from django.http import HttpResponse


def download(data: bytes, filename: str, content_type: str, *, sha256: str = "") -> HttpResponse:
    """Stored bytes as an attachment; ``sha256`` (the recorded hash) becomes the ETag. Never
    cached by shared caches: who may download is decided per request."""
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    if sha256:
        response["ETag"] = f'"{sha256}"'
    response["Cache-Control"] = "private, no-cache"
    return response
