"""Registration services (RULES.md P1-P7): numbers, impronta, refusals, annulment, changes."""

import base64
import datetime
import hashlib
from zoneinfo import ZoneInfo

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from agreements.models import Agreement, AgreementState
from agreements.storage import read_bytes
from audit.models import AuditAction, AuditEvent
from audit.selectors import verify_chain
from registry import services
from registry.models import (
    Register,
    RegisterCounter,
    Registration,
    RegistrationAnnulment,
    RegistrationChange,
)
from stipula.errors import DomainError, PermissionDenied, TransitionNotAllowed, ValidationFailed
from tests.factories import events_for, make_user
from tests.registry.helpers import quick_signed_agreements

pytestmark = pytest.mark.django_db

ROME = ZoneInfo("Europe/Rome")


@pytest.fixture
def officer():
    return make_user("officer", "legal_officer")


@pytest.fixture
def clerk():
    return make_user("clerk", "registrar", first_name="Rita", last_name="Registri")


@pytest.fixture
def admin_user():
    return make_user("admin", "administrator")


@pytest.fixture
def repertorio(admin_user):
    return services.register_create(
        actor=admin_user,
        code="REP-CONV",
        name="Repertorio delle convenzioni",
        administration_code="c_h501",
        aoo_code="AOO-SOC",
    )


@pytest.fixture
def protocol(admin_user):
    return services.register_create(
        actor=admin_user,
        code="PG",
        name="Protocollo generale",
        kind=Register.Kind.PROTOCOL,
        administration_code="c_h501",
        aoo_code="AOO-SOC",
    )


def refusals(attempted):
    return list(
        AuditEvent.objects.filter(action=AuditAction.ACTION_REFUSED).filter(
            payload__contains=attempted
        )
    )


def test_numbers_start_at_one_with_seven_digits_and_increase(officer, clerk, repertorio):
    agreements = quick_signed_agreements(officer, 3)

    registrations = [
        services.registration_register(actor=clerk, agreement=a, register=repertorio)
        for a in agreements
    ]

    year = timezone.localtime(timezone.now(), ROME).year
    assert [r.number for r in registrations] == [1, 2, 3]
    assert [r.label for r in registrations] == [
        f"REP-CONV 0000001/{year}",
        f"REP-CONV 0000002/{year}",
        f"REP-CONV 0000003/{year}",
    ]
    assert RegisterCounter.objects.get(register=repertorio, year=year).last_number == 3
    for agreement in agreements:
        agreement.refresh_from_db()
        assert agreement.state == AgreementState.REGISTERED


def test_each_register_has_its_own_numbering(officer, clerk, repertorio, protocol):
    first, second, third = quick_signed_agreements(officer, 3)

    a = services.registration_register(actor=clerk, agreement=first, register=repertorio)
    b = services.registration_register(actor=clerk, agreement=second, register=protocol)
    c = services.registration_register(actor=clerk, agreement=third, register=repertorio)

    assert (a.number, b.number, c.number) == (1, 1, 2)


def test_registration_records_the_impronta_of_the_stored_bytes(officer, clerk, repertorio):
    (agreement,) = quick_signed_agreements(officer, 1)

    registration = services.registration_register(
        actor=clerk,
        agreement=agreement,
        register=repertorio,
        attachments=[
            services.Attachment("Allegato A - piano.pdf", b"%PDF-1.4 piano", "application/pdf"),
            services.Attachment(
                "delibera.txt", "Delibera n. 12 «approvata»".encode(), "text/plain"
            ),
        ],
        classification="1.6.3",
        assigned_to="Ufficio di piano",
    )

    data = read_bytes(agreement.signing_document.current_pdf.name)
    assert registration.document_sha256 == hashlib.sha256(data).hexdigest()
    assert (
        registration.document_sha256_base64
        == base64.b64encode(hashlib.sha256(data).digest()).decode()
    )
    assert registration.document_size == len(data)
    assert [a["name"] for a in registration.attachments] == [
        "Allegato A - piano.pdf",
        "delibera.txt",
    ]
    assert (
        registration.attachments[1]["sha256"]
        == hashlib.sha256("Delibera n. 12 «approvata»".encode()).hexdigest()
    )
    assert read_bytes(registration.attachments[0]["file"]) == b"%PDF-1.4 piano"
    assert registration.subject == agreement.subject
    assert [p["name"] for p in registration.parties] == [
        p.organisation.name for p in agreement.parties.order_by("position")
    ]
    assert registration.operator == clerk
    assert registration.operator_name == "Rita Registri"
    assert (
        registration.registration_date
        == timezone.localtime(registration.registered_at, ROME).date()
    )

    (event,) = events_for(agreement, AuditAction.REGISTERED)
    recorded = event.payload_data["registration"]
    assert recorded["number"] == "0000001"
    assert recorded["register"] == "REP-CONV"
    assert recorded["document"]["sha256"] == registration.document_sha256
    assert recorded["document"]["sha256_base64"] == registration.document_sha256_base64
    assert [a["sha256"] for a in recorded["attachments"]] == [
        a["sha256"] for a in registration.attachments
    ]
    assert event.actor_username == "clerk" and event.actor_role == "registrar"
    assert verify_chain().ok


def test_only_registrars_register_and_the_attempt_is_audited(officer, repertorio):
    (agreement,) = quick_signed_agreements(officer, 1)

    with pytest.raises(PermissionDenied, match="Only a registrar"):
        services.registration_register(actor=officer, agreement=agreement, register=repertorio)

    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNED
    assert not Registration.objects.exists()
    assert not RegisterCounter.objects.filter(last_number__gt=0).exists()
    (refusal,) = refusals("registry.register")
    assert refusal.actor_username == "officer"
    assert refusal.agreement_id == agreement.pk


def test_an_agreement_not_signed_is_refused_naming_its_state(officer, clerk, repertorio):
    from tests.factories import make_ready_agreement

    agreement = make_ready_agreement(officer)

    with pytest.raises(TransitionNotAllowed, match="«Draft»"):
        services.registration_register(actor=clerk, agreement=agreement, register=repertorio)

    assert not Registration.objects.exists()
    assert len(refusals("registry.register")) == 1


def test_the_same_document_twice_is_refused(officer, clerk, repertorio, protocol):
    (agreement,) = quick_signed_agreements(officer, 1)
    first = services.registration_register(actor=clerk, agreement=agreement, register=repertorio)

    # The agreement is registered now; even forced back to «signed», its document keeps its number.
    Agreement.objects.filter(pk=agreement.pk).update(state=AgreementState.SIGNED)
    with pytest.raises(ValidationFailed, match=f"registered already as {first.label}"):
        services.registration_register(actor=clerk, agreement=agreement, register=protocol)

    assert Registration.objects.count() == 1
    assert not RegisterCounter.objects.filter(register=protocol, last_number__gt=0).exists()


def test_a_failure_after_the_number_consumes_no_number(officer, clerk, repertorio, monkeypatch):
    first, second = quick_signed_agreements(officer, 2)

    def broken(registration):
        raise RuntimeError("segnatura writer broke")

    # A fault injected in our own code after the number was taken: the whole registration rolls
    # back, the number with it.
    monkeypatch.setattr("registry.segnatura.build_segnatura", broken)
    with pytest.raises(RuntimeError):
        services.registration_register(actor=clerk, agreement=first, register=repertorio)
    monkeypatch.undo()

    registration = services.registration_register(
        actor=clerk, agreement=second, register=repertorio
    )
    assert registration.number == 1
    first.refresh_from_db()
    assert first.state == AgreementState.SIGNED


def test_a_closed_register_takes_no_registration(officer, clerk, repertorio):
    (agreement,) = quick_signed_agreements(officer, 1)
    Register.objects.filter(pk=repertorio.pk).update(active=False)

    with pytest.raises(ValidationFailed, match="closed to new registrations"):
        services.registration_register(actor=clerk, agreement=agreement, register=repertorio)


def test_a_stored_file_that_no_longer_matches_its_hash_is_not_registered(
    officer, clerk, repertorio
):
    (agreement,) = quick_signed_agreements(officer, 1)
    path = agreement.signing_document.current_pdf.path
    with open(path, "ab") as handle:
        handle.write(b"tampered")

    with pytest.raises(DomainError, match="does not match its recorded hash"):
        services.registration_register(actor=clerk, agreement=agreement, register=repertorio)
    assert not Registration.objects.exists()


def test_year_follows_europe_rome_across_new_year(officer, clerk, repertorio, monkeypatch):
    agreements = quick_signed_agreements(officer, 3)
    # 31 Dec 2026 22:59 UTC is 23:59 in Rome; 23:00 UTC is already 1 Jan 2027 in Rome.
    # The clock is the one thing outside the system: it is set, the rest runs for real.
    instants = iter(
        [
            datetime.datetime(2026, 12, 31, 22, 59, tzinfo=datetime.UTC),
            datetime.datetime(2026, 12, 31, 23, 0, tzinfo=datetime.UTC),
            datetime.datetime(2026, 12, 31, 23, 30, tzinfo=datetime.UTC),
        ]
    )
    clock = {"now": None}

    def now():
        return clock["now"]

    monkeypatch.setattr("registry.services.timezone.now", now)
    made = []
    for agreement in agreements:
        clock["now"] = next(instants)
        made.append(
            services.registration_register(actor=clerk, agreement=agreement, register=repertorio)
        )

    assert [(r.year, r.number, r.registration_date.isoformat()) for r in made] == [
        (2026, 1, "2026-12-31"),
        (2027, 1, "2027-01-01"),
        (2027, 2, "2027-01-01"),
    ]


def test_recorded_values_cannot_be_changed_in_the_database(officer, clerk, repertorio):
    (agreement,) = quick_signed_agreements(officer, 1)
    registration = services.registration_register(
        actor=clerk, agreement=agreement, register=repertorio
    )

    for column, value in [
        ("number", 99),
        ("subject", "Altro oggetto"),
        ("document_sha256", "0" * 64),
        ("parties", "[]"),
        ("registered_at", timezone.now() + datetime.timedelta(days=1)),
    ]:
        with pytest.raises(DatabaseError), transaction.atomic():
            Registration.objects.filter(pk=registration.pk).update(**{column: value})
    with pytest.raises(DatabaseError), transaction.atomic():
        Registration.objects.filter(pk=registration.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        Registration.objects.filter(pk=registration.pk).update(classification="changed")
        # the classification may change, but not together with the number
        Registration.objects.filter(pk=registration.pk).update(number=5)

    # What may change does change (through the service in real use).
    with transaction.atomic():
        Registration.objects.filter(pk=registration.pk).update(assigned_to="Segreteria")
    registration.refresh_from_db()
    assert (registration.number, registration.assigned_to) == (1, "Segreteria")


@pytest.mark.postgresql
def test_truncate_is_refused_on_postgresql(officer, clerk, repertorio):
    (agreement,) = quick_signed_agreements(officer, 1)
    services.registration_register(actor=clerk, agreement=agreement, register=repertorio)
    for table in ["registry_registration", "registry_registrationchange"]:
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f'TRUNCATE "{table}" CASCADE')


def test_annulment_keeps_every_value_and_annuls_the_agreement(officer, clerk, repertorio):
    (agreement,) = quick_signed_agreements(officer, 1)
    registration = services.registration_register(
        actor=clerk, agreement=agreement, register=repertorio
    )
    before = {
        f.attname: getattr(registration, f.attname) for f in Registration._meta.concrete_fields
    }

    annulment = services.registration_annul(
        actor=clerk,
        registration=registration,
        reason="Errore materiale nell'oggetto",
        authorised_by="Dott.ssa Maria Rossi, dirigente",
        authorising_act="Determina n. 45/2026",
    )

    registration.refresh_from_db()
    after = {
        f.attname: getattr(registration, f.attname) for f in Registration._meta.concrete_fields
    }
    assert after == before
    assert registration.is_annulled
    assert annulment.operator == clerk and annulment.authorising_act == "Determina n. 45/2026"
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.ANNULLED
    (event,) = events_for(agreement, AuditAction.ANNULLED)
    assert event.reason == "Errore materiale nell'oggetto"
    assert event.payload_data["authorising_act"] == "Determina n. 45/2026"
    assert event.payload_data["registration"]["number"] == "0000001"
    # Still in the register, still findable.
    assert list(Registration.objects.filter(register=repertorio)) == [registration]

    with pytest.raises(DatabaseError), transaction.atomic():
        RegistrationAnnulment.objects.filter(pk=annulment.pk).delete()


def test_annulment_needs_reason_authoriser_and_act(officer, clerk, repertorio):
    (agreement,) = quick_signed_agreements(officer, 1)
    registration = services.registration_register(
        actor=clerk, agreement=agreement, register=repertorio
    )

    with pytest.raises(ValidationFailed, match="the reference of the authorising act"):
        services.registration_annul(
            actor=clerk,
            registration=registration,
            reason="Errore",
            authorised_by="Dirigente",
            authorising_act="  ",
        )
    assert not RegistrationAnnulment.objects.exists()
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.REGISTERED
    assert len(refusals("registry.annul")) == 1


def test_annulling_twice_is_refused(officer, clerk, repertorio):
    (agreement,) = quick_signed_agreements(officer, 1)
    registration = services.registration_register(
        actor=clerk, agreement=agreement, register=repertorio
    )
    arguments = {"reason": "Errore", "authorised_by": "Dirigente", "authorising_act": "Det. 1/2026"}
    services.registration_annul(actor=clerk, registration=registration, **arguments)

    with pytest.raises(TransitionNotAllowed, match="annulled already"):
        services.registration_annul(actor=clerk, registration=registration, **arguments)
    assert RegistrationAnnulment.objects.count() == 1


def test_classification_and_assignment_change_with_history(officer, clerk, repertorio):
    (agreement,) = quick_signed_agreements(officer, 1)
    registration = services.registration_register(
        actor=clerk, agreement=agreement, register=repertorio, classification="1.6"
    )

    changes = services.registration_change(
        actor=clerk,
        registration=registration,
        classification="1.6.3",
        assigned_to="Ufficio di piano",
    )

    registration.refresh_from_db()
    assert (registration.classification, registration.assigned_to) == ("1.6.3", "Ufficio di piano")
    assert [(c.field, c.old_value, c.new_value) for c in changes] == [
        ("classification", "1.6", "1.6.3"),
        ("assigned_to", "", "Ufficio di piano"),
    ]
    assert RegistrationChange.objects.filter(registration=registration).count() == 2
    (event,) = AuditEvent.objects.filter(action=AuditAction.REGISTRATION_CHANGED)
    assert event.payload_data["changes"][0] == {
        "field": "classification",
        "old": "1.6",
        "new": "1.6.3",
    }

    with pytest.raises(ValidationFailed, match="Nothing to change"):
        services.registration_change(actor=clerk, registration=registration, classification="1.6.3")
    with pytest.raises(PermissionDenied):
        services.registration_change(actor=officer, registration=registration, assigned_to="X")


def test_register_codes_follow_the_rule(admin_user, repertorio):
    with pytest.raises(ValidationFailed):
        services.register_create(
            actor=admin_user, code="REP CONV!", name="x", administration_code="a", aoo_code="b"
        )
    with pytest.raises(ValidationFailed, match="exists already"):
        services.register_create(
            actor=admin_user, code="rep-conv", name="x", administration_code="a", aoo_code="b"
        )
    with pytest.raises(PermissionDenied):
        services.register_create(
            actor=make_user(None, "registrar"),
            code="NEW",
            name="x",
            administration_code="a",
            aoo_code="b",
        )
    assert list(Register.objects.values_list("code", flat=True)) == ["REP-CONV"]


def test_after_todays_daily_register_nothing_more_is_registered_today(officer, clerk, repertorio):
    first, second = quick_signed_agreements(officer, 2)
    services.registration_register(actor=clerk, agreement=first, register=repertorio)
    today = timezone.localtime(timezone.now(), ROME).date()

    daily = services.daily_register_produce(actor=clerk, day=today)

    assert daily.registrations == 1
    with pytest.raises(TransitionNotAllowed, match="daily register of .* is closed"):
        services.registration_register(actor=clerk, agreement=second, register=repertorio)
    second.refresh_from_db()
    assert second.state == AgreementState.SIGNED
    with pytest.raises(ValidationFailed, match="produced already"):
        services.daily_register_produce(actor=clerk, day=today)
    with pytest.raises(ValidationFailed, match="cannot be produced before"):
        services.daily_register_produce(actor=clerk, day=today + datetime.timedelta(days=1))
