"""Domain errors: each carries a message a user can act on and a stable code.

Views and the API map them to one error shape; management commands to one line on stderr and a
non-zero exit.
"""

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code = "domain_error"
    default_message = _("The action could not be completed.")

    def __init__(self, message=None, **details):
        self.message = message if message is not None else self.default_message
        self.details = details
        super().__init__(str(self.message))

    def __str__(self):
        return str(self.message)


class TransitionNotAllowed(DomainError):
    code = "transition_not_allowed"


class ConcurrentChange(TransitionNotAllowed):
    """Someone else changed the object between the moment the user saw it and the action."""

    code = "concurrent_change"


class PermissionDenied(DomainError):
    code = "permission_denied"
    default_message = _("You are not allowed to do this.")


class ValidationFailed(DomainError):
    code = "validation_failed"


class DocumentRejected(DomainError):
    code = "document_rejected"


class NotFound(DomainError):
    code = "not_found"
