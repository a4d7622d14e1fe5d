"""E-mail sent after a transition commits, never inside its transaction.

Each recipient reads it in their own language (workflow.models.UserPreferences, else
settings.LANGUAGE_CODE): one message per language. What the message says is taken from the
committed event and agreement into plain data (``snapshot``), and the recipients are found when
it is delivered, so that a Celery worker (``STIPULA_NOTIFY_ASYNC``) composes it exactly as the
web process would. It travels with the e-mail of the process's tasks, in the transaction's one
delivery (workflow.notifications).
"""

import logging

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from agreements.models import Agreement, AgreementState
from agreements.roles import Role
from audit.models import AuditAction, AuditEvent

logger = logging.getLogger(__name__)


def transition_recipients(snapshot: dict, known: dict | None = None) -> list:
    """Who hears of a transition: the active users, with their preferences, in one query
    (none when only the responsible legal officer hears of it and ``known``, active users by
    id, has them). People with a task in the process hear of it from the task's own e-mail
    (workflow.notifications), so they are not told twice."""
    from workflow.models import AgreementWorkflow, Reviewer

    agreement_id, officer_id = snapshot["agreement"], snapshot["officer"]
    action = snapshot["action"]
    users = get_user_model().objects.filter(is_active=True).select_related("preferences")
    has_process = Exists(
        AgreementWorkflow.objects.filter(agreement_id=agreement_id, process__isnull=False)
    )
    signatories = Q(signatory_roles__party__agreement_id=agreement_id)
    if action == AuditAction.SUBMITTED_FOR_REVIEW:
        named = Reviewer.objects.filter(agreement_id=agreement_id, user_id=OuterRef("pk"))
        candidates = list(
            users.filter(
                Q(reviews_named__agreement_id=agreement_id) | Q(groups__name=Role.REVIEWER)
            )
            .annotate(named=Exists(named), has_process=has_process)
            .distinct()
            .order_by("pk")
        )
        named_reviewers = [user for user in candidates if user.named]
        if named_reviewers:
            # With a process, each named reviewer is told by their task's own e-mail.
            return [] if named_reviewers[0].has_process else named_reviewers
        return [user for user in candidates if user.pk != officer_id]
    if action == AuditAction.APPROVED:
        found = list(
            users.filter(Q(pk=officer_id) | signatories)
            .annotate(has_process=has_process)
            .distinct()
            .order_by("pk")
        )
        if found and found[0].has_process:
            return [user for user in found if user.pk == officer_id]
        return found
    if action == AuditAction.SIGNING_COMPLETED:
        return list(
            users.filter(Q(pk=officer_id) | Q(groups__name=Role.REGISTRAR) | signatories)
            .distinct()
            .order_by("pk")
        )
    if known is not None:
        return [known[officer_id]] if officer_id in known else []
    return list(users.filter(pk=officer_id))


def transition_recipient_ids(snapshot: dict) -> list[int]:
    return [user.pk for user in transition_recipients(snapshot)]


def snapshot_of(event: AuditEvent, agreement: Agreement) -> dict:
    """What the e-mail about a committed transition says, as plain data."""
    return {
        "action": event.action,
        "actor": event.actor_username,
        "agreement": agreement.pk,
        "officer": agreement.legal_officer_id,
        "subject": agreement.subject,
        "state": agreement.state,
        "reason": event.reason,
        "findings": event.payload_data.get("findings", []),
        "seq": event.seq,
        "hash": event.hash,
    }


def queue_transition_mail(*, event: AuditEvent, agreement: Agreement) -> None:
    """E-mail the people concerned by the transition once the transaction commits (its event
    and agreement as they were committed)."""
    from workflow.notifications import TRANSITION, enqueue

    enqueue(
        lambda: [{"kind": TRANSITION, "user_id": None, "params": snapshot_of(event, agreement)}]
    )


def notify_transition(*, event: AuditEvent, agreement: Agreement) -> None:
    """E-mail the people concerned by a committed transition, now."""
    from workflow.notifications import TRANSITION, dispatch

    dispatch([{"kind": TRANSITION, "user_id": None, "params": snapshot_of(event, agreement)}])


def deliver_transition_mail_now(snapshot: dict, recipient_ids: list[int] | None = None) -> int:
    from workflow.notifications import send_in_each_language

    if recipient_ids is None:
        return send_in_each_language(transition_recipients(snapshot), compose_transition(snapshot))
    users = (
        get_user_model()
        .objects.filter(pk__in=recipient_ids, is_active=True)
        .select_related("preferences")
        .order_by("pk")
    )
    return send_in_each_language(users, compose_transition(snapshot))


def compose_transition(snapshot: dict):
    """The composer of the e-mail about a transition (run once per language)."""
    from workflow.notifications import agreement_url

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

    return compose
