"""Business actions on agreements: one function per action, each durable-atomic.

Inside, in this order: lock the row, check permission, fire the transition, write the audit event,
queue notifications for after the commit. A refused attempt raises a DomainError, changes nothing,
and is recorded as its own audit event once the attempt's transaction has rolled back.
"""

import datetime
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from agreements import events, notifications, policies
from agreements.models import (
    Agreement,
    AgreementParty,
    AgreementVersion,
    Organisation,
    OrganisationMember,
    Signatory,
)
from agreements.roles import Role, has_role
from agreements.storage import store_bytes
from agreements.transitions import TRANSITIONS
from audit import services as audit_services
from stipula.errors import (
    ConcurrentChange,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationFailed,
)
from stipula.validation import full_clean
from templates_docx.context import agreement_context
from templates_docx.conversion import docx_to_pdf
from templates_docx.docx_safety import check_docx
from templates_docx.services import template_render
from workflow import hooks as workflow_hooks


def _about_agreement(kwargs) -> dict:
    """The agreement a service call is about, from its keyword arguments."""
    if isinstance(kwargs.get("agreement"), Agreement):
        return {"agreement_id": kwargs["agreement"].pk}
    if kwargs.get("negotiation_round") is not None:
        return {"agreement_id": kwargs["negotiation_round"].agreement_id}
    if kwargs.get("proposal") is not None:
        return {"agreement_id": kwargs["proposal"].round.agreement_id}
    return {}


def audited_refusals(attempted: str):
    return audit_services.audited_refusals(attempted, locate=_about_agreement)


_LOCK = {}


def _lock(agreement: Agreement) -> Agreement:
    """The agreement's row, locked for the transaction (``SELECT ... FOR NO KEY UPDATE``), with
    its current version and responsible legal officer: what the ORM's
    ``select_for_update(no_key=True, of=("self",)).select_related(...)`` reads, in SQL written
    once (compiling that query cost more than running it, on every service call)."""
    from workflow.engine import Columns

    if not _LOCK:
        user = get_user_model()
        _LOCK["columns"] = [
            Columns(Agreement, "a"),
            Columns(AgreementVersion, "v"),
            Columns(user, "u"),
        ]
        table = {m: connection.ops.quote_name(m._meta.db_table) for m in (Agreement, user)}
        version_table = connection.ops.quote_name(AgreementVersion._meta.db_table)
        columns = ", ".join(c.sql for c in _LOCK["columns"])
        _LOCK["sql"] = (
            f"SELECT {columns} FROM {table[Agreement]} a "  # noqa: S608 - names from the models
            f"LEFT JOIN {version_table} v ON v.id = a.current_version_id "
            f"JOIN {table[user]} u ON u.id = a.legal_officer_id WHERE a.id = %s"
        )
    sql = _LOCK["sql"]
    if connection.features.has_select_for_update:
        sql += " FOR NO KEY UPDATE OF a" if connection.vendor == "postgresql" else " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, [agreement.pk])
        row = cursor.fetchone()
    if row is None:
        raise ValidationFailed(_("This agreement does not exist (any more)."))
    agreement_columns, version_columns, user_columns = _LOCK["columns"]
    at = len(agreement_columns.fields)
    locked = agreement_columns.instance(row[:at])
    version = None
    if locked.current_version_id is not None:
        version = version_columns.instance(row[at : at + len(version_columns.fields)])
    _CURRENT_VERSION.set_cached_value(locked, version)
    officer = user_columns.instance(row[at + len(version_columns.fields) :])
    _LEGAL_OFFICER.set_cached_value(locked, officer)
    return locked


_CURRENT_VERSION = Agreement._meta.get_field("current_version")
_LEGAL_OFFICER = Agreement._meta.get_field("legal_officer")


def allowed_transition_labels(agreement: Agreement) -> list[str]:
    return [
        str(TRANSITIONS[t.name].label)
        for t in agreement.get_available_state_transitions()
        if t.name in TRANSITIONS
    ]


def _acting_role(name: str, agreement: Agreement, actor) -> str:
    info = TRANSITIONS[name]
    if actor is None:
        return "system"
    if name == "withdraw" and not policies.is_responsible_legal_officer(agreement, actor):
        return Role.ADMINISTRATOR.value
    return info.role.value


# What a transition changes on the agreement's row (the FSM's field and what transitions set).
TRANSITION_FIELDS = ("state", "approved_version", "closing_reason", "updated_at")


def _transition(
    *,
    actor,
    agreement: Agreement,
    name: str,
    expected_state: str | None = None,
    reason: str = "",
    extra: dict | None = None,
) -> Agreement:
    info = TRANSITIONS[name]
    if info.needs_reason and not reason.strip():
        raise ValidationFailed(_("Give a reason: it is kept in the record of the procedure."))
    locked = _lock(agreement)
    if expected_state is not None and locked.state != expected_state:
        raise ConcurrentChange(
            _(
                "Someone else changed this agreement meanwhile: it is now in state "
                "«%(state)s». Reload the page and check before acting again."
            )
            % {"state": locked.get_state_display()},
            state=locked.state,
        )
    method = getattr(locked, name)
    meta = method._django_fsm
    # The permission is the same from every source state, so it is checked before the state.
    permission = next(iter(meta.transitions.values()))
    if not permission.has_perm(locked, actor):
        raise PermissionDenied(info.who, state=locked.state)
    current = meta.get_transition(locked.state)
    if current is None:
        allowed = allowed_transition_labels(locked)
        raise TransitionNotAllowed(
            _(
                "«%(action)s» is not possible while the agreement is in state «%(state)s». "
                "Possible now: %(allowed)s."
            )
            % {
                "action": info.label,
                "state": locked.get_state_display(),
                "allowed": ", ".join(allowed) if allowed else _("nothing (final state)"),
            },
            state=locked.state,
        )
    blockers = [str(c.explain(locked)) for c in current.conditions if not c(locked)]
    if blockers:
        raise TransitionNotAllowed(
            _("«%(action)s» is not possible yet. %(blockers)s")
            % {"action": info.label, "blockers": " ".join(blockers)},
            state=locked.state,
        )
    before = locked.state
    if info.needs_reason and name != "request_changes":
        method(reason=reason.strip())
    else:
        method()
    # The transition, its event and the process's move with its events: one append to the
    # chain, and on PostgreSQL one statement for all their rows (audit.services.batched).
    with audit_services.batched():
        audit_services.write_update(locked, TRANSITION_FIELDS)
        event = events.agreement_transitioned(
            actor=actor,
            agreement=locked,
            action=info.action,
            role=_acting_role(name, locked, actor),
            before=before,
            reason=reason.strip(),
            extra=extra,
        )
        if name == "approve":
            # Approval freezes the exact PDF to sign (RULES.md S3, S5), in the same transaction.
            from signing.services import prepare_document

            prepare_document(actor=actor, agreement=locked)
        has_process = workflow_hooks.agreement_transitioned(
            agreement=locked, name=name, actor=actor, event=event
        )
    notifications.queue_transition_mail(event=event, agreement=locked, has_process=has_process)
    return locked


def _transition_service(name: str):
    @audited_refusals(f"agreement.{name}")
    @transaction.atomic(durable=True)
    def service(*, actor, agreement: Agreement, expected_state: str | None = None, reason=""):
        return _transition(
            actor=actor,
            agreement=agreement,
            name=name,
            expected_state=expected_state,
            reason=reason,
        )

    service.__name__ = f"agreement_{name}"
    service.__doc__ = f"Fire the «{name}» transition (see agreements.transitions)."
    return service


agreement_open_negotiation = _transition_service("open_negotiation")
agreement_submit_for_review = _transition_service("submit_for_review")
agreement_request_changes = _transition_service("request_changes")
agreement_approve = _transition_service("approve")
agreement_reject = _transition_service("reject")
agreement_withdraw = _transition_service("withdraw")
agreement_complete_signing = _transition_service("complete_signing")

TRANSITION_SERVICES = {
    "open_negotiation": agreement_open_negotiation,
    "submit_for_review": agreement_submit_for_review,
    "request_changes": agreement_request_changes,
    "approve": agreement_approve,
    "reject": agreement_reject,
    "withdraw": agreement_withdraw,
    "complete_signing": agreement_complete_signing,
}


# Organisations -------------------------------------------------------------------------------


def _require_admin(actor):
    if actor is not None and not has_role(actor, Role.ADMINISTRATOR):
        raise PermissionDenied(_("Only an administrator can manage organisations."))


@audited_refusals("organisation.create")
@transaction.atomic(durable=True)
def organisation_create(
    *,
    actor,
    name: str,
    kind: str,
    fiscal_code: str = "",
    vat_number: str = "",
    ipa_code: str = "",
) -> Organisation:
    _require_admin(actor)
    organisation = Organisation(
        name=name.strip(),
        kind=kind,
        fiscal_code=fiscal_code.strip().upper(),
        vat_number=vat_number.strip(),
        ipa_code=ipa_code.strip(),
    )
    full_clean(organisation)
    organisation.save()
    events.organisation_created(actor=actor, organisation=organisation, role=_admin_role(actor))
    return organisation


def _admin_role(actor) -> str:
    return "system" if actor is None else Role.ADMINISTRATOR.value


@audited_refusals("organisation.add_member")
@transaction.atomic(durable=True)
def organisation_add_member(
    *, actor, organisation: Organisation, user, title: str = ""
) -> OrganisationMember:
    _require_admin(actor)
    if OrganisationMember.objects.filter(organisation=organisation, user=user).exists():
        raise ValidationFailed(
            _("%(user)s already acts for %(organisation)s.")
            % {"user": user.get_username(), "organisation": organisation.name}
        )
    membership = OrganisationMember.objects.create(
        organisation=organisation, user=user, title=title.strip()
    )
    events.member_added(actor=actor, membership=membership, role=_admin_role(actor))
    return membership


# Agreements ----------------------------------------------------------------------------------


@audited_refusals("agreement.create")
@transaction.atomic(durable=True)
def agreement_create(
    *,
    actor,
    subject: str,
    kind: str,
    valid_from: datetime.date | None = None,
    valid_until: datetime.date | None = None,
) -> Agreement:
    """A legal officer opens a new agreement in draft; they are its responsible officer."""
    if not policies.can_create_agreement(actor):
        raise PermissionDenied(_("Only a legal officer can create an agreement."))
    agreement = Agreement(
        subject=subject.strip(),
        kind=kind,
        legal_officer=actor,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    full_clean(agreement, exclude=["state", "current_version", "approved_version"])
    agreement.save()
    event = events.agreement_created(
        actor=actor, agreement=agreement, role=Role.LEGAL_OFFICER.value
    )
    workflow_hooks.agreement_created(agreement=agreement, actor=actor, event=event)
    return agreement


def _require_editable(agreement: Agreement, actor) -> None:
    if not policies.is_responsible_legal_officer(agreement, actor):
        raise PermissionDenied(
            _("Only the responsible legal officer of this agreement can change it.")
        )
    if not policies.can_edit(agreement, actor):
        raise TransitionNotAllowed(
            _(
                "The agreement is in state «%(state)s»: parties, signatories and text can change "
                "only in draft or negotiation."
            )
            % {"state": agreement.get_state_display()},
            state=agreement.state,
        )


@audited_refusals("agreement.add_party")
@transaction.atomic(durable=True)
def agreement_add_party(
    *, actor, agreement: Agreement, organisation: Organisation, role_description: str = ""
) -> AgreementParty:
    locked = _lock(agreement)
    _require_editable(locked, actor)
    if locked.parties.filter(organisation=organisation).exists():
        raise ValidationFailed(
            _("%(organisation)s is already a party of this agreement.")
            % {"organisation": organisation.name}
        )
    position = (locked.parties.aggregate(m=Max("position"))["m"] or 0) + 1
    party = AgreementParty.objects.create(
        agreement=locked,
        organisation=organisation,
        position=position,
        role_description=role_description.strip(),
    )
    events.party_added(actor=actor, party=party, role=Role.LEGAL_OFFICER.value)
    return party


@audited_refusals("agreement.add_signatory")
@transaction.atomic(durable=True)
def agreement_add_signatory(
    *,
    actor,
    agreement: Agreement,
    party: AgreementParty,
    user,
    title: str,
    authorising_act: str,
    fiscal_code: str = "",
) -> Signatory:
    locked = _lock(agreement)
    _require_editable(locked, actor)
    if party.agreement_id != locked.pk:
        raise ValidationFailed(_("That party does not belong to this agreement."))
    if not OrganisationMember.objects.filter(organisation=party.organisation, user=user).exists():
        raise ValidationFailed(
            _(
                "%(user)s does not act for %(organisation)s: add them as a member of the "
                "organisation first."
            )
            % {"user": user.get_username(), "organisation": party.organisation.name}
        )
    if party.signatories.filter(user=user).exists():
        raise ValidationFailed(
            _("%(user)s is already a signatory for %(organisation)s.")
            % {"user": user.get_username(), "organisation": party.organisation.name}
        )
    signatory = Signatory(
        party=party,
        user=user,
        full_name=user.get_full_name() or user.get_username(),
        title=title.strip(),
        authorising_act=authorising_act.strip(),
        fiscal_code=fiscal_code.strip().upper(),
        position=party.signatories.count() + 1,
    )
    full_clean(signatory)
    signatory.save()
    events.signatory_added(actor=actor, signatory=signatory, role=Role.LEGAL_OFFICER.value)
    return signatory


@dataclass(frozen=True)
class StoredDocument:
    """A DOCX checked, converted to PDF and stored, ready to become a version or a proposal."""

    docx_name: str
    docx_sha256: str
    pdf_name: str
    pdf_sha256: str


def prepare_document(docx: bytes) -> StoredDocument:
    """Check the DOCX, convert it with LibreOffice and store both files.

    Slow, so it runs before the transaction that records the version: no row lock is held while
    LibreOffice works, and a refused file or a failed conversion leaves no version behind.
    """
    check_docx(docx)
    pdf = docx_to_pdf(docx)
    docx_name, docx_sha256 = store_bytes(docx, folder="docx", extension="docx")
    pdf_name, pdf_sha256 = store_bytes(pdf, folder="pdf", extension="pdf")
    return StoredDocument(docx_name, docx_sha256, pdf_name, pdf_sha256)


def create_version(
    *,
    actor,
    agreement: Agreement,
    document: StoredDocument,
    source: str,
    note: str = "",
    data: dict | None = None,
    template_version=None,
    parent: AgreementVersion | None = None,
) -> AgreementVersion:
    """Record a new current version. Runs inside the caller's transaction, on a locked row.

    Its parent is the version it was derived from: the current one unless said otherwise.
    """
    last = agreement.versions.order_by("-number").first()
    version = AgreementVersion.objects.create(
        agreement=agreement,
        number=(last.number + 1) if last else 1,
        parent=parent or agreement.current_version or last,
        source=source,
        docx=document.docx_name,
        docx_sha256=document.docx_sha256,
        pdf=document.pdf_name,
        pdf_sha256=document.pdf_sha256,
        data=data or {},
        template_version=template_version,
        author=actor,
        note=note.strip(),
    )
    # The current version is data, not state: the FSM field is untouched.
    Agreement.objects.filter(pk=agreement.pk).update(
        current_version=version, updated_at=timezone.now()
    )
    agreement.current_version = version
    return version


@audited_refusals("agreement.create_version")
def version_create(*, actor, agreement: Agreement, docx: bytes, note: str = "") -> AgreementVersion:
    """Store an uploaded DOCX (a new draft, or a party's markup) as the new current version."""
    _require_editable(agreement, actor)
    document = prepare_document(docx)
    with transaction.atomic(durable=True):
        locked = _lock(agreement)
        _require_editable(locked, actor)
        version = create_version(
            actor=actor,
            agreement=locked,
            document=document,
            source=AgreementVersion.Source.UPLOAD,
            note=note,
        )
        events.version_created(actor=actor, version=version, role=Role.LEGAL_OFFICER.value)
    return version


@audited_refusals("agreement.render_version")
def version_render(
    *, actor, agreement: Agreement, template_version, data: dict, note: str = ""
) -> AgreementVersion:
    """Render a template with the agreement's data and store the result as the current version.

    Re-rendering with changed data makes a new version; nothing overwrites an earlier one.
    """
    _require_editable(agreement, actor)
    context = agreement_context(agreement, data)
    docx = template_render(template_version=template_version, context=context)
    document = prepare_document(docx)
    with transaction.atomic(durable=True):
        locked = _lock(agreement)
        _require_editable(locked, actor)
        version = create_version(
            actor=actor,
            agreement=locked,
            document=document,
            source=AgreementVersion.Source.TEMPLATE,
            note=note,
            data=data,
            template_version=template_version,
        )
        events.version_created(actor=actor, version=version, role=Role.LEGAL_OFFICER.value)
    return version
