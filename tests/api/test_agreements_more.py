"""The template library's files and uploads, and a proposal's comparison, through the API: the
same selectors and services as the library pages and the proposal's redline page.

Conversions to PDF are real (LibreOffice, the warm converter of tests/conftest.py).
"""

import hashlib
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pypdf import PdfReader

from agreements import negotiation
from agreements import services as agreement_services
from agreements.storage import read_bytes
from audit.models import AuditAction, AuditEvent
from templates_docx.models import DocxTemplate, TemplateVersion
from tests.api.conftest import body
from tests.api.test_core import error_of
from tests.factories import make_user, sample_docx

pytestmark = pytest.mark.django_db

TEMPLATES = "/api/v1/templates/"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def docx_file(data: bytes, name="modello.docx"):
    return SimpleUploadedFile(name, data, content_type=DOCX_TYPE)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def refusals(attempted: str) -> list[AuditEvent]:
    events = AuditEvent.objects.filter(action=AuditAction.ACTION_REFUSED).order_by("seq")
    return [e for e in events if e.payload_data.get("attempted") == attempted]


def uploads() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.TEMPLATE_UPLOADED).order_by("seq"))


# Template downloads ------------------------------------------------------------------------


def test_a_template_version_downloads_with_the_stored_bytes(api_for, officer, protocollo):
    client = api_for(officer)
    template_id = protocollo.template_id
    listed = client.get(f"{TEMPLATES}{template_id}/").json()["versions"][0]
    url = f"{TEMPLATES}{template_id}/versions/1/docx/"
    assert listed["docx_url"] == url

    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == DOCX_TYPE
    assert "attachment" in response["Content-Disposition"]
    data = body(response)
    assert sha256(data) == protocollo.sha256 == listed["sha256"]
    assert data == read_bytes(protocollo.docx.name)

    for missing in (
        f"{TEMPLATES}{template_id}/versions/2/docx/",
        f"{TEMPLATES}{template_id}/versions/{2**70}/docx/",
        f"{TEMPLATES}{2**70}/versions/1/docx/",
    ):
        response = client.get(missing)
        assert response.status_code == 404, missing
        assert error_of(response)["code"] == "not_found"

    mayor = make_user("mayor", "signatory")
    refused = api_for(mayor).get(url)
    assert refused.status_code == 403
    assert "legal officers and administrators" in error_of(refused)["message"]
    assert api_for(None).get(url).status_code == 401


def test_an_altered_template_file_is_not_served(api_for, officer, protocollo, settings):
    path = settings.MEDIA_ROOT / protocollo.docx.name
    path.write_bytes(path.read_bytes() + b"tampered")
    response = api_for(officer).get(f"{TEMPLATES}{protocollo.template_id}/versions/1/docx/")
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "document_rejected"
    assert "no longer matches the fingerprint" in error["message"]


# Template uploads --------------------------------------------------------------------------


def test_upload_a_template_then_its_next_version(api_for, officer, administrator):
    first = sample_docx("Il presente accordo ha per oggetto la biblioteca.")
    client = api_for(officer)
    response = client.post(
        TEMPLATES,
        {
            "name": "Convenzione biblioteche",
            "kind": "convenzione",
            "description": "Per i servizi bibliotecari",
            "note": "Prima versione",
            "docx": docx_file(first),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["name"] == "Convenzione biblioteche"
    assert created["kind"] == "convenzione"
    assert created["description"] == "Per i servizi bibliotecari"
    assert [v["number"] for v in created["versions"]] == [1]
    assert created["latest_version"]["sha256"] == sha256(first)
    assert created["latest_version"]["note"] == "Prima versione"
    template = DocxTemplate.objects.get(pk=created["id"])
    assert template.created_by == officer

    # The next version, under the template's URL (an administrator may upload too).
    second = sample_docx("Il presente accordo ha per oggetto le biblioteche comunali.")
    response = api_for(administrator).post(
        f"{TEMPLATES}{template.pk}/versions/",
        {"docx": docx_file(second), "note": "Oggetto più ampio"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    version = response.json()
    assert version["number"] == 2 and version["note"] == "Oggetto più ampio"
    assert version["sha256"] == sha256(second)
    stored = TemplateVersion.objects.get(pk=version["id"])
    assert stored.template == template and stored.uploaded_by == administrator
    downloaded = client.get(version["docx_url"])
    assert sha256(body(downloaded)) == sha256(second)

    # Each upload is in the audit trail, with the file's fingerprint.
    events = uploads()
    assert [(e.actor_username, e.actor_role) for e in events] == [
        ("officer", "legal_officer"),
        ("admin.api", "administrator"),
    ]
    assert [e.payload_data["number"] for e in events] == [1, 2]
    assert events[1].document_list == [
        {"name": "Convenzione biblioteche v2.docx", "sha256": sha256(second)}
    ]

    # The same name again through the library adds a version; the same bytes are refused.
    again = client.post(
        TEMPLATES,
        {"name": "Convenzione biblioteche", "kind": "convenzione", "docx": docx_file(second)},
        format="multipart",
    )
    assert again.status_code == 400
    assert "identical to the latest version (v2)" in error_of(again)["message"]
    assert TemplateVersion.objects.filter(template=template).count() == 2
    assert len(refusals("template.upload")) == 1


def test_only_legal_officers_and_administrators_upload(api_for, protocollo):
    mayor = make_user("mayor", "signatory")
    client = api_for(mayor)
    response = client.post(
        TEMPLATES,
        {"name": "Modello abusivo", "kind": "convenzione", "docx": docx_file(sample_docx())},
        format="multipart",
    )
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "permission_denied"
    assert error["message"] == "Only a legal officer or an administrator can upload templates."
    assert not DocxTemplate.objects.filter(name="Modello abusivo").exists()

    response = client.post(
        f"{TEMPLATES}{protocollo.template_id}/versions/",
        {"docx": docx_file(sample_docx("Altro testo."))},
        format="multipart",
    )
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    assert TemplateVersion.objects.filter(template_id=protocollo.template_id).count() == 1

    # Both refusals are recorded, the second under the template it was about.
    refused = refusals("template.upload")
    assert [e.actor_username for e in refused] == ["mayor", "mayor"]
    assert refused[0].object_type == "templates_docx.docxtemplate"
    assert refused[1].object_id == str(protocollo.template_id)
    assert all("legal officer or an administrator" in e.payload_data["message"] for e in refused)
    assert len(uploads()) == 1  # the shipped template of the fixture


def test_uploads_that_are_not_valid_are_answered_not_crashed(api_for, officer, protocollo):
    client = api_for(officer)
    versions = f"{TEMPLATES}{protocollo.template_id}/versions/"

    empty = client.post(TEMPLATES, {}, format="multipart")
    assert empty.status_code == 400
    assert {"name", "kind", "docx"} <= set(error_of(empty)["fields"])
    no_file = client.post(versions, {"note": "senza file"}, format="multipart")
    assert no_file.status_code == 400
    assert "docx" in error_of(no_file)["fields"]
    not_a_file = client.post(versions, {"docx": "testo"}, format="multipart")
    assert not_a_file.status_code == 400
    assert "docx" in error_of(not_a_file)["fields"]

    as_json = client.post(TEMPLATES, {"name": "X", "kind": "convenzione"}, format="json")
    assert as_json.status_code == 415
    assert error_of(as_json)["code"] == "unsupported_media_type"

    wrong_kind = client.post(
        TEMPLATES,
        {"name": "X", "kind": "contratto", "docx": docx_file(sample_docx())},
        format="multipart",
    )
    assert wrong_kind.status_code == 400
    assert "kind" in error_of(wrong_kind)["fields"]
    too_long = client.post(
        TEMPLATES,
        {"name": "N" * 201, "kind": "convenzione", "docx": docx_file(sample_docx())},
        format="multipart",
    )
    assert too_long.status_code == 400
    assert "name" in error_of(too_long)["fields"]

    # Not a Word document: refused by the service, which records the refusal.
    pdf = client.post(
        versions, {"docx": docx_file(b"%PDF-1.7 not a docx", "x.docx")}, format="multipart"
    )
    assert pdf.status_code == 422
    assert error_of(pdf)["code"] == "document_rejected"
    assert [e.object_id for e in refusals("template.upload")] == [str(protocollo.template_id)]

    # Another kind than the template's is refused by the service, as in the library.
    other_kind = client.post(
        TEMPLATES,
        {
            "name": protocollo.template.name,
            "kind": "convenzione",
            "docx": docx_file(sample_docx("Testo.")),
        },
        format="multipart",
    )
    assert other_kind.status_code == 400
    assert "Upload this file under another name" in error_of(other_kind)["message"]

    unknown = client.post(
        f"{TEMPLATES}{2**70}/versions/", {"docx": docx_file(sample_docx())}, format="multipart"
    )
    assert unknown.status_code == 404
    assert TemplateVersion.objects.count() == 1


# A proposal's comparison -------------------------------------------------------------------


@pytest.fixture
def proposal(officer, ready_agreement):
    """A proposal of the first party's representative on version 1, in an open round."""
    agreement_services.agreement_open_negotiation(actor=officer, agreement=ready_agreement)
    round_ = negotiation.round_open(actor=officer, agreement=ready_agreement)
    representative = ready_agreement.parties.order_by("position").first().signatories.get().user
    return negotiation.proposal_submit(
        actor=representative,
        negotiation_round=round_,
        docx=sample_docx("Testo riveduto della convenzione."),
        note="Più chiaro",
    )


def test_a_proposal_compared_with_its_rounds_version(api_for, officer, proposal):
    agreement_id = proposal.round.agreement_id
    base = f"/api/v1/agreements/{agreement_id}/proposals/{proposal.pk}/"
    client = api_for(officer)
    assert client.get(base).json()["redline_url"] == f"{base}redline/"

    response = client.get(f"{base}redline/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    redline = response.json()
    assert redline["version"] == 1 and redline["proposal"] == proposal.pk
    assert redline["has_changes"] is True
    assert "riveduto" in redline["html"]
    assert redline["summary"]["words_inserted"] >= 1
    assert redline["summary_text"].startswith("Paragraphs:")
    assert redline["docx_url"] == f"{base}redline/docx/"
    assert redline["pdf_url"] == f"{base}redline/pdf/"

    docx = client.get(redline["docx_url"])
    assert docx.status_code == 200 and docx["Content-Type"] == DOCX_TYPE
    assert (
        f"agreement-{agreement_id}-proposal-{proposal.pk}-redline.docx"
        in (docx["Content-Disposition"])
    )
    with zipfile.ZipFile(io.BytesIO(body(docx))) as package:
        document = package.read("word/document.xml").decode()
    assert "<w:ins " in document and "riveduto" in document

    pdf = client.get(redline["pdf_url"], HTTP_ACCEPT="application/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    data = body(pdf)
    assert data.startswith(b"%PDF")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert "riveduto" in text
    assert "the proposal of" in text


def test_only_those_who_follow_the_round_see_a_proposals_comparison(api_for, proposal):
    agreement_id = proposal.round.agreement_id
    redline = f"/api/v1/agreements/{agreement_id}/proposals/{proposal.pk}/redline/"
    invited = api_for(proposal.author).get(redline)
    assert invited.status_code == 200 and invited.json()["has_changes"] is True

    outsider = api_for(make_user("outsider", "signatory"))
    for url in (redline, f"{redline}docx/", f"{redline}pdf/"):
        response = outsider.get(url)
        assert response.status_code == 404, url
        assert error_of(response)["code"] == "not_found"
    other = f"/api/v1/agreements/{agreement_id}/proposals/{2**70}/redline/"
    assert api_for(proposal.author).get(other).status_code == 404


def test_ids_past_what_the_database_holds_are_not_found(api_for, officer, proposal):
    client = api_for(officer)
    huge = 2**70
    for url in (
        f"/api/v1/agreements/{huge}/versions/1/",
        f"/api/v1/agreements/{huge}/rounds/1/",
        f"/api/v1/agreements/{huge}/proposals/{proposal.pk}/",
        f"/api/v1/agreements/{huge}/proposals/{proposal.pk}/redline/",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert error_of(response)["code"] == "not_found"
