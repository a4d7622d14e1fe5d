"""What every part of the API shares: the visible agreement of a URL, the documented error answers
of an action, and calling a service inside a view."""

from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse

from agreements.models import Agreement
from agreements.selectors import visible_agreements
from api.errors import ErrorSerializer


def visible_agreement(user, pk) -> Agreement:
    """The agreement ``pk`` if ``user`` may see it; otherwise 404, as if it did not exist."""
    try:
        return visible_agreements(user).get(pk=pk)
    except (Agreement.DoesNotExist, ValueError, TypeError):
        raise Http404(_("There is no such agreement, or you may not see it.")) from None


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


# For @extend_schema(responses={200: ..., **ERRORS}): the answers of any action.
ERRORS = {
    400: _error("The request was not valid; «fields» says what to correct."),
    401: _error("No or unknown credentials."),
    403: _error("You may not do this."),
    404: _error("No such object, or you may not see it."),
    409: _error("The action is not allowed in the current state, or someone changed it first."),
    422: _error("A document was rejected (e.g. a signature that does not validate)."),
}
# For read-only endpoints.
READ_ERRORS = {k: ERRORS[k] for k in (401, 403, 404)}
