"""One error shape for the whole API.

Every error answers with ``{"error": {"code", "message", "details", "fields"}}``: ``code`` is
stable (a domain error's code, or one of DRF's), ``message`` says what was wrong and what to do,
in the request's language, ``details`` carries the domain error's facts (current state, allowed
transitions…), ``fields`` the messages per input field of a rejected request body.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from stipula import errors as domain

logger = logging.getLogger(__name__)

DOMAIN_STATUS = [
    (domain.ConcurrentChange, status.HTTP_409_CONFLICT),
    (domain.TransitionNotAllowed, status.HTTP_409_CONFLICT),
    (domain.PermissionDenied, status.HTTP_403_FORBIDDEN),
    (domain.NotFound, status.HTTP_404_NOT_FOUND),
    (domain.ValidationFailed, status.HTTP_400_BAD_REQUEST),
    (domain.DocumentRejected, status.HTTP_422_UNPROCESSABLE_ENTITY),
    (domain.DomainError, status.HTTP_400_BAD_REQUEST),
]


def error_body(code: str, message: str, *, details=None, fields=None) -> dict:
    return {
        "error": {
            "code": code,
            "message": str(message),
            "details": details or {},
            "fields": fields or {},
        }
    }


def _plain(value):
    """Domain error details as JSON: lazy strings, lists, model instances as strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def _fields(detail) -> dict:
    if isinstance(detail, dict):
        return {
            str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()
        }
    return {}


def domain_error_response(error: domain.DomainError) -> Response:
    code = next(s for cls, s in DOMAIN_STATUS if isinstance(error, cls))
    return Response(error_body(error.code, str(error), details=_plain(error.details)), status=code)


def exception_handler(exc, context):
    if isinstance(exc, domain.DomainError):
        return domain_error_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(_("There is no such object, or you may not see it."))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        # Not an error we know: log it with its traceback, answer without one.
        logger.exception("Unhandled error in the API", exc_info=exc)
        return Response(
            error_body(
                "server_error",
                _(
                    "Something went wrong on our side; nothing was changed. Try again, and "
                    "report the request id if it happens again."
                ),
            ),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        fields = _fields(exc.detail)
        if isinstance(exc.detail, dict):
            non_field = fields.pop("non_field_errors", [])
            message = " ".join(non_field) or _(
                "Some values are not valid: see «fields» for what to correct."
            )
        else:
            message = " ".join(str(m) for m in exc.detail)
        response.data = error_body("validation_failed", message, fields=fields)
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    code = codes if isinstance(codes, str) else "error"
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    response.data = error_body(code, str(detail))
    return response


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable error code, e.g. transition_not_allowed.")
    message = serializers.CharField(help_text="What was wrong and what to do, for a person.")
    details = serializers.DictField(help_text="Facts of the error (state, allowed actions…).")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per input field.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()
