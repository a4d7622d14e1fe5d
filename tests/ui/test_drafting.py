"""Drafting and negotiation in the web pages: the template library, drafting from a template,
versions with their files and page previews, comparisons, and negotiation rounds.

Conversions to PDF are real (LibreOffice, the warm converter of tests/conftest.py), so each test
makes as few versions as it needs.
"""

import hashlib
import io
import re

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from agreements import negotiation, services
from agreements.models import AgreementVersion, Comment, Proposal
from audit.models import AuditAction, AuditEvent
from templates_docx.models import DocxTemplate, TemplateVersion
from templates_docx.services import template_upload
from templates_docx.shipped import example_data, shipped_template, shipped_template_path
from tests.ui.conftest import docx_bytes, shows

pytestmark = pytest.mark.django_db

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def pdf_text(data: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=DOCX_TYPE)


def detail_url(agreement):
    return reverse("agreements:detail", args=[agreement.pk])


def round_url(round_):
    return reverse("agreements:round", args=[round_.agreement_id, round_.number])


def stored_names(folder: str) -> list[str]:
    if not default_storage.exists(folder):
        return []
    found = []
    directories, files = default_storage.listdir(folder)
    found.extend(f"{folder}/{name}" for name in files)
    for directory in directories:
        found.extend(stored_names(f"{folder}/{directory}"))
    return found


@pytest.fixture
def protocollo(officer):
    """The shipped «Protocollo d'intesa» template, in the library."""
    shipped = shipped_template("protocollo_intesa")
    return template_upload(
        actor=None,
        name=shipped.name,
        kind=shipped.kind,
        docx=shipped_template_path(shipped.key).read_bytes(),
        description=shipped.description,
    )


@pytest.fixture
def negotiating(ready_agreement, officer):
    services.agreement_open_negotiation(
        actor=officer, agreement=ready_agreement, expected_state="draft"
    )
    ready_agreement.refresh_from_db()
    return ready_agreement


def open_round(officer, agreement, *invitees, version=None):
    return negotiation.round_open(
        actor=officer,
        agreement=agreement,
        version=version,
        invitees=list(invitees),
        note="Prima lettura",
    )


# Template library ----------------------------------------------------------------------------


def test_an_officer_uploads_a_template_and_sees_it_listed_with_its_variables(client_for, officer):
    client = client_for(officer)
    data = shipped_template_path("protocollo_intesa").read_bytes()
    assert client.get(reverse("template_library:index")).status_code == 200

    response = client.post(
        reverse("template_library:index"),
        {
            "name": "Protocollo per le biblioteche",
            "kind": "protocollo_intesa",
            "description": "Per i protocolli con le biblioteche comunali.",
            "note": "Prima stesura",
            "docx": upload("protocollo.docx", data),
        },
        follow=True,
    )

    template = DocxTemplate.objects.get(name="Protocollo per le biblioteche")
    assert response.redirect_chain[-1][0] == reverse("template_library:detail", args=[template.pk])
    assert shows(response, "«Protocollo per le biblioteche» version 1 is in the library.")
    listing = client.get(reverse("template_library:index")).content.decode()
    row = listing[listing.index(f'data-template="{template.pk}"') :]
    row = row[: row.index("</tr>")]
    filled_in, from_agreement = row.split("data-variables", 1)[1].split("</td>", 1)
    for name in ("clausola_recesso", "premesse", "referenti", "foro_competente", "luogo"):
        assert f">{name}<" in filled_in
    for name in ("agreement", "parties", "ente_capofila"):
        assert f">{name}<" in from_agreement
    version = template.versions.get()
    download = client.get(reverse("template_library:download", args=[version.pk]))
    assert download.status_code == 200
    assert download["Content-Type"] == DOCX_TYPE
    assert body(download) == data


def test_a_new_version_of_a_template_is_uploaded_under_the_same_name(
    client_for, officer, protocollo
):
    client = client_for(officer)
    form = client.get(reverse("template_library:index"), {"name": protocollo.template.name})
    assert shows(form, protocollo.template.name)

    client.post(
        reverse("template_library:index"),
        {
            "name": protocollo.template.name,
            "kind": "protocollo_intesa",
            "note": "Solo il testo",
            "docx": upload("nuovo.docx", docx_bytes("Protocollo tra {{ ente_capofila.nome }}.")),
        },
    )

    assert list(protocollo.template.versions.values_list("number", flat=True)) == [1, 2]
    page = client.get(reverse("template_library:detail", args=[protocollo.template_id]))
    assert 'data-template-version="2"' in page.content.decode()
    assert shows(page, "Solo il testo")


def test_a_template_with_a_syntax_error_is_refused_with_its_snippet(client_for, officer):
    broken = docx_bytes("La presente Convenzione ha per oggetto {{ agreement.oggetto }.")

    response = client_for(officer).post(
        reverse("template_library:index"),
        {
            "name": "Convenzione difettosa",
            "kind": "convenzione",
            "docx": upload("difettosa.docx", broken),
        },
    )

    assert response.status_code == 200
    assert shows(response, "The template has an error in a tag near «La presente Convenzione")
    assert shows(response, "{{ agreement.oggetto }.")
    assert shows(response, "Convenzione difettosa")  # the form keeps the name
    assert not DocxTemplate.objects.exists()
    assert not TemplateVersion.objects.exists()
    assert stored_names("templates") == []
    refused = AuditEvent.objects.get(action=AuditAction.ACTION_REFUSED)
    assert refused.payload_data["code"] == "template_syntax_error"


def test_the_library_is_for_legal_officers(client_for, reviewer, mayor):
    for user in (reviewer, mayor):
        client = client_for(user)
        assert client.get(reverse("template_library:index")).status_code == 403
        response = client.post(
            reverse("template_library:index"),
            {"name": "Abusivo", "kind": "convenzione", "docx": upload("a.docx", docx_bytes())},
        )
        assert response.status_code == 403
    assert not DocxTemplate.objects.exists()


# Drafting from a template --------------------------------------------------------------------


def draft_post(template_version, **changes):
    data = {**example_data("protocollo_intesa"), **changes}
    post = {"template_version": template_version.pk, "note": data.pop("note", "")}
    for name, value in data.items():
        if isinstance(value, bool):
            if value:
                post[name] = "on"
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            post[name] = "\n".join(
                " | ".join(record[key] for key in ("ente", "nome", "recapito")) for record in value
            )
        elif isinstance(value, list):
            post[name] = "\n".join(value)
        else:
            post[name] = value
    return post


def test_drafting_from_a_template_and_redrafting_with_changed_data(
    client_for, officer, ready_agreement, protocollo
):
    client = client_for(officer)
    url = reverse("agreements:draft", args=[ready_agreement.pk])
    assert 'id="template-choice-form"' in client.get(detail_url(ready_agreement)).content.decode()
    form = client.get(url, {"template_version": protocollo.pk}).content.decode()
    assert re.search(r'<vf-field-checkbox[^>]*name="clausola_recesso"', form)
    assert re.search(r'<vf-field-textarea[^>]*name="premesse"', form)
    assert 'name="agreement"' not in form and 'name="parties"' not in form

    response = client.post(url, draft_post(protocollo, note="Dal modello"), follow=True)

    ready_agreement.refresh_from_db()
    drafted = ready_agreement.current_version
    assert drafted.number == 2
    assert drafted.source == AgreementVersion.Source.TEMPLATE
    assert drafted.template_version == protocollo
    assert drafted.data["foro_competente"] == "Lucca"
    assert drafted.data["clausola_recesso"] is True
    assert drafted.data["referenti"][0]["nome"] == "Dott.ssa Carla Menchetti"
    assert response.redirect_chain[-1][0] == reverse(
        "agreements:version_detail", args=[ready_agreement.pk, 2]
    )
    pdf = client.get(reverse("agreements:version_pdf", args=[ready_agreement.pk, 2]))
    assert pdf["Content-Type"] == "application/pdf"
    text = pdf_text(body(pdf))
    assert "Comune di Bologna" in text
    assert "Università di Bologna" in text
    first_hashes = (drafted.docx_sha256, drafted.pdf_sha256)

    # The form comes back filled in with the data of that version.
    again = client.get(url, {"template_version": protocollo.pk}).content.decode()
    assert 'id="prefilled-from"' in again
    assert re.search(
        r'name="foro_competente"[^>]*value="Lucca"|value="Lucca"[^>]*name="foro', again
    )
    client.post(
        url, draft_post(protocollo, foro_competente="Bologna", clausola_recesso=False, note="Foro")
    )

    ready_agreement.refresh_from_db()
    redrafted = ready_agreement.current_version
    assert redrafted.number == 3
    assert redrafted.parent == drafted
    assert redrafted.data["foro_competente"] == "Bologna"
    assert redrafted.data["clausola_recesso"] is False
    drafted.refresh_from_db()
    assert (drafted.docx_sha256, drafted.pdf_sha256) == first_hashes
    assert drafted.data["foro_competente"] == "Lucca"
    stored = default_storage.open(drafted.docx.name, "rb").read()
    assert hashlib.sha256(stored).hexdigest() == first_hashes[0]
    assert redrafted.docx_sha256 != drafted.docx_sha256


def test_a_refused_draft_keeps_what_was_typed(client_for, officer, in_review, protocollo):
    response = client_for(officer).post(
        reverse("agreements:draft", args=[in_review.pk]),
        draft_post(protocollo, foro_competente="Ravenna"),
    )

    assert response.status_code == 200
    assert shows(response, "can change only in draft or negotiation")
    assert "Ravenna" in response.content.decode()
    assert in_review.versions.count() == 1


def test_an_unknown_template_version_is_a_message(client_for, officer, ready_agreement):
    response = client_for(officer).get(
        reverse("agreements:draft", args=[ready_agreement.pk]), {"template_version": 98765}
    )

    assert response.status_code == 200
    assert shows(response, "This template version does not exist.")


# Versions: files, previews and comparison ----------------------------------------------------


def test_the_version_page_shows_the_pages_and_serves_them_as_png(
    client_for, officer, ready_agreement
):
    client = client_for(officer)
    version = ready_agreement.current_version

    page = client.get(reverse("agreements:version_detail", args=[ready_agreement.pk, 1]))

    html = page.content.decode()
    assert version.docx_sha256 in html and version.pdf_sha256 in html
    first = reverse("agreements:version_page", args=[ready_agreement.pk, 1, 1])
    assert f'src="{first}"' in html
    png = client.get(first)
    assert png.status_code == 200
    assert png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert default_storage.exists(f"previews/{version.pdf_sha256}/1.png")
    assert client.get(first).content == png.content  # from the cache
    beyond = reverse("agreements:version_page", args=[ready_agreement.pk, 1, 99])
    assert client.get(beyond).status_code == 404


def test_comparing_two_versions_shows_the_changes_and_downloads_the_redline(
    client_for, officer, ready_agreement
):
    services.version_create(
        actor=officer,
        agreement=ready_agreement,
        docx=docx_bytes("Art. 1 - Finalità della nuova convenzione."),
        note="Riformulato",
    )
    client = client_for(officer)
    detail = client.get(detail_url(ready_agreement)).content.decode()
    assert 'id="compare-form"' in detail

    page = client.get(
        reverse("agreements:compare", args=[ready_agreement.pk]), {"old": 1, "new": 2}
    )

    html = page.content.decode()
    assert page.status_code == 200
    assert "Art. 1 - <del>Oggetto</del><ins>Finalità</ins> della <ins>nuova </ins>" in html
    assert shows(
        page, "Paragraphs: 0 inserted, 0 deleted, 1 changed. Words: 2 inserted, 1 deleted."
    )
    query = {"old": 1, "new": 2}
    docx = client.get(reverse("agreements:compare_docx", args=[ready_agreement.pk]), query)
    assert docx.status_code == 200
    assert docx["Content-Type"] == DOCX_TYPE
    assert body(docx).startswith(b"PK")
    pdf = client.get(reverse("agreements:compare_pdf", args=[ready_agreement.pk]), query)
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    pdf_bytes = body(pdf)
    assert pdf_bytes.startswith(b"%PDF-")
    assert "nuova" in pdf_text(pdf_bytes)


def test_comparing_a_version_with_itself_is_a_message(client_for, officer, ready_agreement):
    response = client_for(officer).get(
        reverse("agreements:compare", args=[ready_agreement.pk]), {"old": 1, "new": 1}, follow=True
    )

    assert response.status_code == 200
    assert shows(response, "Choose two different versions.")


def test_the_version_list_costs_the_same_queries_for_few_or_many_versions(
    client_for, officer, ready_agreement, django_assert_max_num_queries
):
    client = client_for(officer)
    with CaptureQueriesContext(connection) as few:
        client.get(detail_url(ready_agreement))
    for number in (2, 3):
        services.version_create(
            actor=officer,
            agreement=ready_agreement,
            docx=docx_bytes(f"Art. 1 - Testo numero {number}."),
            note=f"Versione {number}",
        )

    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        response = client.get(detail_url(ready_agreement))

    html = response.content.decode()
    assert re.findall(r'<tr data-version="(\d+)"', html) == ["3", "2", "1"]
    assert len(many.captured_queries) == len(few.captured_queries)


# Negotiation ---------------------------------------------------------------------------------


def test_a_whole_round_through_the_pages(client_for, officer, mayor, rector, negotiating):
    officer_client = client_for(officer)
    detail = officer_client.get(detail_url(negotiating)).content.decode()
    assert 'id="round-form"' in detail
    for person in (mayor, rector):
        assert re.search(rf'<input type="checkbox" name="invitees" value="{person.pk}"', detail)
    assert "Mario Rossi (mayor)" in detail and "Anna Neri (rector)" in detail

    opened = officer_client.post(
        reverse("agreements:round_open", args=[negotiating.pk]),
        {
            "version": negotiating.current_version.pk,
            "invitees": [mayor.pk, rector.pk],
            "note": "Prima lettura",
        },
        follow=True,
    )
    round_ = negotiating.rounds.get()
    assert opened.redirect_chain[-1][0] == round_url(round_)
    assert {i.user for i in round_.invitations.all()} == {mayor, rector}

    # The mayor finds the round on the home page, comments and proposes a revised text.
    mayor_client = client_for(mayor)
    home = mayor_client.get("/").content.decode()
    assert 'id="section-invitations"' in home
    assert round_url(round_) in home
    mayor_client.post(
        reverse("agreements:comment_add", args=[negotiating.pk, 1]),
        {"text": "Chi convoca il Forum?", "anchor": "Art. 3"},
    )
    question = Comment.objects.get()
    officer_client.post(
        reverse("agreements:comment_add", args=[negotiating.pk, 1]),
        {"text": "Il Presidente della Conferenza.", "parent": question.pk},
    )
    answer = Comment.objects.get(parent=question)
    assert answer.author == officer
    response = mayor_client.post(
        reverse("agreements:proposal_submit", args=[negotiating.pk, 1]),
        {
            "docx": upload("proposta.docx", docx_bytes("Art. 1 - Oggetto della convenzione.\n")),
            "note": "Nessuna modifica sostanziale",
        },
        follow=True,
    )
    assert shows(response, "Your proposal was sent")
    proposal = Proposal.objects.get()
    assert proposal.party.organisation.name == "Comune di Bologna"

    page = officer_client.get(round_url(round_)).content.decode()
    assert page.index(f'id="comment-{question.pk}"') < page.index(f'id="comment-{answer.pk}"')
    assert f'data-comment="{answer.pk}" data-depth="1"' in page
    assert "Art. 3" in page
    assert f'data-proposal="{proposal.pk}" data-status="pending"' in page
    assert 'data-decide="accept"' in page
    mayor_page = mayor_client.get(round_url(round_)).content.decode()
    assert 'data-decide="accept"' not in mayor_page
    assert 'id="proposal-form"' in mayor_page
    proposal_pdf = mayor_client.get(
        reverse("agreements:proposal_pdf", args=[negotiating.pk, proposal.pk])
    )
    assert body(proposal_pdf).startswith(b"%PDF-")
    redline = officer_client.get(
        reverse("agreements:proposal_redline", args=[negotiating.pk, proposal.pk])
    )
    assert redline.status_code == 200
    assert 'id="redline"' in redline.content.decode()

    accepted = officer_client.post(
        reverse("agreements:proposal_accept", args=[negotiating.pk, proposal.pk]),
        {"note": "Accolta"},
        follow=True,
    )

    assert shows(accepted, "Proposal accepted: it is now version 2, the current text.")
    proposal.refresh_from_db()
    negotiating.refresh_from_db()
    assert proposal.status == "accepted"
    new_version = negotiating.current_version
    assert new_version.number == 2
    assert new_version.source == AgreementVersion.Source.PROPOSAL
    assert new_version.parent == round_.version
    assert new_version.docx_sha256 == proposal.docx_sha256
    assert proposal.resulting_version == new_version

    closed = officer_client.post(
        reverse("agreements:round_close", args=[negotiating.pk, 1]), follow=True
    )
    assert shows(closed, "Round 1 closed.")
    round_.refresh_from_db()
    assert not round_.is_open
    assert 'id="section-invitations"' in mayor_client.get("/").content.decode()
    assert round_url(round_) not in mayor_client.get("/").content.decode()


def test_people_not_invited_cannot_take_part(
    client_for, officer, reviewer, mayor, rector, negotiating
):
    round_ = open_round(officer, negotiating, mayor)
    rector_client = client_for(rector)

    assert rector_client.get(round_url(round_)).status_code == 404
    comment = rector_client.post(
        reverse("agreements:comment_add", args=[negotiating.pk, 1]), {"text": "Anch'io!"}
    )
    proposal = rector_client.post(
        reverse("agreements:proposal_submit", args=[negotiating.pk, 1]),
        {"docx": upload("p.docx", docx_bytes("Altro testo."))},
    )
    assert (comment.status_code, proposal.status_code) == (404, 404)
    assert round_url(round_) not in rector_client.get("/").content.decode()

    # Office staff may read the round, but only the invited take part: the service says why.
    refused = client_for(reviewer).post(
        reverse("agreements:comment_add", args=[negotiating.pk, 1]),
        {"text": "Osservazione del revisore", "anchor": "Art. 2"},
    )
    assert refused.status_code == 200
    assert shows(refused, "Only people invited to this round can comment on it.")
    assert shows(refused, "Osservazione del revisore")  # the form keeps the text
    assert not Comment.objects.exists()
    assert not Proposal.objects.exists()


def test_a_representative_reads_only_the_versions_of_their_rounds(
    client_for, officer, mayor, rector, negotiating
):
    services.version_create(
        actor=officer, agreement=negotiating, docx=docx_bytes("Bozza interna."), note="Interna"
    )
    open_round(officer, negotiating, mayor, version=negotiating.versions.get(number=1))
    client = client_for(mayor)

    def status(name, *args):
        return client.get(reverse(f"agreements:{name}", args=[negotiating.pk, *args])).status_code

    assert status("version_download", 1) == 200
    assert status("version_pdf", 1) == 200
    assert status("version_detail", 1) == 200
    for name, args in [
        ("version_download", (2,)),
        ("version_pdf", (2,)),
        ("version_detail", (2,)),
        ("version_page", (2, 1)),
    ]:
        assert status(name, *args) == 404, name
    detail = client.get(detail_url(negotiating)).content.decode()
    assert re.findall(r'<tr data-version="(\d+)"', detail) == ["1"]
    compare = client.get(
        reverse("agreements:compare", args=[negotiating.pk]), {"old": 1, "new": 2}, follow=True
    )
    assert shows(compare, "Choose two versions you may read.")
    # Not invited at all: no version.
    assert (
        client_for(rector)
        .get(reverse("agreements:version_download", args=[negotiating.pk, 1]))
        .status_code
        == 404
    )


def test_a_representative_reads_the_approved_text(client_for, reviewer, mayor, in_review):
    mayor_client = client_for(mayor)
    download = reverse("agreements:version_download", args=[in_review.pk, 1])
    assert mayor_client.get(download).status_code == 404

    services.agreement_approve(actor=reviewer, agreement=in_review, expected_state="legal_review")

    assert mayor_client.get(download).status_code == 200
    assert (
        mayor_client.get(reverse("agreements:version_pdf", args=[in_review.pk, 1])).status_code
        == 200
    )


def test_refusals_in_a_round_are_messages(client_for, officer, mayor, negotiating):
    round_ = open_round(officer, negotiating, mayor)
    proposal = negotiation.proposal_submit(
        actor=mayor, negotiation_round=round_, docx=docx_bytes("Proposta."), note="Nostra"
    )
    client = client_for(officer)

    no_reason = client.post(
        reverse("agreements:proposal_reject", args=[negotiating.pk, proposal.pk]), {"note": ""}
    )
    assert no_reason.status_code == 200
    assert shows(no_reason, "Say why the proposal is rejected")
    pending = client.post(reverse("agreements:round_close", args=[negotiating.pk, 1]), follow=True)
    assert shows(pending, "Decide on the 1 pending proposals before closing the round.")
    second = client.post(
        reverse("agreements:round_open", args=[negotiating.pk]),
        {"version": negotiating.current_version.pk, "invitees": [mayor.pk]},
    )
    assert second.status_code == 200
    assert shows(second, "A round is already open: close it before opening another.")
    mayor_decides = client_for(mayor).post(
        reverse("agreements:proposal_accept", args=[negotiating.pk, proposal.pk]), {}
    )
    assert mayor_decides.status_code == 200
    assert shows(mayor_decides, "Only the responsible legal officer of this agreement")

    proposal.refresh_from_db()
    round_.refresh_from_db()
    assert proposal.status == "pending"
    assert round_.is_open
    assert negotiating.rounds.count() == 1
    assert negotiating.versions.count() == 1

    rejected = client.post(
        reverse("agreements:proposal_reject", args=[negotiating.pk, proposal.pk]),
        {"note": "Fuori tempo"},
        follow=True,
    )
    assert shows(rejected, "Proposal rejected.")
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decision_note) == ("rejected", "Fuori tempo")


def test_a_round_cannot_be_opened_outside_negotiation(client_for, officer, mayor, ready_agreement):
    response = client_for(officer).post(
        reverse("agreements:round_open", args=[ready_agreement.pk]),
        {"version": ready_agreement.current_version.pk, "invitees": [mayor.pk], "note": "Presto"},
    )

    assert response.status_code == 200
    assert shows(response, "negotiation rounds run only while it is in negotiation")
    assert not ready_agreement.rounds.exists()


def test_the_round_page_costs_the_same_queries_however_long_the_thread(
    client_for, officer, mayor, rector, negotiating, django_assert_max_num_queries
):
    round_ = open_round(officer, negotiating, mayor, rector)
    negotiation.proposal_submit(
        actor=mayor, negotiation_round=round_, docx=docx_bytes("Proposta."), note="Nostra"
    )
    first = negotiation.comment_add(actor=mayor, negotiation_round=round_, text="Prima")
    client = client_for(officer)
    with CaptureQueriesContext(connection) as few:
        client.get(round_url(round_))
    for number in range(6):
        negotiation.comment_add(
            actor=rector if number % 2 else officer,
            negotiation_round=round_,
            text=f"Risposta {number}",
            parent=first,
        )

    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(round_url(round_))

    assert page.content.decode().count('class="stipula-comment"') == 7


def test_only_the_responsible_officer_opens_the_drafting_page(
    client_for, reviewer, ready_agreement, protocollo
):
    response = client_for(reviewer).get(
        reverse("agreements:draft", args=[ready_agreement.pk]),
        {"template_version": protocollo.pk},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == detail_url(ready_agreement)
    assert shows(response, "Only the responsible legal officer drafts the text")
    assert 'id="template-choice-form"' not in response.content.decode()
