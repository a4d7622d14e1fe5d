"""Roles are Django groups; what a role may do on one agreement is decided in policies.py."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    LEGAL_OFFICER = "legal_officer", _("Legal officer")
    REVIEWER = "reviewer", _("Reviewer")
    SIGNATORY = "signatory", _("Signatory")
    REGISTRAR = "registrar", _("Registrar")
    AUDITOR = "auditor", _("Auditor")
    ADMINISTRATOR = "administrator", _("Administrator")


def user_roles(user) -> frozenset[str]:
    """The roles of a user, cached on the user object for the request."""
    if user is None or not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_stipula_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = frozenset(names & set(Role.values))
        if user.is_superuser:
            cached |= {Role.ADMINISTRATOR.value}
        user._stipula_roles = cached
    return cached


def has_role(user, role: Role) -> bool:
    return role.value in user_roles(user)


# Who acted, as the timeline and the home page name it.
ROLE_LABELS = {
    **dict(Role.choices),
    "system": _("system"),
    # Not a group: whoever acts for a party in a negotiation round (agreements.negotiation).
    "party_representative": _("Party representative"),
}
