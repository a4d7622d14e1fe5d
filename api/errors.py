"""One error shape for the whole API.

Every error answers with ``{"error": {"code", "message", "details", "fields"}}``: ``code`` is
stable (a domain error's code, or one of DRF's), ``message`` says what was wrong and what to do,
in the request's language, ``details`` carries the domain error's facts (current state, allowed
transitions…), ``fields`` the messages per input field of a rejected request body (nested fields
as ``parent.child`` or ``list.0``).

Errors are always JSON, even from an endpoint whose success is a file.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from stipula import errors as domain
from templates_docx.conversion import ConverterUnavailable

logger = logging.getLogger(__name__)

DOMAIN_STATUS = [
    (ConverterUnavailable, status.HTTP_503_SERVICE_UNAVAILABLE),
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


def _fields(detail, prefix: str = "", into: dict | None = None) -> dict:
    """DRF's nested error details as ``{"field": [messages]}``, nested names joined by dots."""
    into = {} if into is None else into
    if isinstance(detail, dict):
        for key, value in detail.items():
            _fields(value, f"{prefix}.{key}" if prefix else str(key), into)
    elif isinstance(detail, (list, tuple)):
        if all(not isinstance(item, (dict, list, tuple)) for item in detail):
            if detail:
                into.setdefault(prefix or "non_field_errors", []).extend(str(m) for m in detail)
        else:
            for index, item in enumerate(detail):
                if item:
                    _fields(item, f"{prefix}.{index}" if prefix else str(index), into)
    elif detail is not None:
        into.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return into


def domain_error_response(error: domain.DomainError) -> Response:
    code = next(s for cls, s in DOMAIN_STATUS if isinstance(error, cls))
    return Response(error_body(error.code, str(error), details=_plain(error.details)), status=code)


def _as_json(context) -> None:
    """Render the error as JSON whatever the client asked for (e.g. ``Accept: application/pdf``
    on a download)."""
    request = context.get("request") if context else None
    if request is not None:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type


def exception_handler(exc, context):
    _as_json(context)
    if isinstance(exc, domain.DomainError):
        return domain_error_response(exc)
    if isinstance(exc, Http404):
        message = str(exc.args[0]) if exc.args and exc.args[0] else None
        exc = exceptions.NotFound(message or _("There is no such object, or you may not see it."))
    elif isinstance(exc, DjangoPermissionDenied):
        message = str(exc.args[0]) if exc.args and exc.args[0] else None
        exc = exceptions.PermissionDenied(message)
    elif isinstance(exc, SuspiciousOperation):
        # TooManyFieldsSent, RequestDataTooBig…: Django's own handler answers 400 for these.
        exc = exceptions.ParseError(
            _("The request has too many fields or is too large: send fewer or smaller values.")
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        # Not an error we know: log it with its traceback, answer without one.
        logger.error("Unhandled error in the API", exc_info=exc)
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
        non_field = fields.pop("non_field_errors", [])
        message = " ".join(non_field) or _(
            "Some values are not valid: see «fields» for what to correct."
        )
        response.data = error_body("validation_failed", message, fields=fields)
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    code = codes if isinstance(codes, str) else "error"
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    response.data = error_body(code, str(detail))
    return response


def handler404(request, exception=None):
    """The project's 404 for URLs no view matches: the error shape under /api/, the usual page
    elsewhere. (For ``stipula/urls.py``: ``handler404 = "api.errors.handler404"``.)"""
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("not_found", _("There is no such object, or you may not see it.")),
            status=status.HTTP_404_NOT_FOUND,
        )
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


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
