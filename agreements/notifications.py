"""E-mail sent after a transition commits, never inside its transaction."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.utils import translation
from django.utils.translation import gettext as _

from agreements.models import Agreement
from agreements.roles import Role
from audit.models import AuditAction, AuditEvent

logger = logging.getLogger(__name__)


def _recipients(agreement: Agreement, action: str):
    User = get_user_model()
    officer = [agreement.legal_officer]
    if action == AuditAction.SUBMITTED_FOR_REVIEW:
        return list(
            User.objects.filter(groups__name=Role.REVIEWER, is_active=True).exclude(
                pk=agreement.legal_officer_id
            )
        )
    if action == AuditAction.APPROVED:
        signatories = User.objects.filter(
            signatory_roles__party__agreement=agreement, is_active=True
        ).distinct()
        return officer + list(signatories)
    if action == AuditAction.SIGNING_COMPLETED:
        registrars = User.objects.filter(groups__name=Role.REGISTRAR, is_active=True)
        return officer + list(registrars)
    return officer


def notify_transition(*, event: AuditEvent, agreement: Agreement) -> None:
    """E-mail the people concerned by a committed transition (its event and agreement as they
    were committed)."""
    recipients = sorted({u.email for u in _recipients(agreement, event.action) if u.email})
    if not recipients:
        return
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("[Stipula] %(action)s: %(subject)s") % {
            "action": event.get_action_display(),
            "subject": agreement.subject[:80],
        }
        body = _(
            "%(action)s by %(actor)s.\n\nAgreement: %(subject)s\nState: %(state)s\n"
            "%(reason)s\nAudit event no. %(seq)d, hash %(hash)s\n"
        ) % {
            "action": event.get_action_display(),
            "actor": event.actor_username or _("the system"),
            "subject": agreement.subject,
            "state": agreement.get_state_display(),
            "reason": (_("Reason: %s") % event.reason) if event.reason else "",
            "seq": event.seq,
            "hash": event.hash,
        }
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
