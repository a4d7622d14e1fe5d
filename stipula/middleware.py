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


class AuditLogRefusalMiddleware:
    """Records the refused attempt of a signed-in user who is not an auditor to open a page of
    the auditor's workspace (/audit/...).

    viewflow's SiteMiddleware (next in MIDDLEWARE) answers 403 from the application's permission
    before any view runs, so the view's own refusal record would never be reached.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, callback, callback_args, callback_kwargs):
        match = request.resolver_match
        app = getattr(getattr(match, "url_name", None), "extra", {}).get("app") if match else None
        user = getattr(request, "user", None)
        if app is None or getattr(app, "app_name", None) != "auditlog":
            return None
        if user is None or not user.is_authenticated or app.has_view_permission(user):
            return None
        from audit import auditor
        from stipula.errors import DomainError

        try:
            auditor.log_viewed(actor=user, what=match.url_name or "audit")
        except DomainError:
            pass  # the refusal is recorded; SiteMiddleware answers 403
        return None
