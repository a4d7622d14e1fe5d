"""The registrar's pages, as registrars, administrators, auditors and everyone else see them.

Registrations are made through the pages or the real services; the agreements registered through
the form are really signed (tests/registry/conftest.py), the many needed for lists and query
counts come from tests/registry/helpers.py.
"""

import datetime
import hashlib
import re

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from agreements.models import AgreementState
from agreements.storage import read_bytes
from audit.models import AuditAction, AuditEvent
from registry import services
from registry.models import DailyRegister, Registration, RegistrationChange
from tests.factories import make_user
from tests.registry.helpers import quick_signed_agreements

pytestmark = pytest.mark.django_db


def client_for(user, language="en") -> Client:
    client = Client()
    client.force_login(user)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    return client


def html(response) -> str:
    return response.content.decode()


def shows(response, text) -> bool:
    return escape(str(text)) in html(response)


def error_messages(response) -> list[str]:
    """The texts of the form errors and error messages on the page."""
    page = html(response)
    blocks = re.findall(r"data-form-error>(.*?)</div>", page, re.S)
    blocks += re.findall(r'data-level="error">(.*?)</li>', page, re.S)
    return [re.sub(r"<[^>]+>", " ", b).strip() for b in blocks]


def registration_url(registration, name="registration"):
    return reverse(f"registry:{name}", args=[registration.pk])


def register_all(agreements, registrar, register, **kwargs):
    return [
        services.registration_register(
            actor=registrar, agreement=agreement, register=register, **kwargs
        )
        for agreement in agreements
    ]


@pytest.fixture
def auditor(db):
    return make_user("auditor", "auditor", first_name="Aldo", last_name="Revisori")


@pytest.fixture
def registered(officer, registrar, register):
    """One registration of a quickly signed agreement, with one attachment."""
    (agreement,) = quick_signed_agreements(officer, 1)
    return services.registration_register(
        actor=registrar,
        agreement=agreement,
        register=register,
        attachments=[services.Attachment("Allegato A.txt", b"Piano di zona", "text/plain")],
        classification="I.6",
        assigned_to="Ufficio di piano",
    )


# Who may open the pages ----------------------------------------------------------------------


def _urls(registration, day):
    return [
        reverse("registry:index"),
        reverse("registry:register", args=[registration.register.code]),
        reverse("registry:pending"),
        reverse("registry:register_agreement", args=[registration.agreement_id]),
        registration_url(registration),
        registration_url(registration, "document"),
        reverse("registry:attachment", args=[registration.pk, 0]),
        reverse("registry:daily"),
        reverse("registry:daily_pdf", args=[day.isoformat()]),
    ]


@pytest.fixture
def produced_day(registrar):
    day = services.rome_now().date() - datetime.timedelta(days=1)
    services.daily_register_produce(actor=registrar, day=day)
    return day


def test_anonymous_users_are_sent_to_the_login_page(client, registered, produced_day):
    for url in _urls(registered, produced_day):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"{reverse('login')}?next={url}"


def test_people_without_a_registry_role_are_refused(registered, produced_day, officer):
    outsider = client_for(officer)
    signatory = client_for(make_user("someone", "signatory"))
    for url in _urls(registered, produced_day):
        assert outsider.get(url).status_code == 403, url
        assert signatory.get(url).status_code == 403, url
    # Nor can they act: refused before any service is called.
    response = outsider.post(
        registration_url(registered, "annul"),
        {"reason": "x", "authorised_by": "y", "authorising_act": "z", "confirm": "on"},
    )
    assert response.status_code == 403
    assert not Registration.objects.get(pk=registered.pk).is_annulled


@pytest.mark.parametrize("role", ["registrar", "administrator", "auditor"])
def test_registrars_administrators_and_auditors_open_every_page(
    role, registered, produced_day, registrar, administrator, auditor
):
    user = {"registrar": registrar, "administrator": administrator, "auditor": auditor}[role]
    client = client_for(user)
    for url in _urls(registered, produced_day):
        response = client.get(url)
        # The register form of a registered agreement leads to its registration.
        expected = 302 if "to-register/" in url and url != reverse("registry:pending") else 200
        assert response.status_code == expected, url


def test_the_registry_is_in_the_menu_of_its_readers_only(registrar, officer):
    assert reverse("registry:index") in html(client_for(registrar).get("/"))
    assert reverse("registry:index") not in html(client_for(officer).get("/"))


def test_auditors_read_but_see_no_form_and_cannot_act(registered, auditor):
    client = client_for(auditor)
    page = client.get(registration_url(registered))
    assert page.status_code == 200
    assert 'id="change-form"' not in html(page)
    assert 'id="annul-form"' not in html(page)
    assert 'id="produce-form"' not in html(client.get(reverse("registry:daily")))

    response = client.post(
        registration_url(registered, "annul"),
        {
            "reason": "Prova",
            "authorised_by": "Dirigente",
            "authorising_act": "Det. 1/2026",
            "confirm": "on",
        },
    )

    assert response.status_code == 403
    assert any("Only a registrar" in text for text in error_messages(response))
    assert not Registration.objects.get(pk=registered.pk).is_annulled
    refused = AuditEvent.objects.filter(action=AuditAction.ACTION_REFUSED, actor_id=auditor.pk)
    assert refused.count() == 1


# Registering ---------------------------------------------------------------------------------


def test_registering_through_the_form_gives_a_number_and_shows_it(
    signed_agreement, registrar, register
):
    agreement = signed_agreement(subject="Patto per l'inclusione sociale del distretto")
    client = client_for(registrar)

    detail = client.get(reverse("agreements:detail", args=[agreement.pk]))
    form_url = reverse("registry:register_agreement", args=[agreement.pk])
    assert 'id="register-link"' in html(detail)
    assert form_url in html(detail)
    pending = client.get(reverse("registry:pending"))
    assert f'data-register-link="{agreement.pk}"' in html(pending)
    assert client.get(form_url).status_code == 200

    response = client.post(
        form_url,
        {
            "register": register.pk,
            "attachments": [
                SimpleUploadedFile("Allegato A.pdf", b"%PDF-1.4 allegato A", "application/pdf"),
                SimpleUploadedFile("Delibera.txt", "Delibera «n. 5»".encode(), "text/plain"),
            ],
            "classification": "I.6",
            "assigned_to": "Ufficio di piano",
            "public_document": "on",
        },
        follow=True,
    )

    registration = Registration.objects.get(agreement=agreement)
    year = services.rome_now().year
    assert registration.label == f"REP-CONV 0000001/{year}"
    assert response.redirect_chain[-1][0] == registration_url(registration)
    assert shows(response, f"Registered as REP-CONV 0000001/{year}")
    assert shows(response, f"0000001/{year}")
    signed = read_bytes(agreement.signing_document.current_pdf.name)
    assert f'id="sha256-hex">{hashlib.sha256(signed).hexdigest()}<' in html(response)
    assert registration.document_sha256_base64 in html(response)
    assert hashlib.sha256(b"%PDF-1.4 allegato A").hexdigest() in html(response)
    assert registration.classification == "I.6"
    assert registration.assigned_to == "Ufficio di piano"
    assert registration.public_document is True
    assert [a["name"] for a in registration.attachments] == ["Allegato A.pdf", "Delibera.txt"]
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.REGISTERED

    # The signed PDF and the attachments come back byte for byte.
    document = client.get(registration_url(registration, "document"))
    assert document.status_code == 200
    assert document.content == signed
    attachment = client.get(reverse("registry:attachment", args=[registration.pk, 1]))
    assert attachment.content == "Delibera «n. 5»".encode()

    # The agreement's page now leads to the registration.
    detail = client.get(reverse("agreements:detail", args=[agreement.pk]))
    assert 'id="registration-link"' in html(detail)
    assert registration.label in html(detail)


def test_the_form_keeps_what_was_typed_when_the_service_refuses(
    officer, registrar, register, produced_today
):
    (agreement,) = quick_signed_agreements(officer, 1)

    response = client_for(registrar).post(
        reverse("registry:register_agreement", args=[agreement.pk]),
        {"register": register.pk, "classification": "VII.2", "assigned_to": "Servizi sociali"},
    )

    assert response.status_code == 409
    assert any("is closed" in text for text in error_messages(response))
    page = html(response)
    assert 'value="VII.2"' in page
    assert 'value="Servizi sociali"' in page
    assert not Registration.objects.filter(agreement=agreement).exists()


@pytest.fixture
def produced_today(registrar):
    return services.daily_register_produce(actor=registrar, day=services.rome_now().date())


def test_registering_a_registered_agreement_again_is_a_message_not_an_error(
    registered, registrar, register
):
    client = client_for(registrar)
    url = reverse("registry:register_agreement", args=[registered.agreement_id])

    page = client.get(url, follow=True)
    assert page.redirect_chain[-1][0] == registration_url(registered)
    assert shows(page, f"registered already, as {registered.label}")

    response = client.post(url, {"register": register.pk, "classification": "X"})
    assert response.status_code == 409
    assert error_messages(response)
    assert Registration.objects.count() == 1


def test_an_oversized_attachment_is_refused_by_the_form(officer, registrar, register, monkeypatch):
    from registry import forms

    monkeypatch.setattr(forms, "MAX_ATTACHMENT_BYTES", 10)
    (agreement,) = quick_signed_agreements(officer, 1)

    response = client_for(registrar).post(
        reverse("registry:register_agreement", args=[agreement.pk]),
        {
            "register": register.pk,
            "attachments": [SimpleUploadedFile("big.bin", b"x" * 11)],
            "classification": "I.1",
        },
    )

    assert response.status_code == 400
    assert shows(response, "The attachment «big.bin» is larger than")
    assert 'value="I.1"' in html(response)
    assert not Registration.objects.exists()


# A registration's page -----------------------------------------------------------------------


def test_a_registration_page_shows_every_value_and_its_documents(registered, registrar):
    response = client_for(registrar).get(registration_url(registered))

    page = html(response)
    assert registered.label in page
    assert registered.document_sha256 in page
    assert registered.document_sha256_base64 in page
    for party in registered.parties:
        assert escape(party["name"]) in page
    assert registered.attachments[0]["sha256"] in page
    assert "I.6" in page and "Ufficio di piano" in page
    assert registered.operator_name in page
    assert registration_url(registered, "segnatura") in page
    assert 'data-segnatura-check="valid"' in page
    assert registration_url(registered, "receipt") in page


def test_the_segnatura_downloads_as_recorded(registered, registrar):
    response = client_for(registrar).get(registration_url(registered, "segnatura"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    assert response.content == registered.segnatura.encode("utf-8")


def test_the_receipt_is_a_pdf(registered, registrar):
    response = client_for(registrar).get(registration_url(registered, "receipt"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")


def test_a_change_through_the_form_shows_in_the_history(registered, registrar):
    client = client_for(registrar)

    response = client.post(
        registration_url(registered, "change"),
        {"classification": "I.7", "assigned_to": "Ufficio di piano", "public_document": "on"},
        follow=True,
    )

    assert response.status_code == 200
    changes = {c.field: c for c in RegistrationChange.objects.filter(registration=registered)}
    assert set(changes) == {"classification", "public_document"}
    assert (changes["classification"].old_value, changes["classification"].new_value) == (
        "I.6",
        "I.7",
    )
    history = html(response).split('id="changes"', 1)[1].split("</table>", 1)[0]
    assert 'data-change="classification"' in history
    assert "I.6" in history and "I.7" in history
    assert 'data-change="public_document"' in history
    assert registered.operator_name in history
    assert shows(response, "Changed: Classification, Signed PDF published.")


def test_a_change_that_changes_nothing_is_a_message_on_the_page(registered, registrar):
    response = client_for(registrar).post(
        registration_url(registered, "change"),
        {"classification": "I.6", "assigned_to": "Ufficio di piano"},
    )

    assert response.status_code == 409
    assert any("Nothing to change" in text for text in error_messages(response))
    assert not RegistrationChange.objects.exists()


def test_annulment_through_the_form_needs_confirmation_and_keeps_the_values(registered, registrar):
    client = client_for(registrar)
    data = {
        "reason": "Registrato per errore nel repertorio sbagliato",
        "authorised_by": "Dott.ssa Maria Dirigenti",
        "authorising_act": "Determina n. 15/2026",
    }

    unconfirmed = client.post(registration_url(registered, "annul"), data)
    assert unconfirmed.status_code == 400
    assert not Registration.objects.get(pk=registered.pk).is_annulled
    assert 'value="Dott.ssa Maria Dirigenti"' in html(unconfirmed)

    response = client.post(
        registration_url(registered, "annul"), {**data, "confirm": "on"}, follow=True
    )

    registration = Registration.objects.get(pk=registered.pk)
    assert registration.is_annulled
    assert registration.annulment.authorising_act == "Determina n. 15/2026"
    assert registration.agreement.state == AgreementState.ANNULLED
    assert 'id="annulled"' in html(response)
    assert shows(response, data["reason"])
    assert shows(response, "Determina n. 15/2026")
    assert registered.document_sha256 in html(response)
    assert 'id="annul-form"' not in html(response)

    listing = client.get(reverse("registry:register", args=[registered.register.code]))
    assert (
        f'data-registration="{registered.pk}" data-number="0000001" class="stipula-annulled"'
        in (html(listing))
    )


# Lists ---------------------------------------------------------------------------------------


def test_the_register_list_searches_and_keeps_annulled_ones_marked(officer, registrar, register):
    agreements = quick_signed_agreements(officer, 3)
    first, second, third = register_all(agreements, registrar, register)
    services.registration_annul(
        actor=registrar,
        registration=second,
        reason="Errore",
        authorised_by="Dirigente",
        authorising_act="Det. 2/2026",
    )
    client = client_for(registrar)
    url = reverse("registry:register", args=[register.code])

    def numbers(**query) -> list[str]:
        page = html(client.get(url, query))
        return re.findall(r'data-number="(\d+)"', page)

    assert numbers() == ["0000003", "0000002", "0000001"]
    assert numbers(number=2) == ["0000002"]
    assert numbers(status="annulled") == ["0000002"]
    assert numbers(status="active") == ["0000003", "0000001"]
    assert numbers(year=first.year) == ["0000003", "0000002", "0000001"]
    assert numbers(year=first.year - 1) == []
    # "Convenzione n. 7 per l'inclusione...": the part before " per" is this subject's own.
    assert numbers(subject=first.subject.split(" per")[0] + " per") == ["0000001"]
    assert numbers(party=first.parties[0]["name"]) == ["0000003", "0000002", "0000001"]
    assert numbers(party="nessuna parte così") == []
    today = first.registration_date
    assert numbers(date_from=today.isoformat(), date_to=today.isoformat()) == [
        "0000003",
        "0000002",
        "0000001",
    ]
    tomorrow = today + datetime.timedelta(days=1)
    assert numbers(date_from=tomorrow.isoformat()) == []
    annulled_row = html(client.get(url, {"number": 2}))
    assert 'data-annulled="true"' in annulled_row
    assert third.label in html(client.get(url))


def test_lists_take_the_same_queries_however_many_rows(
    officer, registrar, register, django_assert_num_queries
):
    client = client_for(registrar)
    register_all(quick_signed_agreements(officer, 2), registrar, register)
    quick_signed_agreements(officer, 2)
    urls = [
        reverse("registry:register", args=[register.code]),
        reverse("registry:pending"),
        reverse("registry:index"),
    ]
    few = {}
    for url in urls:
        client.get(url)  # warm the session and the user's roles
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        few[url] = len(queries.captured_queries)

    register_all(quick_signed_agreements(officer, 12), registrar, register)
    quick_signed_agreements(officer, 10)

    for url in urls:
        with django_assert_num_queries(few[url]):
            assert client.get(url).status_code == 200


def test_pending_lists_the_signed_agreements_waiting_for_a_number(officer, registrar, register):
    waiting, done = quick_signed_agreements(officer, 2)
    register_all([done], registrar, register)

    page = html(client_for(registrar).get(reverse("registry:pending")))

    assert f'data-agreement="{waiting.pk}"' in page
    assert f'data-agreement="{done.pk}"' not in page


# Daily registers -----------------------------------------------------------------------------


def test_producing_a_daily_register_through_the_form(registered, registrar):
    client = client_for(registrar)
    day = registered.registration_date - datetime.timedelta(days=1)

    response = client.post(reverse("registry:daily_produce"), {"day": day.isoformat()}, follow=True)

    produced = DailyRegister.objects.get(day=day)
    assert shows(response, f"The daily register of {day.strftime('%d/%m/%Y')} is produced")
    assert f'data-day="{day.isoformat()}"' in html(response)
    assert produced.due_by.strftime("%d/%m/%Y") in html(response)
    pdf = client.get(reverse("registry:daily_pdf", args=[day.isoformat()]))
    assert hashlib.sha256(pdf.content).hexdigest() == produced.pdf_sha256
    data = client.get(reverse("registry:daily_json", args=[day.isoformat()]))
    assert hashlib.sha256(data.content).hexdigest() == produced.json_sha256

    again = client.post(reverse("registry:daily_produce"), {"day": day.isoformat()})
    assert again.status_code == 409
    assert any("was produced already" in text for text in error_messages(again))


def test_producing_today_asks_to_confirm_that_today_closes(registered, registrar):
    client = client_for(registrar)
    today = services.rome_now().date()

    form_page = client.get(reverse("registry:daily"))
    assert "Producing today's register closes today." in html(form_page)

    unconfirmed = client.post(reverse("registry:daily_produce"), {"day": today.isoformat()})
    assert unconfirmed.status_code == 400
    assert shows(unconfirmed, "Tick the box to confirm.")
    assert not DailyRegister.objects.filter(day=today).exists()

    client.post(reverse("registry:daily_produce"), {"day": today.isoformat(), "close_today": "on"})

    assert DailyRegister.objects.get(day=today).registrations == 1


def test_a_future_day_is_refused_with_a_message(registrar):
    tomorrow = services.rome_now().date() + datetime.timedelta(days=1)

    response = client_for(registrar).post(
        reverse("registry:daily_produce"), {"day": tomorrow.isoformat()}
    )

    assert response.status_code == 409
    assert any("cannot be produced before that day" in t for t in error_messages(response))
    assert f'value="{tomorrow.isoformat()}"' in html(response)


def test_overdue_daily_registers_are_flagged(registered, registrar, monkeypatch):
    from registry import daily

    day = registered.registration_date
    assert daily.overdue() == []
    client = client_for(registrar)
    assert 'id="overdue-warning"' not in html(client.get(reverse("registry:daily")))

    # Ten days later (the clock moved forward), the register of that day was never produced.
    monkeypatch.setattr(daily, "_today", lambda: day + datetime.timedelta(days=10))

    page = html(client.get(reverse("registry:daily")))
    assert 'id="overdue-warning"' in page
    assert f'data-overdue-day="{day.isoformat()}"' in page
    assert 'id="overdue-warning"' in html(client.get(reverse("registry:index")))


# Admin ---------------------------------------------------------------------------------------


def test_the_admin_shows_registrations_read_only(registered, registrar):
    superuser = make_user("root")
    superuser.is_superuser = superuser.is_staff = True
    superuser.save()
    client = client_for(superuser)
    services.registration_annul(
        actor=registrar,
        registration=registered,
        reason="Errore",
        authorised_by="Dirigente",
        authorising_act="Det. 3/2026",
    )

    listing = client.get(reverse("admin:registry_registration_changelist"))
    page = client.get(reverse("admin:registry_registration_change", args=[registered.pk]))

    assert listing.status_code == 200
    assert registered.label in html(listing)
    assert page.status_code == 200
    assert registered.document_sha256 in html(page)
    assert "Det. 3/2026" in html(page)
    assert 'name="_save"' not in html(page)
    assert client.get(reverse("admin:registry_registration_add")).status_code == 403
    delete = reverse("admin:registry_registration_delete", args=[registered.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Registration.objects.filter(pk=registered.pk).exists()
