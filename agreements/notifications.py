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
from django.db import connection
from django.utils.translation import gettext as _

from agreements.models import Agreement, AgreementState
from agreements.roles import Role
from audit.models import AuditAction, AuditEvent

logger = logging.getLogger(__name__)


# The transitions more people than the responsible legal officer hear of.
WIDER = {AuditAction.SUBMITTED_FOR_REVIEW, AuditAction.APPROVED, AuditAction.SIGNING_COMPLETED}


def transition_recipients(snapshot: dict, known: dict | None = None) -> list:
    """Who hears of a transition: the active users, with their preferences, in one query
    (none when only the responsible legal officer hears of it and ``known``, active users by
    id, has them). People with a task in the process hear of it from the task's own e-mail
    (workflow.notifications), so they are not told twice."""
    from workflow.models import AgreementWorkflow
    from workflow.notifications import active_users, users_where

    agreement_id, officer_id = snapshot["agreement"], snapshot["officer"]
    action = snapshot["action"]
    # Whether the agreement has a process, as the transition found it (None: not known).
    has_process = snapshot.get("has_process")
    if has_process is None:
        has_process = AgreementWorkflow.objects.filter(
            agreement_id=agreement_id, process__isnull=False
        ).exists()
    if action not in WIDER or (action == AuditAction.APPROVED and has_process):
        users = known if known is not None else active_users([officer_id])
        return [users[officer_id]] if officer_id in users else []
    sql = _recipient_sql()
    if action == AuditAction.SUBMITTED_FOR_REVIEW:
        candidates = users_where(
            f"{sql['named']} OR {sql['group']}",
            [agreement_id, Role.REVIEWER.value],
            flag=sql["named"],
            flag_params=[agreement_id],
        )
        named_reviewers = [user for user, named in candidates if named]
        if named_reviewers:
            # With a process, each named reviewer is told by their task's own e-mail.
            return [] if has_process else named_reviewers
        return [user for user, _named in candidates if user.pk != officer_id]
    if action == AuditAction.APPROVED:
        users = users_where(f"u.id = %s OR {sql['signatories']}", [officer_id, agreement_id])
    else:
        users = users_where(
            f"u.id = %s OR {sql['group']} OR {sql['signatories']}",
            [officer_id, Role.REGISTRAR.value, agreement_id],
        )
    return [user for user, _flag in users]


_SQL = {}


def _recipient_sql() -> dict:
    """Conditions on a user ``u``: named reviewer of an agreement, member of a group (role),
    signatory for a party of an agreement. Names from the models."""
    if not _SQL:
        from django.contrib.auth.models import Group

        from agreements.models import AgreementParty, Signatory
        from workflow.models import Reviewer

        def table(model):
            return connection.ops.quote_name(model._meta.db_table)

        def column(model, name):
            return connection.ops.quote_name(model._meta.get_field(name).column)

        memberships = get_user_model().groups.through
        _SQL["named"] = (
            f"u.id IN (SELECT r.{column(Reviewer, 'user')} FROM {table(Reviewer)} r "  # noqa: S608
            f"WHERE r.{column(Reviewer, 'agreement')} = %s)"
        )
        _SQL["group"] = (
            f"u.id IN (SELECT m.{column(memberships, 'user')} FROM {table(memberships)} m "  # noqa: S608
            f"JOIN {table(Group)} g ON g.id = m.{column(memberships, 'group')} "
            f"WHERE g.{column(Group, 'name')} = %s)"
        )
        _SQL["signatories"] = (
            f"u.id IN (SELECT s.{column(Signatory, 'user')} FROM {table(Signatory)} s "  # noqa: S608
            f"JOIN {table(AgreementParty)} ap ON ap.id = s.{column(Signatory, 'party')} "
            f"WHERE ap.{column(AgreementParty, 'agreement')} = %s)"
        )
    return _SQL


def transition_recipient_ids(snapshot: dict) -> list[int]:
    return [user.pk for user in transition_recipients(snapshot)]


def snapshot_of(event: AuditEvent, agreement: Agreement, has_process=None) -> dict:
    """What the e-mail about a committed transition says, as plain data."""
    return {
        "has_process": has_process,
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


def queue_transition_mail(
    *, event: AuditEvent, agreement: Agreement, has_process: bool | None = None
) -> None:
    """E-mail the people concerned by the transition once the transaction commits (its event
    and agreement as they were committed). ``has_process``: whether the agreement has a
    process, when the caller knows (None: read it when the e-mail is composed)."""
    from workflow.notifications import TRANSITION, enqueue

    def mails():
        params = snapshot_of(event, agreement, has_process)
        return [{"kind": TRANSITION, "user_id": None, "params": params}]

    enqueue(mails)


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
