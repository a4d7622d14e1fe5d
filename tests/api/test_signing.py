# ruff: noqa: F811 - pytest fixtures imported from tests/api/records_fixtures.py
"""Signing through the API (issue 8): the three ways to sign up to «signed», refusals in the error
shape with their audit rows, the reports and the PDFs.

Real PKI, real pyHanko, real SoftHSM2 token (skipped without softhsm2-util), real services.
"""

import hashlib
import shutil

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from agreements.models import AgreementState
from audit.models import AuditAction
from signing import pades
from signing.models import RemoteSigningKey, Signature
from tests.api.records_fixtures import (  # noqa: F401 - fixtures
    PASSWORD,
    pki,
    pki_dir,
    setup,
    signing_settings,
    softhsm_dir,
)
from tests.factories import events_for, make_user
from tests.signing.test_pkcs11 import PIN, make_token

pytestmark = pytest.mark.django_db

needs_softhsm = pytest.mark.skipif(
    shutil.which("softhsm2-util") is None, reason="SoftHSM2 (Debian package softhsm2) is missing"
)
WRONG_SECRET = "not-the-secret-8c1e"  # noqa: S105 - must never come back in an answer


def url(name, *args):
    return reverse(f"api:{name}", args=args)


def p12(pki, label):
    return SimpleUploadedFile(
        f"{label}.p12", pki.pkcs12(label, PASSWORD), content_type="application/x-pkcs12"
    )


def refusals(agreement, attempted):
    return [
        e
        for e in events_for(agreement, AuditAction.ACTION_REFUSED)
        if e.payload_data["attempted"] == attempted
    ]


def payloads(agreement) -> str:
    return " ".join(e.payload for e in events_for(agreement))


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "fields"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


def test_two_signatories_sign_with_pkcs12_and_externally_up_to_signed(pki, setup, api_for):
    agreement, (first, second) = setup["agreement"], setup["signatories"]

    overview = api_for(first.user).get(url("signing", agreement.pk))
    assert overview.status_code == 200
    data = overview.json()
    assert data["state"] == "signature" and (data["required"], data["passed"]) == (2, 0)
    assert [r["name"] for r in data["signatories"]] == ["Mario Rossi", "Luigi Verdi"]
    assert [r["may_sign"] for r in data["signatories"]] == [True, False]
    assert data["signatories"][0]["ways"] == ["pkcs12", "external"]
    approved = data["document"]["approved_sha256"]

    prepared = api_for(first.user).get(url("signing_document_pdf", agreement.pk))
    assert prepared.status_code == 200 and prepared["Content-Type"] == "application/pdf"
    assert hashlib.sha256(prepared.content).hexdigest() == approved

    # 1. PKCS#12 upload with its password.
    signed = api_for(first.user).post(
        url("signing_sign_pkcs12", agreement.pk, first.pk),
        {"pkcs12": p12(pki, "rossi"), "password": PASSWORD},
        format="multipart",
    )
    assert signed.status_code == 201, signed.content
    body = signed.json()
    assert body["state"] == "signature"
    assert body["signature"]["method"] == "pkcs12"
    assert body["signature"]["validation"]["indication"] == "PASSED"
    assert body["signature"]["validation"]["fiscal_code"] == first.fiscal_code
    assert PASSWORD not in signed.content.decode()

    # 2. The second signatory downloads the current revision, signs it outside, uploads it.
    current = api_for(second.user).get(url("signing_current_pdf", agreement.pk))
    assert current.status_code == 200
    field = api_for(second.user).get(url("signing", agreement.pk)).json()["signatories"][1]
    outside = pades.sign_pkcs12(
        current.content,
        field_name=field["field_name"],
        pkcs12=pki.pkcs12("verdi", PASSWORD),
        password=PASSWORD,
        timestamper_url=pki.tsa_url,
        party=second.party.organisation.name,
    )
    uploaded = api_for(second.user).post(
        url("signing_sign_external", agreement.pk, second.pk),
        {"signed_pdf": SimpleUploadedFile("signed.pdf", outside, "application/pdf")},
        format="multipart",
    )
    assert uploaded.status_code == 201, uploaded.content
    assert uploaded.json()["state"] == "signed"
    assert uploaded.json()["signature"]["method"] == "external"

    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNED
    final = api_for(setup["officer"]).get(url("signing", agreement.pk)).json()
    assert (final["state"], final["passed"]) == ("signed", 2)
    assert [r["indication"] for r in final["signatories"]] == ["PASSED", "PASSED"]
    assert final["document"]["level"] == "B-LTA"
    signed_pdf = api_for(setup["officer"]).get(url("signing_current_pdf", agreement.pk))
    assert hashlib.sha256(signed_pdf.content).hexdigest() == final["document"]["current_sha256"]
    applied = events_for(agreement, AuditAction.SIGNATURE_APPLIED)
    assert [e.payload_data["method"] for e in applied] == ["pkcs12", "external"]
    assert PASSWORD not in payloads(agreement)

    # The signature report, as JSON and as PDF.
    signature_id = final["signatories"][0]["signature"]["id"]
    report = api_for(second.user).get(url("signing_signature", agreement.pk, signature_id))
    assert report.status_code == 200
    report = report.json()
    assert report["indication"] == "PASSED"
    assert report["signatory"]["name"] == "Mario Rossi"
    assert report["report"]["fiscal_code"] == first.fiscal_code
    assert report["report"]["level"] in ("B-LT", "B-LTA")
    assert report["documents"]["approved_sha256"] == approved
    assert [v["kind"] for v in report["validations"]] == ["signing"]
    pdf = api_for(second.user).get(url("signing_signature_report_pdf", agreement.pk, signature_id))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    everything = api_for(second.user).get(url("signing_report_pdf", agreement.pk))
    assert everything.content.startswith(b"%PDF")


@needs_softhsm
def test_remote_signing_with_the_pin_completes_the_agreement(pki, setup, softhsm_dir, api_for):
    agreement, (first, second) = setup["agreement"], setup["signatories"]
    make_token(pki, softhsm_dir, "rossi")
    make_token(pki, softhsm_dir, "verdi")
    RemoteSigningKey.objects.create(user=first.user, token_label="rossi")
    RemoteSigningKey.objects.create(user=second.user, token_label="verdi")

    overview = api_for(first.user).get(url("signing", agreement.pk)).json()
    assert overview["signatories"][0]["ways"] == ["pkcs11", "pkcs12", "external"]
    for signatory in (first, second):
        response = api_for(signatory.user).post(
            url("signing_sign_pkcs11", agreement.pk, signatory.pk), {"pin": PIN}, format="json"
        )
        assert response.status_code == 201, response.content
        assert response.json()["signature"]["method"] == "pkcs11"
        assert PIN not in response.content.decode()

    assert response.json()["state"] == "signed"
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNED
    assert PIN not in payloads(agreement)


@needs_softhsm
def test_a_wrong_pin_is_refused_in_the_error_shape_and_audited(pki, setup, softhsm_dir, api_for):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    make_token(pki, softhsm_dir, "rossi")
    RemoteSigningKey.objects.create(user=first.user, token_label="rossi")

    response = api_for(first.user).post(
        url("signing_sign_pkcs11", agreement.pk, first.pk), {"pin": WRONG_SECRET}, format="json"
    )

    error = assert_error(response, 400)
    assert "PIN" in error["message"]
    assert WRONG_SECRET not in response.content.decode()
    assert not Signature.objects.exists()
    [refusal] = refusals(agreement, "signing.apply")
    assert refusal.actor_username == first.user.username
    assert WRONG_SECRET not in payloads(agreement)


def test_a_wrong_password_is_refused_in_the_error_shape_and_audited(pki, setup, api_for):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]

    response = api_for(first.user).post(
        url("signing_sign_pkcs12", agreement.pk, first.pk),
        {"pkcs12": p12(pki, "rossi"), "password": WRONG_SECRET},
        format="multipart",
    )

    error = assert_error(response, 400, "wrong_password")
    assert "password is wrong" in error["message"]
    assert WRONG_SECRET not in response.content.decode()
    assert not Signature.objects.exists()
    [refusal] = refusals(agreement, "signing.apply")
    assert refusal.payload_data["code"] == "wrong_password"
    assert WRONG_SECRET not in payloads(agreement)


def test_a_tampered_upload_is_refused_and_audited(pki, setup, api_for):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    current = api_for(first.user).get(url("signing_current_pdf", agreement.pk)).content
    field = agreement.signing_document.field_for(first)
    signed = pades.sign_pkcs12(
        current,
        field_name=field,
        pkcs12=pki.pkcs12("rossi", PASSWORD),
        password=PASSWORD,
        timestamper_url=pki.tsa_url,
        party=first.party.organisation.name,
    )
    # One byte of the signed revision changed inside the signed range.
    at = len(current) + 40
    tampered = signed[:at] + bytes([signed[at] ^ 0x01]) + signed[at + 1 :]

    response = api_for(first.user).post(
        url("signing_sign_external", agreement.pk, first.pk),
        {"signed_pdf": SimpleUploadedFile("signed.pdf", tampered, "application/pdf")},
        format="multipart",
    )

    assert response.status_code in (400, 422), response.content
    assert_error(response, response.status_code)
    assert not Signature.objects.exists()
    assert len(refusals(agreement, "signing.apply")) == 1
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNATURE


def test_nobody_signs_for_someone_else_and_outsiders_see_nothing(pki, setup, api_for):
    agreement, (first, second) = setup["agreement"], setup["signatories"]

    response = api_for(second.user).post(
        url("signing_sign_pkcs12", agreement.pk, first.pk),
        {"pkcs12": p12(pki, "verdi"), "password": PASSWORD},
        format="multipart",
    )
    error = assert_error(response, 403, "permission_denied")
    assert "only for themselves" in error["message"]
    assert len(refusals(agreement, "signing.apply")) == 1

    outsider = make_user("outsider", "signatory")
    for name in ("signing", "signing_document_pdf", "signing_current_pdf"):
        assert_error(api_for(outsider).get(url(name, agreement.pk)), 404)
    assert_error(api_for(None).get(url("signing", agreement.pk)), 401)
    assert_error(api_for(first.user).get(url("signing", 10**30)), 404)
    assert_error(api_for(first.user).get(url("signing_signature", agreement.pk, 999999)), 404)


def test_bad_uploads_are_refused_before_the_service(pki, setup, api_for):
    agreement, (first, _second) = setup["agreement"], setup["signatories"]
    client = api_for(first.user)

    empty = client.post(url("signing_sign_pkcs12", agreement.pk, first.pk), {}, format="multipart")
    assert "pkcs12" in assert_error(empty, 400, "validation_failed")["fields"]

    not_pdf = client.post(
        url("signing_sign_external", agreement.pk, first.pk),
        {"signed_pdf": SimpleUploadedFile("x.pdf", b"hello", "application/pdf")},
        format="multipart",
    )
    assert "This is not a PDF" in assert_error(not_pdf, 400)["fields"]["signed_pdf"][0]

    nothing = client.post(
        url("signing_sign_external", agreement.pk, first.pk),
        {"signed_pdf": SimpleUploadedFile("x.pdf", b"", "application/pdf")},
        format="multipart",
    )
    assert "signed_pdf" in assert_error(nothing, 400)["fields"]

    as_text = client.post(
        url("signing_sign_pkcs12", agreement.pk, first.pk),
        {"pkcs12": "not a file", "password": "x"},
        format="multipart",
    )
    assert "pkcs12" in assert_error(as_text, 400)["fields"]

    no_pin = client.post(url("signing_sign_pkcs11", agreement.pk, first.pk), {}, format="json")
    assert "pin" in assert_error(no_pin, 400)["fields"]

    no_key = client.post(
        url("signing_sign_pkcs11", agreement.pk, first.pk), {"pin": "1234"}, format="json"
    )
    assert "no remote signing key" in assert_error(no_key, 400)["message"]
    assert not Signature.objects.exists()


def test_preparing_again_and_revalidating_a_passed_signature_are_refused(pki, setup, api_for):
    agreement, officer = setup["agreement"], setup["officer"]
    prepared = api_for(officer).post(url("signing_prepare", agreement.pk))
    assert "already prepared" in assert_error(prepared, 400)["message"]
    assert len(refusals(agreement, "signing.prepare")) == 1

    first = setup["signatories"][0]
    api_for(first.user).post(
        url("signing_sign_pkcs12", agreement.pk, first.pk),
        {"pkcs12": p12(pki, "rossi"), "password": PASSWORD},
        format="multipart",
    )
    signature = Signature.objects.get()
    again = api_for(first.user).post(
        url("signing_signature_revalidate", agreement.pk, signature.pk)
    )
    assert "Only a pending signature" in assert_error(again, 400)["message"]
