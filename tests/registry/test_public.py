"""The public pages of the registry, without logging in: the register, a registration, the
verification form, the open-data exports and the Atom feed; and what they must not show."""

import base64
import csv
import datetime
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from agreements.models import Agreement
from agreements.storage import read_bytes
from registry import services
from registry.views_public import COLUMN_NAMES
from tests.registry.helpers import quick_signed_agreements

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def client(client):
    """A visitor reading in English, the language of the source strings, so that assertions on
    texts hold whatever the Italian catalogue says."""
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def english_client(**kwargs) -> Client:
    client = Client(**kwargs)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def html(response) -> str:
    return response.content.decode()


def public_url(registration, name="registration"):
    return reverse(
        f"registry_public:{name}",
        args=[registration.register.code, registration.year, registration.number],
    )


@pytest.fixture
def two_registered(officer, registrar, register):
    """Two registrations; the second is annulled. The first has an attachment and validity dates."""
    first_agreement, second_agreement = quick_signed_agreements(officer, 2)
    # Test set-up on the quickly made rows (tests/registry/helpers.py): subjects and validity.
    Agreement.objects.filter(pk=first_agreement.pk).update(
        subject="Convenzione per il servizio bibliotecario intercomunale",
        valid_from=datetime.date(2026, 1, 1),
        valid_until=datetime.date(2028, 12, 31),
    )
    Agreement.objects.filter(pk=second_agreement.pk).update(
        subject="Protocollo d'intesa per il trasporto sociale"
    )
    first_agreement.refresh_from_db()
    second_agreement.refresh_from_db()
    first = services.registration_register(
        actor=registrar,
        agreement=first_agreement,
        register=register,
        attachments=[services.Attachment("Allegato A.txt", b"Piano di zona", "text/plain")],
        classification="I.6 riservato",
        assigned_to="Ufficio riservato",
    )
    second = services.registration_register(
        actor=registrar, agreement=second_agreement, register=register
    )
    services.registration_annul(
        actor=registrar,
        registration=second,
        reason="Registrato due volte per errore",
        authorised_by="Dott.ssa Maria Dirigentissima",
        authorising_act="Determina n. 15/2026",
    )
    second.refresh_from_db()
    return first, second


def signed_bytes(registration) -> bytes:
    return read_bytes(registration.document_file)


# The register and a registration -------------------------------------------------------------


def test_the_public_index_lists_registrations_with_annulled_ones_marked(client, two_registered):
    first, second = two_registered

    response = client.get(reverse("registry_public:index"))

    assert response.status_code == 200
    page = html(response)
    assert f'data-number="{first.label}">' in page
    assert f'data-number="{second.label}" class="stipula-annulled" data-annulled="true"' in page
    annulled_row = page.split(f'data-number="{second.label}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-state="annulled"' in annulled_row
    first_row = page.split(f'data-number="{first.label}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-state="registered"' in first_row
    assert "01/01/2026 – 31/12/2028" in first_row
    assert escape(first.parties[0]["name"]) in first_row


def test_the_public_index_searches_by_text_and_year(client, two_registered):
    first, second = two_registered
    url = reverse("registry_public:index")

    def numbers(**query) -> list[str]:
        return re.findall(r'data-number="([^"]+)"', html(client.get(url, query)))

    assert numbers(q="TRASPORTO sociale") == [second.label]
    assert numbers(q=first.parties[1]["name"]) == [second.label, first.label]
    assert numbers(q=str(first.number)) == [first.label]
    assert numbers(q=f"{second.formatted_number}/{second.year}") == [second.label]
    assert numbers(q=f"{second.number}/{second.year - 1}") == []
    assert numbers(year=first.year) == [second.label, first.label]
    assert numbers(year=first.year - 1) == []
    assert 'id="no-registrations"' in html(client.get(url, {"q": "nessun accordo così"}))


def test_a_public_registration_page_shows_its_values_and_no_internal_ones(client, two_registered):
    first, second = two_registered

    page = html(client.get(public_url(first)))
    assert first.label in page
    assert first.document_sha256 in page
    assert first.document_sha256_base64 in page
    assert first.attachments[0]["sha256"] in page
    assert 'id="document-not-public"' in page

    annulled = client.get(public_url(second))
    assert 'id="annulled"' in html(annulled)
    assert escape("Registrato due volte per errore") in html(annulled)
    assert second.annulment.annulment_date.strftime("%d/%m/%Y") in html(annulled)

    for response in (client.get(public_url(first)), annulled):
        for internal in (
            first.operator_name,
            "registrar",
            "I.6 riservato",
            "Ufficio riservato",
            "Dirigentissima",
            first.parties[0]["fiscal_code"],
        ):
            assert internal not in html(response), internal


def test_the_signed_pdf_downloads_only_when_published(client, two_registered, registrar):
    first, _second = two_registered

    assert client.get(public_url(first, "document")).status_code == 404

    services.registration_change(actor=registrar, registration=first, public_document=True)
    response = client.get(public_url(first, "document"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content == signed_bytes(first)
    assert 'id="document-link"' in html(client.get(public_url(first)))


def test_an_unknown_registration_is_404(client, two_registered):
    first, _second = two_registered
    url = reverse("registry_public:registration", args=[first.register.code, first.year, 99])

    assert client.get(url).status_code == 404


# Verification --------------------------------------------------------------------------------


def _result(response) -> str:
    page = html(response)
    assert 'id="verify-result"' in page, page
    return page.split('id="verify-result"', 1)[1]


def test_verifying_a_really_signed_pdf_by_upload_and_by_hash(
    client, signed_agreement, registrar, register
):
    agreement = signed_agreement(subject="Convenzione per il trasporto sociale")
    registration = services.registration_register(
        actor=registrar, agreement=agreement, register=register
    )
    data = signed_bytes(registration)
    digest = hashlib.sha256(data)
    url = reverse("registry_public:verify")

    by_upload = client.post(
        url, {"document": SimpleUploadedFile("copia.pdf", data, "application/pdf")}
    )
    by_hex = client.post(url, {"sha256": digest.hexdigest().upper()})
    by_base64 = client.post(url, {"sha256": base64.b64encode(digest.digest()).decode()})
    by_link = client.get(url, {"sha256": digest.hexdigest()})

    for response in (by_upload, by_hex, by_base64, by_link):
        assert response.status_code == 200
        result = _result(response)
        assert 'data-found="true"' in result
        assert f'data-match="{registration.label}" data-annulled="false"' in result
        assert "the signed document of" in result
        assert digest.hexdigest() in result

    # The prepared PDF, before any signature, is not the registered document.
    prepared = read_bytes(agreement.signing_document.prepared_pdf.name)
    unsigned = client.post(
        url, {"document": SimpleUploadedFile("bozza.pdf", prepared, "application/pdf")}
    )
    assert 'data-found="false"' in _result(unsigned)
    assert "Not registered" in _result(unsigned)


def test_verifying_other_bytes_an_attachment_and_an_annulled_document(client, two_registered):
    first, second = two_registered
    url = reverse("registry_public:verify")

    # A visitor's browser without a CSRF cookie: the verification changes nothing and needs none.
    strict = english_client(enforce_csrf_checks=True)
    other = strict.post(url, {"document": SimpleUploadedFile("altro.pdf", b"%PDF-1.4 altro")})
    assert 'data-found="false"' in _result(other)
    assert "Not registered" in _result(other)

    attachment = client.post(
        url, {"document": SimpleUploadedFile("Allegato A.txt", b"Piano di zona")}
    )
    result = _result(attachment)
    assert f'data-match="{first.label}"' in result
    assert escape("the attachment «Allegato A.txt» of") in result

    annulled = client.post(url, {"sha256": second.document_sha256})
    result = _result(annulled)
    assert f'data-match="{second.label}" data-annulled="true"' in result
    assert "was annulled on" in result


def test_verification_refuses_a_wrong_hash_an_empty_form_and_a_file_too_big(
    client, two_registered, settings
):
    first, _second = two_registered
    url = reverse("registry_public:verify")

    wrong = client.post(url, {"sha256": "abc123"})
    assert wrong.status_code == 400
    assert "This is not a SHA-256" in html(wrong)
    assert 'value="abc123"' in html(wrong)

    empty = client.post(url, {})
    assert empty.status_code == 400
    assert "Choose a file or type its SHA-256." in html(empty)

    settings.STIPULA_PUBLIC_VERIFY_MAX_BYTES = 1024 * 1024
    too_big = client.post(
        url, {"document": SimpleUploadedFile("grande.pdf", b"x" * (1024 * 1024 + 1))}
    )
    assert too_big.status_code == 413
    assert "The file is larger than 1 MB" in html(too_big)
    assert 'id="verify-result"' not in html(too_big)

    # A request that declares a body too long is refused before the body is read.
    declared = client.post(
        url,
        {"document": SimpleUploadedFile("piccolo.pdf", b"%PDF-1.4")},
        CONTENT_LENGTH=str(2 * 1024 * 1024),
    )
    assert declared.status_code == 413
    assert "The file is larger than 1 MB" in html(declared)

    mismatch = client.post(
        url,
        {
            "document": SimpleUploadedFile("copia.pdf", signed_bytes(first)),
            "sha256": "0" * 64,
        },
    )
    assert mismatch.status_code == 400
    assert "does not have the SHA-256 you typed" in html(mismatch)


# Open data -----------------------------------------------------------------------------------


def _streamed(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8")


def test_the_csv_export_holds_every_registration_in_documented_columns(client, two_registered):
    first, second = two_registered

    response = client.get(reverse("registry_public:csv"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(_streamed(response))))
    assert list(rows[0]) == COLUMN_NAMES
    by_label = {row["label"]: row for row in rows}
    assert set(by_label) == {first.label, second.label}
    row = by_label[first.label]
    assert row["number"] == first.formatted_number
    assert row["subject"] == first.subject
    assert row["parties"] == " | ".join(p["name"] for p in first.parties)
    assert row["document_sha256"] == first.document_sha256
    assert row["document_sha256_base64"] == first.document_sha256_base64
    assert row["valid_from"] == "2026-01-01"
    assert row["state"] == "registered"
    assert row["attachments"] == f"Allegato A.txt {first.attachments[0]['sha256']}"
    assert row["url"].endswith(public_url(first))
    assert by_label[second.label]["state"] == "annulled"
    assert by_label[second.label]["annulment_reason"] == "Registrato due volte per errore"
    assert by_label[second.label]["annulment_date"] == second.annulment.annulment_date.isoformat()


def test_the_json_export_parses_and_documents_its_columns(client, two_registered):
    first, second = two_registered

    response = client.get(reverse("registry_public:json"))

    assert response["Content-Type"] == "application/json; charset=utf-8"
    data = json.loads(_streamed(response))
    assert list(data["columns"]) == COLUMN_NAMES
    records = {r["label"]: r for r in data["registrations"]}
    assert set(records) == {first.label, second.label}
    assert records[first.label]["parties"] == [p["name"] for p in first.parties]
    assert records[first.label]["attachments"] == [
        {"name": "Allegato A.txt", "sha256": first.attachments[0]["sha256"]}
    ]
    assert records[first.label]["document_public"] is False
    assert records[second.label]["state"] == "annulled"
    assert list(records[first.label]) == COLUMN_NAMES


def test_the_exports_and_the_feed_publish_nothing_internal(client, two_registered):
    first, _second = two_registered
    for name in ("csv", "json"):
        text = _streamed(client.get(reverse(f"registry_public:{name}")))
        for internal in (
            first.operator_name,
            "I.6 riservato",
            "Ufficio riservato",
            "Dirigentissima",
        ):
            assert internal not in text, (name, internal)
    feed = html(client.get(reverse("registry_public:feed")))
    for internal in (first.operator_name, "I.6 riservato", "Dirigentissima"):
        assert internal not in feed


def test_the_atom_feed_lists_the_latest_registrations(client, two_registered):
    first, second = two_registered

    response = client.get(reverse("registry_public:feed"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)  # noqa: S314 - our own feed, just made
    entries = root.findall(f"{ATOM}entry")
    titles = [entry.findtext(f"{ATOM}title") for entry in entries]
    assert any(title.startswith(first.label) for title in titles)
    assert any(second.label in title and "Annulled" in title for title in titles)
    links = [entry.find(f"{ATOM}link").get("href") for entry in entries]
    assert any(link.endswith(public_url(first)) for link in links)


def test_exports_take_the_same_queries_however_many_registrations(
    client, officer, registrar, register, django_assert_num_queries
):
    def register_some(count):
        for agreement in quick_signed_agreements(officer, count):
            services.registration_register(actor=registrar, agreement=agreement, register=register)

    register_some(2)
    counts = {}
    urls = [
        reverse("registry_public:csv"),
        reverse("registry_public:json"),
        reverse("registry_public:feed"),
        reverse("registry_public:index"),
    ]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
            if response.streaming:
                _streamed(response)
        counts[url] = len(queries.captured_queries)

    register_some(15)

    for url in urls:
        with django_assert_num_queries(counts[url]):
            response = client.get(url)
            if response.streaming:
                _streamed(response)
