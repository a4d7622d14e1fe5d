"""Registration as the law requires it (RULES.md P1-P10): one durable transaction per action.

A registration locks the agreement, checks the registrar and the state, locks the counter row of
(register, Europe/Rome year), takes the next number, inserts the registration with the impronta of
the exact stored bytes, fires the «register» transition with its audit event and moves the
process, all in one transaction: if anything fails, no number is consumed (P1, P3).
"""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from agreements.models import Agreement, AgreementState
from agreements.roles import Role, has_role
from agreements.services import _lock, _transition, audited_refusals
from agreements.storage import read_bytes, sha256_hex, store_bytes
from audit.models import AuditAction
from audit.services import record_event
from registry import holidays
from registry.models import (
    DailyRegister,
    Register,
    RegisterCounter,
    Registration,
    RegistrationAnnulment,
    RegistrationChange,
)
from stipula.errors import (
    DocumentRejected,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationFailed,
)
from stipula.transactions import after_commit
from stipula.validation import full_clean

ROME = ZoneInfo("Europe/Rome")
MAX_ATTACHMENTS = 20
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024


def rome_now(now: datetime.datetime | None = None) -> datetime.datetime:
    return timezone.localtime(now or timezone.now(), ROME)


def _display_name(user) -> str:
    return user.get_full_name() or user.get_username()


def _require_registrar(actor):
    if actor is None or not has_role(actor, Role.REGISTRAR):
        raise PermissionDenied(
            _("Only a registrar can register, annul or reclassify, or produce a daily register.")
        )


def _require_admin(actor):
    if actor is None or not has_role(actor, Role.ADMINISTRATOR):
        raise PermissionDenied(_("Only an administrator can create registers."))


# Registers -----------------------------------------------------------------------------------


@audited_refusals("registry.register_create")
@transaction.atomic(durable=True)
def register_create(
    *,
    actor,
    code: str,
    name: str,
    kind: str = Register.Kind.REPERTORIO,
    administration_code: str,
    aoo_code: str,
) -> Register:
    """Open a new register with its own yearly numbering (RULES.md P7)."""
    _require_admin(actor)
    code = code.strip()
    if Register.objects.filter(code__iexact=code).exists():
        raise ValidationFailed(
            _("A register with code «%(code)s» exists already: choose another code.")
            % {"code": code}
        )
    register = Register(
        code=code,
        name=name.strip(),
        kind=kind,
        administration_code=administration_code.strip(),
        aoo_code=aoo_code.strip(),
    )
    full_clean(register)
    register.save()
    record_event(
        actor=actor,
        action=AuditAction.REGISTER_CREATED,
        obj=register,
        role=Role.ADMINISTRATOR.value,
        payload={
            "code": register.code,
            "name": register.name,
            "kind": register.kind,
            "administration_code": register.administration_code,
            "aoo_code": register.aoo_code,
        },
    )
    return register


# Numbers -------------------------------------------------------------------------------------


def _lock_counter(register: Register, year: int) -> RegisterCounter:
    """The counter row of (register, year), created if needed, locked until the commit."""
    RegisterCounter.objects.bulk_create(
        [RegisterCounter(register=register, year=year)], ignore_conflicts=True
    )
    return RegisterCounter.objects.select_for_update().get(register=register, year=year)


NEXT_NUMBER_SQL = """
INSERT INTO registry_registercounter (register_id, year, last_number) VALUES (%s, %s, 1)
ON CONFLICT (register_id, year)
DO UPDATE SET last_number = registry_registercounter.last_number + 1
RETURNING last_number
"""


def _next_number(register: Register, year: int) -> int:
    """Take the next number of (register, year): one statement that creates or locks the counter
    row and increments it; the row stays locked until the commit, and a rollback gives the number
    back (RULES.md P2, P3). PostgreSQL and SQLite (3.35+) both run it."""
    with connection.cursor() as cursor:
        cursor.execute(NEXT_NUMBER_SQL, [register.pk, year])
        return cursor.fetchone()[0]


def _day_closed_error(day: datetime.date) -> str:
    return _(
        "The daily register of %(day)s is closed: nothing more can be recorded with that date. "
        "Try again tomorrow, or ask the registry's manager."
    ) % {"day": day.strftime("%d/%m/%Y")}


def _check_day_open(day: datetime.date) -> None:
    if DailyRegister.objects.filter(day=day).exists():
        raise TransitionNotAllowed(_day_closed_error(day))


@dataclass(frozen=True)
class Attachment:
    """A file registered together with the signed document (an allegato)."""

    name: str
    data: bytes
    mime_type: str = "application/octet-stream"


def _store_attachments(attachments: Iterable[Attachment]) -> list[dict]:
    stored = []
    attachments = list(attachments)
    if len(attachments) > MAX_ATTACHMENTS:
        raise ValidationFailed(
            _("At most %(count)d attachments can be registered with a document.")
            % {"count": MAX_ATTACHMENTS}
        )
    names = set()
    for attachment in attachments:
        name = attachment.name.strip().replace("/", "_").replace("\\", "_")
        if not name:
            raise ValidationFailed(_("Every attachment needs a file name."))
        if name in names:
            raise ValidationFailed(
                _("Two attachments are called «%(name)s»: rename one of them.") % {"name": name}
            )
        names.add(name)
        if not attachment.data:
            raise DocumentRejected(
                _("The attachment «%(name)s» is empty: choose the right file.") % {"name": name}
            )
        if len(attachment.data) > MAX_ATTACHMENT_BYTES:
            raise DocumentRejected(
                _("The attachment «%(name)s» is larger than 50 MB.") % {"name": name}
            )
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else "bin"
        file, digest = store_bytes(
            attachment.data, folder="registry/attachments", extension=extension[:8]
        )
        stored.append(
            {
                "name": name,
                "file": file,
                "sha256": digest,
                "size": len(attachment.data),
                "mime_type": attachment.mime_type or "application/octet-stream",
            }
        )
    return stored


def _signed_document(agreement: Agreement) -> tuple[str, str, bytes]:
    """(storage name, SHA-256, bytes) of the exact signed PDF, checked against its record."""
    from signing.models import SigningDocument

    document = SigningDocument.objects.filter(agreement=agreement).first()
    if document is None or not document.current_pdf:
        raise DocumentRejected(
            _("This agreement has no signed PDF to register: it was signed outside Stipula?")
        )
    name = document.current_pdf.name
    data = read_bytes(name)
    digest = sha256_hex(data)
    if digest != document.current_sha256:
        raise DocumentRejected(
            _(
                "The stored signed PDF does not match its recorded hash (%(recorded)s, found "
                "%(found)s): it cannot be registered. Tell the system administrator."
            )
            % {"recorded": document.current_sha256, "found": digest}
        )
    return name, digest, data


def _party_records(agreement: Agreement) -> list[dict]:
    rows = agreement.parties.select_related("organisation").order_by("position")
    return [
        {
            "position": party.position,
            "name": party.organisation.name,
            "kind": party.organisation.kind,
            "fiscal_code": party.organisation.fiscal_code,
            "vat_number": party.organisation.vat_number,
            "ipa_code": party.organisation.ipa_code,
        }
        for party in rows
    ]


def _on_registered(registration: Registration) -> None:
    """After the commit: a checkpoint of the audit log covers the registration (RULES.md A4)."""
    from audit.checkpoints import checkpoint_after_commit

    checkpoint_after_commit(reason=f"registration {registration.label}")


@audited_refusals("registry.register")
@transaction.atomic(durable=True)
def registration_register(
    *,
    actor,
    agreement: Agreement,
    register: Register,
    attachments: Iterable[Attachment] = (),
    classification: str = "",
    assigned_to: str = "",
    public_document: bool = False,
    expected_state: str | None = None,
) -> Registration:
    """Give the signed ``agreement`` the next number of ``register`` (RULES.md P1-P5, P8)."""
    locked = _lock(agreement)
    _require_registrar(actor)
    if locked.state != AgreementState.SIGNED:
        # The transition names the state and what is possible; checked here before any work.
        _transition(actor=actor, agreement=locked, name="register", expected_state=expected_state)
    register = Register.objects.get(pk=register.pk)
    if not register.active:
        raise ValidationFailed(
            _("The register «%(code)s» is closed to new registrations: choose another.")
            % {"code": register.code}
        )
    file, digest, data = _signed_document(locked)
    existing = (
        Registration.objects.filter(document_sha256=digest).select_related("register").first()
    )
    if existing is not None:
        raise ValidationFailed(
            _("This document is registered already as %(label)s: a document gets one number.")
            % {"label": existing.label}
        )
    stored_attachments = _store_attachments(attachments)
    now = timezone.now()
    local = rome_now(now)
    number = _next_number(register, local.year)
    _check_day_open(local.date())
    registration = Registration(
        register=register,
        year=local.year,
        number=number,
        registered_at=now,
        registration_date=local.date(),
        agreement=locked,
        subject=locked.subject,
        parties=_party_records(locked),
        document_name=f"agreement-{locked.pk}-signed.pdf",
        document_file=file,
        document_sha256=digest,
        document_size=len(data),
        attachments=stored_attachments,
        operator=actor,
        operator_name=_display_name(actor),
        classification=classification.strip(),
        assigned_to=assigned_to.strip(),
        public_document=bool(public_document),
    )
    from registry.segnatura import build_segnatura

    registration.segnatura = build_segnatura(registration)
    try:
        # No savepoint: after a unique violation the whole registration rolls back anyway.
        registration.save(force_insert=True)
    except IntegrityError:
        raise ValidationFailed(
            _("This agreement or this document is registered already: a document gets one number.")
        ) from None
    _transition(
        actor=actor,
        agreement=locked,
        name="register",
        expected_state=expected_state,
        extra={"registration": registration_record(registration)},
    )
    after_commit(_on_registered, registration)
    return registration


def registration_record(registration: Registration) -> dict:
    """What the audit event of a registration keeps: the values that never change."""
    return {
        "register": registration.register.code,
        "year": registration.year,
        "number": registration.formatted_number,
        "registered_at": registration.registered_at.isoformat(),
        "date": registration.registration_date.isoformat(),
        "subject": registration.subject,
        "parties": [party["name"] for party in registration.parties],
        "document": registration.document_facts,
        "attachments": [
            {"name": a["name"], "sha256": a["sha256"], "size": a["size"]}
            for a in registration.attachments
        ],
        "operator": registration.operator.get_username(),
    }


# Annulment and changes -----------------------------------------------------------------------


def _lock_registration(registration: Registration) -> Registration:
    return (
        Registration.objects.select_for_update(of=("self",))
        .select_related("register", "agreement")
        .get(pk=registration.pk)
    )


@audited_refusals("registry.annul")
@transaction.atomic(durable=True)
def registration_annul(
    *,
    actor,
    registration: Registration,
    reason: str,
    authorised_by: str,
    authorising_act: str,
) -> RegistrationAnnulment:
    """Annul a registration (RULES.md P6): it keeps every value, marked annulled."""
    agreement = _lock(registration.agreement)
    _require_registrar(actor)
    locked = _lock_registration(registration)
    missing = [
        label
        for value, label in [
            (reason, _("the reason")),
            (authorised_by, _("who authorised it")),
            (authorising_act, _("the reference of the authorising act")),
        ]
        if not value.strip()
    ]
    if missing:
        raise ValidationFailed(
            _("An annulment needs %(missing)s: they are kept in the register.")
            % {"missing": ", ".join(str(m) for m in missing)}
        )
    if RegistrationAnnulment.objects.filter(registration=locked).exists():
        raise TransitionNotAllowed(
            _("%(label)s is annulled already.") % {"label": locked.label},
            state=agreement.state,
        )
    now = timezone.now()
    local = rome_now(now)
    _lock_counter(locked.register, local.year)
    _check_day_open(local.date())
    annulment = RegistrationAnnulment.objects.create(
        registration=locked,
        reason=reason.strip(),
        authorised_by=authorised_by.strip(),
        authorising_act=authorising_act.strip(),
        operator=actor,
        operator_name=_display_name(actor),
        annulled_at=now,
        annulment_date=local.date(),
    )
    _transition(
        actor=actor,
        agreement=agreement,
        name="annul",
        reason=reason,
        extra={
            "registration": {
                "register": locked.register.code,
                "year": locked.year,
                "number": locked.formatted_number,
                "sha256": locked.document_sha256,
            },
            "authorised_by": annulment.authorised_by,
            "authorising_act": annulment.authorising_act,
        },
    )
    return annulment


@audited_refusals("registry.change")
@transaction.atomic(durable=True)
def registration_change(
    *,
    actor,
    registration: Registration,
    classification: str | None = None,
    assigned_to: str | None = None,
    public_document: bool | None = None,
) -> list[RegistrationChange]:
    """Change what may change of a registration, keeping old and new value (RULES.md P5)."""
    _require_registrar(actor)
    locked = _lock_registration(registration)
    wanted = {
        "classification": None if classification is None else classification.strip(),
        "assigned_to": None if assigned_to is None else assigned_to.strip(),
        "public_document": public_document,
    }
    now = timezone.now()
    local = rome_now(now)
    changes = []
    for field, new in wanted.items():
        old = getattr(locked, field)
        if new is None or new == old:
            continue
        setattr(locked, field, new)
        changes.append(
            RegistrationChange(
                registration=locked,
                field=field,
                old_value=str(old),
                new_value=str(new),
                changed_at=now,
                change_date=local.date(),
                actor=actor,
                actor_name=_display_name(actor),
            )
        )
    if not changes:
        raise ValidationFailed(_("Nothing to change: the values given are the current ones."))
    _lock_counter(locked.register, local.year)
    _check_day_open(local.date())
    locked.save(update_fields=[change.field for change in changes])
    RegistrationChange.objects.bulk_create(changes)
    record_event(
        actor=actor,
        action=AuditAction.REGISTRATION_CHANGED,
        obj=locked,
        agreement_id=locked.agreement_id,
        role=Role.REGISTRAR.value,
        payload={
            "registration": locked.label,
            "changes": [
                {"field": c.field, "old": c.old_value, "new": c.new_value} for c in changes
            ],
        },
    )
    return changes


# Daily register ------------------------------------------------------------------------------


@audited_refusals("registry.daily_register")
@transaction.atomic(durable=True)
def daily_register_produce(*, actor, day: datetime.date) -> DailyRegister:
    """Produce and close the daily register of ``day`` (RULES.md P9): a PDF and a JSON file with
    every registration dated ``day`` and every annulment and change made on it; their hashes go
    into the audit trail. ``actor`` None is the nightly job."""
    if actor is not None:
        _require_registrar(actor)
    today = rome_now().date()
    if day > today:
        raise ValidationFailed(
            _("The daily register of %(day)s cannot be produced before that day.")
            % {"day": day.strftime("%d/%m/%Y")}
        )
    if day == today:
        # Closing today: wait for registrations in flight, then nothing more can take this date.
        for register in Register.objects.all():
            _lock_counter(register, day.year)
    existing = DailyRegister.objects.filter(day=day).first()
    if existing is not None:
        raise ValidationFailed(
            _("The daily register of %(day)s was produced already, on %(when)s.")
            % {
                "day": day.strftime("%d/%m/%Y"),
                "when": rome_now(existing.produced_at).strftime("%d/%m/%Y %H:%M"),
            }
        )
    from registry import daily

    now = timezone.now()
    content = daily.collect(day)
    json_bytes = daily.render_json(content, produced_at=now)
    pdf_bytes = daily.render_pdf(content, produced_at=now)
    pdf_file, pdf_sha = store_bytes(pdf_bytes, folder="registry/daily", extension="pdf")
    json_file, json_sha = store_bytes(json_bytes, folder="registry/daily", extension="json")
    daily_register = DailyRegister.objects.create(
        day=day,
        produced_at=now,
        produced_by=actor,
        produced_by_name=_display_name(actor) if actor is not None else "system",
        pdf_file=pdf_file,
        pdf_sha256=pdf_sha,
        json_file=json_file,
        json_sha256=json_sha,
        registrations=len(content.registrations),
        annulments=len(content.annulments),
        changes=len(content.changes),
        due_by=holidays.next_working_day(day),
    )
    record_event(
        actor=actor,
        action=AuditAction.DAILY_REGISTER_PRODUCED,
        obj=daily_register,
        role=Role.REGISTRAR.value if actor is not None else "system",
        payload={
            "day": day.isoformat(),
            "registrations": daily_register.registrations,
            "annulments": daily_register.annulments,
            "changes": daily_register.changes,
            "due_by": daily_register.due_by.isoformat(),
        },
        documents=[
            {"name": f"registro-giornaliero-{day.isoformat()}.pdf", "sha256": pdf_sha},
            {"name": f"registro-giornaliero-{day.isoformat()}.json", "sha256": json_sha},
        ],
    )
    return daily_register
