import uuid

from stipula import context


class RequestIdMiddleware:
    """Gives every request an id that audit events carry, so a log line leads back to a request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        request.request_id = request_id[:64]
        token = context.request_id.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            context.request_id.reset(token)
        response["X-Request-ID"] = request.request_id
        return response
