"""E-mail sent after a transition commits, never inside its transaction.

Each recipient reads it in their own language (workflow.models.UserPreferences, else
settings.LANGUAGE_CODE): one message per language. What the message says is taken from the
committed event and agreement into plain data, so that a Celery worker can compose it
(``STIPULA_NOTIFY_ASYNC``) exactly as the web process would.
"""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from agreements.models import Agreement, AgreementState
from agreements.roles import Role
from audit.models import AuditAction, AuditEvent

logger = logging.getLogger(__name__)


def _has_process(agreement: Agreement) -> bool:
    from workflow.models import AgreementWorkflow

    return AgreementWorkflow.objects.filter(
        agreement_id=agreement.pk, process__isnull=False
    ).exists()


def _recipient_ids(agreement: Agreement, action: str) -> list[int]:
    """Who hears of a transition. People with a task in the process hear of it from the task's
    own e-mail (workflow.notifications), so they are not told twice."""
    User = get_user_model()
    active = User.objects.filter(is_active=True)
    officer = [agreement.legal_officer_id]
    if action == AuditAction.SUBMITTED_FOR_REVIEW:
        from workflow.models import Reviewer

        named = list(
            Reviewer.objects.filter(agreement_id=agreement.pk, user__is_active=True).values_list(
                "user_id", flat=True
            )
        )
        if named:
            # With a process, each named reviewer is told by their task's own e-mail.
            return [] if _has_process(agreement) else named
        return list(
            active.filter(groups__name=Role.REVIEWER)
            .exclude(pk=agreement.legal_officer_id)
            .values_list("pk", flat=True)
        )
    signatories = active.filter(signatory_roles__party__agreement=agreement).values_list(
        "pk", flat=True
    )
    if action == AuditAction.APPROVED:
        return officer if _has_process(agreement) else officer + list(signatories)
    if action == AuditAction.SIGNING_COMPLETED:
        registrars = active.filter(groups__name=Role.REGISTRAR).values_list("pk", flat=True)
        return officer + list(registrars) + list(signatories)
    return officer


def notify_transition(*, event: AuditEvent, agreement: Agreement) -> None:
    """E-mail the people concerned by a committed transition (its event and agreement as they
    were committed)."""
    recipients = sorted(set(_recipient_ids(agreement, event.action)))
    if not recipients:
        return
    payload = event.payload_data
    snapshot = {
        "action": event.action,
        "actor": event.actor_username,
        "agreement": agreement.pk,
        "subject": agreement.subject,
        "state": agreement.state,
        "reason": event.reason,
        "findings": payload.get("findings", []),
        "seq": event.seq,
        "hash": event.hash,
    }
    if settings.STIPULA_NOTIFY_ASYNC:
        from workflow.tasks import deliver_transition_mail

        deliver_transition_mail.delay(snapshot, recipients)
    else:
        deliver_transition_mail_now(snapshot, recipients)


def deliver_transition_mail_now(snapshot: dict, recipient_ids: list[int]) -> int:
    from workflow.notifications import agreement_url, send_in_each_language

    users = (
        get_user_model()
        .objects.filter(pk__in=recipient_ids, is_active=True)
        .select_related("preferences")
        .order_by("pk")
    )

    def compose():
        action = AuditAction(snapshot["action"]).label
        subject = _("[Stipula] %(action)s: %(subject)s") % {
            "action": action,
            "subject": snapshot["subject"][:80],
        }
        findings = "".join(
            f"- {finding['item']}: {finding['note']}\n" for finding in snapshot["findings"]
        )
        body = _(
            "%(action)s by %(actor)s.\n\nAgreement: %(subject)s\nState: %(state)s\n"
            "%(reason)s\nAudit event no. %(seq)d, hash %(hash)s\n"
        ) % {
            "action": action,
            "actor": snapshot["actor"] or _("the system"),
            "subject": snapshot["subject"],
            "state": AgreementState(snapshot["state"]).label,
            "reason": (_("Reason: %s") % snapshot["reason"]) if snapshot["reason"] else "",
            "seq": snapshot["seq"],
            "hash": snapshot["hash"],
        }
        if findings:
            body += "\n" + _("Items to change:") + "\n" + findings
        body += "\n" + agreement_url(snapshot["agreement"]) + "\n"
        return subject, body

    return send_in_each_language(users, compose)
