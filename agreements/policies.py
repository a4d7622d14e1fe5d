"""Who may do what on one agreement. Services check these; views only use them to show buttons.

Each policy takes (agreement, user) so that it can serve as a django-fsm transition permission.
"""

from agreements.roles import Role, has_role, user_roles

STAFF_ROLES = {Role.LEGAL_OFFICER, Role.REVIEWER, Role.REGISTRAR, Role.AUDITOR, Role.ADMINISTRATOR}


def is_responsible_legal_officer(agreement, user) -> bool:
    return (
        user is not None
        and has_role(user, Role.LEGAL_OFFICER)
        and agreement.legal_officer_id == user.pk
    )


def is_responsible_legal_officer_or_system(agreement, user) -> bool:
    return user is None or is_responsible_legal_officer(agreement, user)


def is_drafter(agreement, user) -> bool:
    """The responsible officer, or anyone who authored a version of the text."""
    if agreement.legal_officer_id == user.pk:
        return True
    return agreement.versions.filter(author_id=user.pk).exists()


def is_independent_reviewer(agreement, user) -> bool:
    """A reviewer who did not draft the text (four-eyes principle)."""
    return user is not None and has_role(user, Role.REVIEWER) and not is_drafter(agreement, user)


def can_withdraw(agreement, user) -> bool:
    return is_responsible_legal_officer(agreement, user) or (
        user is not None and has_role(user, Role.ADMINISTRATOR)
    )


def is_registrar(agreement, user) -> bool:
    return user is not None and has_role(user, Role.REGISTRAR)


def can_create_agreement(user) -> bool:
    return has_role(user, Role.LEGAL_OFFICER)


def can_edit(agreement, user) -> bool:
    """Parties, signatories and versions change only before review, by the responsible officer."""
    return agreement.state in ("draft", "negotiation") and is_responsible_legal_officer(
        agreement, user
    )


def is_party_member(agreement, user) -> bool:
    return agreement.parties.filter(organisation__memberships__user_id=user.pk).exists()


def is_signatory_of(agreement, user) -> bool:
    return agreement.parties.filter(signatories__user_id=user.pk).exists()


def can_view(agreement, user) -> bool:
    if user is None or not user.is_authenticated:
        return False
    if user_roles(user) & {r.value for r in STAFF_ROLES}:
        return True
    return is_party_member(agreement, user) or is_signatory_of(agreement, user)


def can_read_audit_log(user) -> bool:
    return bool(user_roles(user) & {Role.AUDITOR.value, Role.ADMINISTRATOR.value})


def can_use_template_library(user) -> bool:
    """Legal officers draft from the templates; administrators look after the library. The
    upload service decides for itself: this only shows the way to the library."""
    return bool(user_roles(user) & {Role.LEGAL_OFFICER.value, Role.ADMINISTRATOR.value})
