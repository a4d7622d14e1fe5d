"""What every part of the API shares: the visible agreement of a URL, the documented error answers
of an action, path parameters, file downloads, and uploads read like the web forms read them."""

from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.renderers import BaseRenderer

from agreements.forms import DOCX_CONTENT_TYPE, read_docx_upload
from agreements.models import Agreement
from agreements.selectors import visible_agreements
from api.errors import ErrorSerializer

PDF_CONTENT_TYPE = "application/pdf"
JSON = "application/json"
# Ids in paths: what the database can hold. A larger number is simply not found.
MAX_ID = 2**63 - 1


def visible_agreement(user, pk) -> Agreement:
    """The agreement ``pk`` if ``user`` may see it; otherwise 404, as if it did not exist."""
    try:
        return visible_agreements(user).get(pk=pk)
    except (Agreement.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404(_("There is no such agreement, or you may not see it.")) from None


def _error(description) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


# For @extend_schema(responses={200: ..., **ERRORS}): the answers of any action.
ERRORS = {
    400: _error(gettext_lazy("The request was not valid; «fields» says what to correct.")),
    401: _error(gettext_lazy("No or unknown credentials.")),
    403: _error(gettext_lazy("You may not do this.")),
    404: _error(gettext_lazy("No such object, or you may not see it.")),
    406: _error(
        gettext_lazy("The Accept header asks for a media type this endpoint does not serve.")
    ),
    409: _error(
        gettext_lazy("The action is not allowed in the current state, or someone changed it first.")
    ),
    415: _error(gettext_lazy("The body is not of a media type this action accepts.")),
    422: _error(gettext_lazy("A document was rejected (e.g. a signature that does not validate).")),
    503: _error(gettext_lazy("The document converter is not available now: try again later.")),
}
# For read-only endpoints.
READ_ERRORS = {k: ERRORS[k] for k in (401, 403, 404, 406)}
# For lists: a filter or page that is not valid is a 400 or a 404 (a page past the end).
LIST_ERRORS = {k: ERRORS[k] for k in (400, 401, 403, 404, 406)}


def json_errors(errors: dict) -> dict:
    """The same error answers for an endpoint whose success is a file: errors are always JSON."""
    return {(code, JSON): response for code, response in errors.items()}


def path_id(name: str, description: str = "") -> OpenApiParameter:
    """An integer path parameter (an id or a number), documented with the range it can have."""
    return OpenApiParameter(
        name,
        {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        OpenApiParameter.PATH,
        description=description,
    )


AGREEMENT_ID = path_id("id", gettext_lazy("The agreement's id."))


class FileRenderer(BaseRenderer):
    """Lets a client ask for the file's media type (``Accept: application/pdf``); the view
    answers with the file itself, and errors are rendered as JSON (api.errors)."""

    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class PdfRenderer(FileRenderer):
    media_type = PDF_CONTENT_TYPE
    format = "pdf"


class DocxRenderer(FileRenderer):
    media_type = DOCX_CONTENT_TYPE
    format = "docx"


def file_responses(media_type: str, description, errors=None) -> dict:
    """``responses=`` of a download: the file as binary with its media type, errors as JSON."""
    return {
        (200, media_type): OpenApiResponse(OpenApiTypes.BINARY, description=description),
        **json_errors(errors or READ_ERRORS),
    }


def docx_bytes(upload) -> bytes:
    """The bytes of an uploaded DOCX, read as the web forms read them (at most one byte past the
    size limit: the service refuses, and audits, a file that is too large)."""
    return read_docx_upload(upload)
