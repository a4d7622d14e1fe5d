# ruff: noqa: F811 - pytest fixtures imported from tests/api/records_fixtures.py
"""The registry through the API (issue 8): registering a really signed agreement (number,
impronta, receipt, segnatura), refusals, annulment, changes, searches, daily registers."""

import base64
import datetime
import hashlib
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from agreements.models import AgreementState
from audit.models import AuditAction, AuditEvent
from registry.services import registration_register, rome_now
from tests.api.records_fixtures import (  # noqa: F401 - fixtures
    administrator,
    pki,
    pki_dir,
    register,
    registrar,
    signed_agreement,
)
from tests.api.test_signing import assert_error
from tests.factories import make_user
from tests.registry.helpers import quick_signed_agreements

pytestmark = pytest.mark.django_db


def url(name, *args):
    return reverse(f"api:{name}", args=args)


def refusals(attempted):
    return [
        e
        for e in AuditEvent.objects.filter(action=AuditAction.ACTION_REFUSED).order_by("seq")
        if e.payload_data["attempted"] == attempted
    ]


def test_a_signed_agreement_is_registered_with_its_impronta_receipt_and_segnatura(
    signed_agreement, register, registrar, api_for
):
    agreement = signed_agreement(subject="Patto per l'inclusione sociale della Versilia")
    client = api_for(registrar)
    attachment = b"Allegato A: cronoprogramma\n"

    response = client.post(
        url("registry_registrations"),
        {
            "agreement": agreement.pk,
            "register": register.code,
            "classification": "I.6",
            "attachments": [SimpleUploadedFile("allegato-a.txt", attachment, "text/plain")],
        },
        format="multipart",
    )

    assert response.status_code == 201, response.content
    data = response.json()
    year = rome_now().year
    assert (data["number"], data["formatted_number"], data["year"]) == (1, "0000001", year)
    assert data["label"] == f"REP-CONV 0000001/{year}"
    assert data["subject"] == "Patto per l'inclusione sociale della Versilia"
    assert data["classification"] == "I.6" and data["annulled"] is False
    assert data["segnatura"]["valid"] is True, data["segnatura"]["problems"]
    [attached] = data["attachments"]
    assert attached["sha256"] == hashlib.sha256(attachment).hexdigest()
    assert attached["name"] == "allegato-a.txt"
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.REGISTERED

    document = client.get(url("registry_registration_document", data["id"]))
    assert document.status_code == 200 and document["Content-Type"] == "application/pdf"
    impronta = hashlib.sha256(document.content).hexdigest()
    assert data["document"]["sha256"] == impronta
    assert data["document"]["sha256"] == agreement.signing_document.current_sha256
    assert data["document"]["sha256_base64"] == base64.b64encode(bytes.fromhex(impronta)).decode()

    receipt = client.get(url("registry_registration_receipt", data["id"]))
    assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")

    segnatura = client.get(url("registry_registration_segnatura", data["id"]))
    assert segnatura.status_code == 200
    assert segnatura["Content-Type"].startswith("application/xml")
    xml = segnatura.content.decode()
    assert xml.lstrip().startswith("<?xml") and "Segnatura" in xml
    assert data["document"]["sha256_base64"] in xml

    got = client.get(url("registry_registration_attachment", data["id"], 0))
    assert got.content == attachment
    detail = client.get(url("registry_registration", data["id"])).json()
    assert detail == {**data, "segnatura": detail["segnatura"]}


def test_registering_twice_or_without_the_role_is_refused_with_a_message(
    signed_agreement, register, registrar, officer, api_for
):
    agreement = signed_agreement()
    body = {"agreement": agreement.pk, "register": register.code}

    by_officer = api_for(officer).post(url("registry_registrations"), body, format="json")
    assert "Only a registrar" in assert_error(by_officer, 403, "permission_denied")["message"]
    assert len(refusals("registry.register")) == 1

    assert api_for(registrar).post(url("registry_registrations"), body).status_code == 201
    twice = api_for(registrar).post(url("registry_registrations"), body, format="json")
    error = assert_error(twice, 409, "transition_not_allowed")
    assert "registered" in error["message"].lower()
    assert len(refusals("registry.register")) == 2

    unknown = api_for(registrar).post(
        url("registry_registrations"), {"agreement": 10**30, "register": "NOPE"}, format="json"
    )
    assert "agreement" in assert_error(unknown, 400)["fields"]


def test_annulment_keeps_the_registration_marked_and_changes_keep_their_history(
    registrar, register, officer, api_for
):
    [agreement] = quick_signed_agreements(officer, 1)
    registration = registration_register(actor=registrar, agreement=agreement, register=register)
    client = api_for(registrar)

    changed = client.patch(
        url("registry_registration", registration.pk),
        {"classification": "II.3", "assigned_to": "Ufficio contratti"},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    changes = changed.json()["changes"]
    assert [(c["field"], c["old_value"], c["new_value"]) for c in changes] == [
        ("classification", "", "II.3"),
        ("assigned_to", "", "Ufficio contratti"),
    ]
    nothing = client.patch(url("registry_registration", registration.pk), {}, format="json")
    assert "Nothing to change" in assert_error(nothing, 400)["message"]

    incomplete = client.post(url("registry_registration_annul", registration.pk), {}, format="json")
    assert set(assert_error(incomplete, 400)["fields"]) == {
        "reason",
        "authorised_by",
        "authorising_act",
    }
    annul = {
        "reason": "Errore materiale nell'oggetto",
        "authorised_by": "Dott.ssa Maria Verdi, dirigente",
        "authorising_act": "Determina n. 15/2026",
    }
    annulled = client.post(url("registry_registration_annul", registration.pk), annul)
    assert annulled.status_code == 200, annulled.content
    data = annulled.json()
    assert data["annulled"] is True
    assert data["annulment"]["authorising_act"] == "Determina n. 15/2026"
    assert data["number"] == registration.number
    assert data["document"]["sha256"] == registration.document_sha256
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.ANNULLED

    again = client.post(url("registry_registration_annul", registration.pk), annul, format="json")
    assert "annulled already" in assert_error(again, 409)["message"]


def test_registrations_are_searched_by_register_year_number_agreement_and_annulment(
    registrar, register, officer, api_for
):
    agreements = quick_signed_agreements(officer, 3)
    made = [
        registration_register(actor=registrar, agreement=a, register=register) for a in agreements
    ]
    from registry.services import registration_annul

    registration_annul(
        actor=registrar,
        registration=made[0],
        reason="Doppione",
        authorised_by="Il dirigente",
        authorising_act="Determina 1/2026",
    )
    auditor = make_user("reader", "auditor")
    client = api_for(auditor)

    def numbers(**query):
        response = client.get(url("registry_registrations"), query)
        assert response.status_code == 200, response.content
        return [r["number"] for r in response.json()["results"]]

    assert numbers() == [3, 2, 1]
    assert numbers(annulled="true") == [1]
    assert numbers(annulled="false") == [3, 2]
    assert numbers(number=2) == [2]
    assert numbers(agreement=agreements[2].pk) == [3]
    assert numbers(register=register.code, year=made[0].year) == [3, 2, 1]
    assert numbers(year=1999) == []
    assert numbers(page_size=1) == [3]

    assert (
        "register"
        in assert_error(client.get(url("registry_registrations"), {"register": "X"}), 400)["fields"]
    )
    assert (
        "year"
        in assert_error(client.get(url("registry_registrations"), {"year": "abc"}), 400)["fields"]
    )

    registers = client.get(url("registry_registers")).json()
    assert [(r["code"], r["registrations"]) for r in registers] == [("REP-CONV", 3)]
    assert client.get(url("registry_register", "REP-CONV")).json()["aoo_code"] == "AOO_FORLI"
    assert_error(client.get(url("registry_register", "NOPE")), 404)

    outsider = make_user("nosy", "signatory")
    error = assert_error(api_for(outsider).get(url("registry_registrations")), 403)
    assert "registrars, administrators and auditors" in error["message"]


def test_the_daily_register_is_produced_once_and_downloaded(registrar, register, officer, api_for):
    [agreement] = quick_signed_agreements(officer, 1)
    registration_register(actor=registrar, agreement=agreement, register=register)
    client = api_for(registrar)
    today = rome_now().date()

    needs_confirmation = client.post(url("registry_daily_registers"), {"day": today.isoformat()})
    assert "close_today" in assert_error(needs_confirmation, 400)["fields"]
    tomorrow = client.post(
        url("registry_daily_registers"),
        {"day": (today + datetime.timedelta(days=1)).isoformat()},
        format="json",
    )
    assert "cannot be produced before" in assert_error(tomorrow, 400)["message"]

    produced = client.post(
        url("registry_daily_registers"),
        {"day": today.isoformat(), "close_today": True},
        format="json",
    )
    assert produced.status_code == 201, produced.content
    data = produced.json()
    assert (data["day"], data["registrations"]) == (today.isoformat(), 1)

    pdf = client.get(url("registry_daily_register_pdf", today.isoformat()))
    assert pdf.content.startswith(b"%PDF")
    assert hashlib.sha256(pdf.content).hexdigest() == data["pdf_sha256"]
    as_json = client.get(url("registry_daily_register_json", today.isoformat()))
    assert hashlib.sha256(as_json.content).hexdigest() == data["json_sha256"]
    assert len(json.loads(as_json.content)["registrations"]) == 1
    listed = client.get(url("registry_daily_registers")).json()
    assert [d["day"] for d in listed["results"]] == [today.isoformat()]

    again = client.post(
        url("registry_daily_registers"),
        {"day": today.isoformat(), "close_today": True},
        format="json",
    )
    assert "produced already" in assert_error(again, 400)["message"]
    assert_error(client.get(url("registry_daily_register_pdf", "not-a-day")), 404)
    assert_error(client.get(url("registry_daily_register", "2001-01-01")), 404)
