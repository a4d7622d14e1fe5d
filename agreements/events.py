"""One helper per audit event type of this app. Only services call them."""

from django.dispatch import Signal

from audit.models import AuditAction
from audit.services import record_event


def _party_snapshot(agreement) -> list[str]:
    return [name for name, _signing in agreement.party_rows()]


def organisation_created(*, actor, organisation, role):
    return record_event(
        actor=actor,
        action=AuditAction.ORGANISATION_CREATED,
        obj=organisation,
        role=role,
        payload={
            "name": organisation.name,
            "kind": organisation.kind,
            "fiscal_code": organisation.fiscal_code,
            "vat_number": organisation.vat_number,
            "ipa_code": organisation.ipa_code,
        },
    )


def member_added(*, actor, membership, role):
    return record_event(
        actor=actor,
        action=AuditAction.MEMBER_ADDED,
        obj=membership,
        role=role,
        payload={
            "organisation": membership.organisation.name,
            "user": membership.user.get_username(),
            "title": membership.title,
        },
    )


def agreement_created(*, actor, agreement, role):
    return record_event(
        actor=actor,
        action=AuditAction.AGREEMENT_CREATED,
        obj=agreement,
        agreement_id=agreement.pk,
        role=role,
        payload={
            "subject": agreement.subject,
            "kind": agreement.kind,
            "legal_officer": agreement.legal_officer.get_username(),
            "valid_from": agreement.valid_from.isoformat() if agreement.valid_from else None,
            "valid_until": agreement.valid_until.isoformat() if agreement.valid_until else None,
            "after": {"state": agreement.state},
        },
    )


def party_added(*, actor, party, role):
    return record_event(
        actor=actor,
        action=AuditAction.PARTY_ADDED,
        obj=party,
        agreement_id=party.agreement_id,
        role=role,
        payload={
            "organisation": party.organisation.name,
            "organisation_id": party.organisation_id,
            "position": party.position,
        },
    )


def signatory_added(*, actor, signatory, role):
    return record_event(
        actor=actor,
        action=AuditAction.SIGNATORY_ADDED,
        obj=signatory,
        agreement_id=signatory.party.agreement_id,
        role=role,
        payload={
            "party": signatory.party.organisation.name,
            "user": signatory.user.get_username(),
            "full_name": signatory.full_name,
            "title": signatory.title,
            "authorising_act": signatory.authorising_act,
            "fiscal_code": signatory.fiscal_code,
        },
    )


def version_created(*, actor, version, role):
    rendered = version.source == version.Source.TEMPLATE
    payload = {
        "number": version.number,
        "parent": version.parent.number if version.parent_id else None,
        "source": version.source,
        "note": version.note,
    }
    documents = version.documents()
    if rendered:
        template = version.template_version
        payload["template"] = {"name": template.template.name, "number": template.number}
        payload["data"] = version.data
        documents.append({"name": "template.docx", "sha256": template.sha256})
    return record_event(
        actor=actor,
        action=AuditAction.VERSION_RENDERED if rendered else AuditAction.VERSION_CREATED,
        obj=version,
        agreement_id=version.agreement_id,
        role=role,
        payload=payload,
        documents=documents,
    )


# Sent inside the transaction of every change of an agreement's state, after its audit event;
# receivers that act on the outside world do so after the commit (webhooks/ connects one).
state_changed = Signal()


def agreement_transitioned(*, actor, agreement, action, role, before, reason="", extra=None):
    documents = []
    if agreement.approved_version_id and action == AuditAction.APPROVED:
        documents = agreement.approved_version.documents()
    payload = {"before": {"state": before}, "after": {"state": agreement.state}}
    if action == AuditAction.SUBMITTED_FOR_REVIEW:
        payload["parties"] = _party_snapshot(agreement)
    payload.update(extra or {})
    event = record_event(
        actor=actor,
        action=action,
        obj=agreement,
        agreement_id=agreement.pk,
        role=role,
        payload=payload,
        documents=documents,
        reason=reason,
    )
    if before != agreement.state:
        state_changed.send(sender=type(agreement), agreement=agreement, event=event)
    return event
