"""The signing pages, as signatories, officers and outsiders see and use them.

Everything is real: the agreement is built and approved by the services, signatures are made
through the pages with the local PKI's keys, TSA, OCSP responder and CRLs, and with a SoftHSM2
token for remote signing. The services read the TSA and the trust roots from the settings, as in
production.
"""

import hashlib
import json
import re
import shutil

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
from audit.models import AuditAction
from signing import pades
from signing.models import RemoteSigningKey, Signature
from tests.factories import events_for, make_ready_agreement, make_user
from tests.signing import test_pkcs11
from tests.signing.conftest import PASSWORD
from tests.signing.test_report import pdf_text
from tests.signing.test_services import make_signing_setup

pytestmark = pytest.mark.django_db

needs_softhsm = pytest.mark.skipif(
    shutil.which("softhsm2-util") is None, reason="SoftHSM2 (Debian package softhsm2) is missing"
)
softhsm_dir = test_pkcs11.softhsm_dir

WRONG_PASSWORD = "not-the-password-8c1e"  # noqa: S105 - must never show up in a page


@pytest.fixture(autouse=True)
def signing_settings(settings, pki, tmp_path):
    """The services' TSA and trust roots, from the settings as in production: the local PKI's
    TSA, and a trust folder with its root only."""
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "stipula-demo-root.pem").write_bytes(pki.cert_pem("root"))
    settings.STIPULA_TSA_URL = pki.tsa_url
    settings.STIPULA_TRUST_ROOTS_DIR = str(trust)
    return settings


@pytest.fixture
def setup(pki, officer):
    """An approved agreement in «signature» (its PDF to sign prepared by the approval) whose two
    signatories, mrossi and lverdi, hold the PKI's rossi and verdi certificates."""
    return make_signing_setup(pki, officer)


def client_for(user, language="en") -> Client:
    client = Client()
    client.force_login(user)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    return client


def shows(response, text) -> bool:
    return escape(str(text)) in response.content.decode()


def html(response) -> str:
    return response.content.decode()


def overview_url(agreement):
    return reverse("agreements:signing", args=[agreement.pk])


def sign_url(agreement, signatory):
    return reverse("agreements:sign", args=[agreement.pk, signatory.pk])


def report_url(signature, name="signature_report"):
    agreement_pk = signature.signatory.party.agreement_id
    return reverse(f"agreements:{name}", args=[agreement_pk, signature.pk])


def pkcs12_post(pki, label, password=PASSWORD) -> dict:
    return {
        "method": "pkcs12",
        "pkcs12-pkcs12": SimpleUploadedFile(
            f"{label}.p12", pki.pkcs12(label, PASSWORD), content_type="application/x-pkcs12"
        ),
        "pkcs12-password": password,
    }


def signed_outside(pki, agreement, signatory, label) -> bytes:
    """What the signatory's own tool makes of the PDF they downloaded from the signing page."""
    client = client_for(signatory.user)
    current = client.get(reverse("agreements:signing_current_pdf", args=[agreement.pk]))
    assert current.status_code == 200
    document = agreement.signing_document
    document.refresh_from_db()
    return pades.sign_pkcs12(
        current.content,
        field_name=document.field_for(signatory),
        pkcs12=pki.pkcs12(label, PASSWORD),
        password=PASSWORD,
        timestamper_url=pki.tsa_url,
        party=signatory.party.organisation.name,
    )


def row_indications(response) -> dict[str, str]:
    """Signatory pk -> indication shown in the table of signatories."""
    return dict(
        re.findall(r'<tr data-signatory="(\d+)" data-indication="([A-Z]*)"', html(response))
    )


# Seeing the signing step ---------------------------------------------------------------------


def test_a_signatory_sees_the_document_to_sign_and_where_to_sign(setup):
    agreement, (first, second) = setup["agreement"], setup["signatories"]
    document = agreement.signing_document
    client = client_for(first.user)

    response = client.get(overview_url(agreement))

    assert response.status_code == 200
    assert shows(response, agreement.subject)
    assert f'data-sha256="{document.prepared_sha256}"' in html(response)
    assert row_indications(response) == {str(first.pk): "", str(second.pk): ""}
    assert html(response).count("not signed yet") == 2
    assert "Firma_1_mario-rossi" in html(response) and "Firma_2_luigi-verdi" in html(response)
    # Only their own row has a way to sign.
    assert re.findall(r'data-sign-link="(\d+)"', html(response)) == [str(first.pk)]
    assert sign_url(agreement, first) in html(response)
    assert sign_url(agreement, second) not in html(response)

    download = client.get(reverse("agreements:signing_prepared_pdf", args=[agreement.pk]))
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert hashlib.sha256(download.content).hexdigest() == document.prepared_sha256
    assert "attachment" in download["Content-Disposition"]


def test_the_page_shows_a_picture_of_the_signature_page(setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    client = client_for(first.user)

    response = client.get(overview_url(agreement))

    pictures = re.findall(r'<img src="([^"]+\.png)"', html(response))
    assert pictures, "no picture of the signature page"
    document = agreement.signing_document
    assert all(document.current_sha256 in url for url in pictures)
    # The signature page comes after the pages of the approved text.
    approved_pages = int(
        re.search(rb"/Count (\d+)", read_bytes(agreement.approved_version.pdf.name)).group(1)
    )
    assert pictures[0].endswith(f"/{approved_pages + 1}.png")
    picture = client.get(pictures[0])
    assert picture.status_code == 200
    assert picture["Content-Type"] == "image/png"
    assert picture.content.startswith(b"\x89PNG")
    stale = pictures[0].replace(document.current_sha256, "0" * 64)
    assert client.get(stale).status_code == 404


def test_the_agreement_page_leads_to_the_signatures(setup, officer):
    agreement = setup["agreement"]
    draft = make_ready_agreement(officer)
    client = client_for(officer)

    detail = client.get(reverse("agreements:detail", args=[agreement.pk]))
    draft_detail = client.get(reverse("agreements:detail", args=[draft.pk]))

    assert f'href="{overview_url(agreement)}"' in html(detail)
    assert 'id="signing-link"' not in html(draft_detail)
    page = client.get(overview_url(draft))
    assert page.status_code == 200
    assert shows(page, "This agreement has not reached the signature step.")


def test_outsiders_get_not_found_and_anonymous_users_the_login_page(pki, setup, client):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    signature = _sign_through_page(pki, agreement, first, "rossi")
    outsider = client_for(make_user("outsider"))
    urls = [
        overview_url(agreement),
        sign_url(agreement, first),
        report_url(signature),
        report_url(signature, "signature_report_pdf"),
        report_url(signature, "signature_report_json"),
        reverse("agreements:signing_prepared_pdf", args=[agreement.pk]),
        reverse("agreements:signing_current_pdf", args=[agreement.pk]),
        reverse("agreements:signing_report_pdf", args=[agreement.pk]),
    ]

    for url in urls:
        assert outsider.get(url).status_code == 404, url
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    assert outsider.post(sign_url(agreement, first), pkcs12_post(pki, "rossi")).status_code == 404
    assert Signature.objects.count() == 1


def test_only_the_signatory_sees_the_form_to_sign(pki, setup, officer):
    agreement, (first, second) = setup["agreement"], setup["signatories"]

    for user in (second.user, officer):
        response = client_for(user).get(sign_url(agreement, first))
        assert response.status_code == 403
        assert b"PKCS#12" not in response.content
    posted = client_for(second.user).post(sign_url(agreement, first), pkcs12_post(pki, "verdi"))
    assert posted.status_code == 403
    assert not Signature.objects.exists()

    own = client_for(first.user).get(sign_url(agreement, first))
    assert own.status_code == 200
    assert 'data-way="pkcs12"' in html(own) and 'data-way="external"' in html(own)


# The form ------------------------------------------------------------------------------------


def test_the_form_offers_the_ways_the_signatory_has(setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    client = client_for(first.user)

    without_key = html(client.get(sign_url(agreement, first)))
    RemoteSigningKey.objects.create(user=first.user, token_label="rossi")
    with_key = html(client.get(sign_url(agreement, first)))

    assert re.findall(r'data-way="(\w+)"', without_key) == ["pkcs12", "external"]
    assert 'id="no-remote-key"' in without_key
    assert re.findall(r'data-way="(\w+)"', with_key) == ["pkcs11", "pkcs12", "external"]
    # Every input has its label; the secrets are neither remembered nor filled in.
    pin = re.search(r"<input[^>]*name=\"pkcs11-pin\"[^>]*>", with_key).group(0)
    password = re.search(r"<input[^>]*name=\"pkcs12-password\"[^>]*>", with_key).group(0)
    for field in (pin, password):
        assert 'type="password"' in field and 'autocomplete="off"' in field
        assert "value=" not in field
    for field_id in (
        "id_pkcs11-pin",
        "id_pkcs12-pkcs12",
        "id_pkcs12-password",
        "id_external-signed_pdf",
    ):
        assert f'<label for="{field_id}"' in with_key, field_id
    assert 'enctype="multipart/form-data"' in with_key
    # Progress is shown while the slow signing runs.
    assert with_key.count('data-signing-progress role="status"') == 3
    assert "Signing in progress…" in with_key


def test_an_incomplete_form_says_what_is_missing(setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    client = client_for(first.user)

    missing_file = client.post(
        sign_url(agreement, first), {"method": "pkcs12", "pkcs12-password": "x"}
    )
    unknown_way = client.post(sign_url(agreement, first), {"method": "fax"})
    not_a_pdf = client.post(
        sign_url(agreement, first),
        {"method": "external", "external-signed_pdf": SimpleUploadedFile("a.pdf", b"hello")},
    )

    assert missing_file.status_code == 400
    assert 'aria-invalid="true"' in html(missing_file)
    assert shows(missing_file, "This field is required.")
    assert unknown_way.status_code == 400
    assert shows(unknown_way, "Choose one of the ways of signing offered on this page.")
    assert not_a_pdf.status_code == 400
    assert shows(not_a_pdf, "This is not a PDF")
    assert not Signature.objects.exists()


# Signing -------------------------------------------------------------------------------------


def _sign_through_page(pki, agreement, signatory, label, **post):
    response = client_for(signatory.user).post(
        sign_url(agreement, signatory), pkcs12_post(pki, label, **post)
    )
    assert response.status_code == 302, html(response)
    return Signature.objects.filter(signatory=signatory).latest("pk")


def test_a_wrong_password_is_shown_on_the_form_and_not_echoed(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    client = client_for(first.user)

    response = client.post(
        sign_url(agreement, first), pkcs12_post(pki, "rossi", password=WRONG_PASSWORD)
    )

    assert response.status_code == 400
    error = re.search(
        r'<div class="stipula-form-error" role="alert"[^>]*>(.*?)</div>', html(response), re.S
    )
    assert error and 'data-error-for="pkcs12"' in error.group(0)
    assert "the password is wrong" in error.group(1)
    assert WRONG_PASSWORD not in html(response)
    assert PASSWORD not in html(response)
    # The form that failed is the one open, ready for another try.
    assert re.search(
        r'<details class="stipula-way" id="way-pkcs12" data-way="pkcs12" open>', html(response)
    )
    assert not Signature.objects.exists()
    [refusal] = [
        e
        for e in events_for(agreement, AuditAction.ACTION_REFUSED)
        if e.payload_data["attempted"] == "signing.apply"
    ]
    assert refusal.actor_username == "mrossi"
    assert WRONG_PASSWORD not in refusal.payload


def test_a_signatory_signs_with_a_pkcs12_file_and_everyone_sees_it(pki, setup, officer):
    agreement, (first, second) = setup["agreement"], setup["signatories"]
    client = client_for(first.user)

    response = client.post(sign_url(agreement, first), pkcs12_post(pki, "rossi"), follow=True)

    assert response.redirect_chain[-1][0] == overview_url(agreement) + "#signatories"
    assert shows(response, "Signed. Your signature passed validation.")
    assert PASSWORD not in html(response)
    signature = Signature.objects.get(signatory=first)
    assert (signature.method, signature.indication, signature.latest.indication) == (
        "pkcs12",
        "PASSED",
        "PASSED",
    )
    assert row_indications(response) == {str(first.pk): "PASSED", str(second.pk): ""}
    assert 'data-level="B-LT"' in html(response)
    # Nothing more to sign for the first signatory; the second one now signs.
    assert "data-sign-link" not in html(response)
    again = client.get(sign_url(agreement, first))
    assert shows(again, "You have signed this agreement already.")
    assert "data-signing-form" not in html(again)
    second_view = client_for(second.user).get(overview_url(agreement))
    assert row_indications(second_view)[str(first.pk)] == "PASSED"
    assert re.findall(r'data-sign-link="(\d+)"', html(second_view)) == [str(second.pk)]
    officer_view = client_for(officer).get(overview_url(agreement))
    assert report_url(signature) in html(officer_view)
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNATURE


def test_signing_again_is_refused_with_the_reason(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    _sign_through_page(pki, agreement, first, "rossi")

    response = client_for(first.user).post(sign_url(agreement, first), pkcs12_post(pki, "rossi"))

    assert response.status_code == 409
    assert shows(response, "This signatory has already signed the agreement.")
    assert Signature.objects.filter(signatory=first).count() == 1


def test_a_certificate_of_someone_else_is_refused(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]

    response = client_for(first.user).post(sign_url(agreement, first), pkcs12_post(pki, "verdi"))

    assert response.status_code == 400
    assert shows(response, "The certificate belongs to fiscal code VRDLGU75B12F205X")
    assert not Signature.objects.exists()


def test_the_last_signature_uploaded_from_outside_completes_the_agreement(pki, setup):
    agreement, (first, second) = setup["agreement"], setup["signatories"]
    _sign_through_page(pki, agreement, first, "rossi")
    uploaded = signed_outside(pki, agreement, second, "verdi")
    client = client_for(second.user)
    form = html(client.get(sign_url(agreement, second)))
    assert reverse("agreements:signing_current_pdf", args=[agreement.pk]) in form

    response = client.post(
        sign_url(agreement, second),
        {
            "method": "external",
            "external-signed_pdf": SimpleUploadedFile(
                "signed.pdf", uploaded, content_type="application/pdf"
            ),
        },
        follow=True,
    )

    assert shows(response, "Signed. Your signature passed validation.")
    signature = Signature.objects.get(signatory=second)
    assert (signature.method, signature.indication) == ("external", "PASSED")
    assert signature.pdf_sha256 == hashlib.sha256(uploaded).hexdigest()
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNED
    document = agreement.signing_document
    document.refresh_from_db()
    assert document.level == "B-LTA"
    assert row_indications(response) == {str(first.pk): "PASSED", str(second.pk): "PASSED"}
    assert 'data-document-level="B-LTA"' in html(response)
    assert shows(response, "Download the signed PDF")
    signed = client.get(reverse("agreements:signing_current_pdf", args=[agreement.pk]))
    assert hashlib.sha256(signed.content).hexdigest() == document.current_sha256
    assert signed.content.startswith(uploaded)
    assert f"agreement-{agreement.pk}-signed-" in signed["Content-Disposition"]


def test_a_pending_signature_is_validated_again_from_its_report(pki, setup):
    agreement, (first, second) = setup["agreement"], setup["signatories"]
    client = client_for(first.user)
    with pki.offline("ocsp", "crls"):
        response = client.post(sign_url(agreement, first), pkcs12_post(pki, "rossi"), follow=True)
    signature = Signature.objects.get(signatory=first)
    assert (signature.indication, signature.sub_indication) == ("INDETERMINATE", "TRY_LATER")
    assert shows(response, "Signed, but the validation is not complete (TRY_LATER)")
    assert row_indications(response)[str(first.pk)] == "INDETERMINATE"

    report = client.get(report_url(signature))
    assert 'id="revalidate-form"' in html(report)
    assert shows(report, "Validate again")
    others = client_for(second.user)
    assert 'id="revalidate-form"' not in html(others.get(report_url(signature)))
    refused = others.post(report_url(signature, "signature_revalidate"), follow=True)
    assert shows(refused, "Only the signatory or the responsible legal officer")

    done = client.post(report_url(signature, "signature_revalidate"), follow=True)

    assert done.redirect_chain[-1][0] == report_url(signature)
    assert shows(done, "Validated again: «Passed».")
    assert signature.latest.indication == "PASSED"
    assert 'data-indication="PASSED"' in html(done)
    assert 'id="revalidate-form"' not in html(done)
    runs = re.findall(r'<tr data-run="(\d)" data-indication="([A-Z]+)"', html(done))
    assert runs == [("1", "INDETERMINATE"), ("2", "PASSED")]


@needs_softhsm
def test_remote_signing_with_the_token_pin(pki, setup, softhsm_dir):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    test_pkcs11.make_token(pki, softhsm_dir, "rossi")
    RemoteSigningKey.objects.create(user=first.user, token_label="rossi")
    client = client_for(first.user)

    wrong = client.post(sign_url(agreement, first), {"method": "pkcs11", "pkcs11-pin": "999999"})
    assert wrong.status_code == 400
    assert shows(wrong, "The PIN is wrong")
    assert "999999" not in html(wrong)
    assert not Signature.objects.exists()

    response = client.post(
        sign_url(agreement, first), {"method": "pkcs11", "pkcs11-pin": test_pkcs11.PIN}
    )

    assert response.status_code == 302
    signature = Signature.objects.get(signatory=first)
    assert (signature.method, signature.indication) == ("pkcs11", "PASSED")
    assert signature.report["fiscal_code"] == first.fiscal_code


# Reports -------------------------------------------------------------------------------------


def test_the_report_page_and_its_downloads_show_the_validation(pki, setup):
    agreement, (first, second) = setup["agreement"], setup["signatories"]
    signature = _sign_through_page(pki, agreement, first, "rossi")
    document = agreement.signing_document
    document.refresh_from_db()
    client = client_for(second.user)  # another signatory reads it too

    page = client.get(report_url(signature))
    as_json = client.get(report_url(signature, "signature_report_json"))
    as_pdf = client.get(report_url(signature, "signature_report_pdf"))
    summary = client.get(reverse("agreements:signing_report_pdf", args=[agreement.pk]))

    assert page.status_code == 200
    fingerprint = pki.cert("rossi").sha256.hex()
    for value in (
        fingerprint,
        "RSSMRA80A01H501U",
        "Stipula Demo Root CA",
        "ENTIRE_REVISION",
        document.prepared_sha256,
        signature.pdf_sha256,
        "PKCS#12 file",
    ):
        assert shows(page, value), value
    assert 'data-level="B-LT"' in html(page)
    assert 'data-covers-approved="true"' in html(page)
    assert 'id="revalidate-form"' not in html(page)
    assert as_json.status_code == 200
    assert as_json["Content-Type"] == "application/json"
    assert ".json" in as_json["Content-Disposition"]
    data = json.loads(as_json.content)
    assert data["indication"] == "PASSED"
    assert data["report"]["signer_fingerprint_sha256"] == fingerprint
    assert data["report"]["timestamp_token_b64"]
    assert data["documents"]["approved_sha256"] == document.prepared_sha256
    assert [run["actor"]["username"] for run in data["validations"]] == ["mrossi"]
    for pdf in (as_pdf, summary):
        assert pdf.status_code == 200
        assert pdf["Content-Type"] == "application/pdf"
        assert "attachment" in pdf["Content-Disposition"]
        text = pdf_text(pdf.content)
        assert fingerprint in text
        assert "Mario Rossi" in text and first.party.organisation.name in text


def test_the_report_is_in_italian_for_italian_users(pki, setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    signature = _sign_through_page(pki, agreement, first, "rossi")
    client = client_for(first.user, language="it")

    page = client.get(report_url(signature))
    data = json.loads(client.get(report_url(signature, "signature_report_json")).content)

    assert 'lang="it"' in html(page)
    assert shows(page, "Positivo")
    assert (data["language"], data["indication_label"]) == ("it", "Positivo")


def test_a_report_of_another_agreement_is_not_found(pki, setup, officer):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    signature = _sign_through_page(pki, agreement, first, "rossi")
    other = make_ready_agreement(officer)
    client = client_for(officer)

    url = reverse("agreements:signature_report", args=[other.pk, signature.pk])

    assert client.get(url).status_code == 404
    assert client.get(report_url(signature)).status_code == 200


def _approved(officer, *, parties):
    from agreements import services as agreement_services

    agreement = make_ready_agreement(officer, parties=parties)
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    agreement_services.agreement_approve(actor=make_user(None, "reviewer"), agreement=agreement)
    agreement.refresh_from_db()
    assert agreement.signing_document.fields
    return agreement


def test_the_overview_reads_the_same_number_of_queries_however_many_signatories(
    officer, django_assert_max_num_queries
):
    small, large = _approved(officer, parties=2), _approved(officer, parties=5)
    client = client_for(officer)
    client.get(overview_url(small))  # pictures of the pages counted, caches warm

    with CaptureQueriesContext(connection) as few:
        client.get(overview_url(small))
    # Counted now: the next request empties the connection's query log.
    expected = len(few.captured_queries)
    client.get(overview_url(large))
    with django_assert_max_num_queries(expected) as many:
        response = client.get(overview_url(large))

    assert len(row_indications(response)) == 5
    assert len(many.captured_queries) == expected


def test_an_altered_stored_pdf_is_not_handed_out(setup):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    document = agreement.signing_document
    path = django_settings.MEDIA_ROOT / document.prepared_pdf.name
    path.write_bytes(path.read_bytes() + b"\n% altered\n")
    client = client_for(first.user)

    response = client.get(
        reverse("agreements:signing_prepared_pdf", args=[agreement.pk]), follow=True
    )

    assert response.redirect_chain[-1][0] == overview_url(agreement)
    assert response["Content-Type"].startswith("text/html")
    assert shows(response, "it has been altered")
