"""The agreements API from a client's side: organisations, templates, agreements, versions,
negotiation and the timeline, each through the same services as the web pages.

Conversions to PDF are real (LibreOffice, the warm converter of tests/conftest.py).
"""

import hashlib
import io

import pytest
from pypdf import PdfReader

from agreements.models import Agreement, Organisation
from audit.models import AuditAction
from templates_docx.shipped import example_data
from tests.api.conftest import body
from tests.api.test_core import error_of
from tests.factories import (
    add_party_with_signatory,
    events_for,
    make_agreement,
    make_organisation,
    make_user,
    sample_docx,
)

pytestmark = pytest.mark.django_db

AGREEMENTS = "/api/v1/agreements/"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def upload(data: bytes, name="testo.docx"):
    return io.BytesIO(data), name


def docx_file(data: bytes, name="testo.docx"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=DOCX_TYPE)


def pdf_text(data: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


# Me, organisations, templates --------------------------------------------------------------


def test_me_lists_the_organisations_a_representative_acts_for(api_for):
    mayor = make_user("mayor", "signatory", first_name="Mario", last_name="Rossi")
    comune = make_organisation("Comune di Viareggio", members=[mayor])
    me = api_for(mayor).get("/api/v1/me/").json()
    assert me["roles"] == [{"code": "signatory", "label": "Signatory"}]
    assert me["organisations"] == [
        {
            "organisation": {"id": comune.pk, "name": "Comune di Viareggio", "kind": "public_body"},
            "title": "",
        }
    ]
    assert me["can_create_agreements"] is False


def test_organisations_filter_and_only_administrators_create(api_for, officer, administrator):
    make_organisation("Comune di Viareggio")
    make_organisation("Confcommercio Versilia", kind=Organisation.Kind.PRIVATE_ENTITY)
    client = api_for(officer)
    names = [o["name"] for o in client.get("/api/v1/organisations/").json()["results"]]
    assert names == ["Comune di Viareggio", "Confcommercio Versilia"]
    private = client.get("/api/v1/organisations/?kind=private_entity").json()["results"]
    assert [o["name"] for o in private] == ["Confcommercio Versilia"]
    assert client.get("/api/v1/organisations/?name=viareg").json()["count"] == 1

    new = {"name": "Provincia di Lucca", "kind": "public_body", "fiscal_code": "80001210469"}
    refused = client.post("/api/v1/organisations/", new, format="json")
    assert refused.status_code == 403
    assert error_of(refused)["message"] == "Only an administrator can manage organisations."
    assert not Organisation.objects.filter(name="Provincia di Lucca").exists()

    created = api_for(administrator).post("/api/v1/organisations/", new, format="json")
    assert created.status_code == 201
    assert created.json()["kind_display"] == "Public body"
    assert Organisation.objects.get(name="Provincia di Lucca").fiscal_code == "80001210469"

    # The model's own rule (a fiscal code or a VAT number) comes back as a 400.
    nameless = {"name": "Senza codici", "kind": "public_body"}
    response = api_for(administrator).post("/api/v1/organisations/", nameless, format="json")
    assert response.status_code == 400
    assert "fiscal code or the VAT number" in error_of(response)["message"]

    # A representative sees only the organisations they act for.
    mayor = make_user("mayor", "signatory")
    make_organisation("Comune di Camaiore", members=[mayor])
    mine = api_for(mayor).get("/api/v1/organisations/").json()["results"]
    assert [o["name"] for o in mine] == ["Comune di Camaiore"]


def test_the_template_library_for_legal_officers(api_for, officer, protocollo):
    client = api_for(officer)
    listing = client.get("/api/v1/templates/").json()
    assert listing["count"] == 1
    template = listing["results"][0]
    assert template["name"] == "Protocollo d'intesa"
    assert template["latest_version"]["id"] == protocollo.pk
    asked = {v["name"]: v["kind"] for v in template["latest_version"]["user_variables"]}
    assert asked["clausola_recesso"] == "boolean" and asked["finalita"] == "list"
    assert "parties" in template["latest_version"]["computed_variables"]
    assert client.get("/api/v1/templates/?kind=convenzione").json()["count"] == 0
    detail = client.get(f"/api/v1/templates/{template['id']}/").json()
    assert [v["number"] for v in detail["versions"]] == [1]
    assert detail["versions"][0]["sha256"] == protocollo.sha256

    mayor = make_user("mayor", "signatory")
    refused = api_for(mayor).get("/api/v1/templates/")
    assert refused.status_code == 403
    assert "legal officers and administrators" in error_of(refused)["message"]


# Agreements --------------------------------------------------------------------------------


def test_list_filters_and_ordering(api_for, officer):
    library = make_agreement(officer, subject="Convenzione per la biblioteca")
    make_agreement(officer, subject="Protocollo sul turismo", kind=Agreement.Kind.PROTOCOLLO_INTESA)
    party = add_party_with_signatory(library, officer, name="Comune di Massarosa")
    services_version(officer, library)
    client = api_for(officer)
    client.post(
        f"{AGREEMENTS}{library.pk}/transitions/open_negotiation/",
        {"expected_state": "draft"},
        format="json",
    )

    def subjects(query):
        response = client.get(f"{AGREEMENTS}?{query}")
        assert response.status_code == 200, response.content
        return [a["subject"] for a in response.json()["results"]]

    assert subjects("state=negotiation") == ["Convenzione per la biblioteca"]
    assert subjects("kind=protocollo_intesa") == ["Protocollo sul turismo"]
    assert subjects(f"party={party.organisation_id}") == ["Convenzione per la biblioteca"]
    assert subjects("q=TURISMO") == ["Protocollo sul turismo"]
    assert subjects("ordering=subject") == [
        "Convenzione per la biblioteca",
        "Protocollo sul turismo",
    ]
    row = client.get(f"{AGREEMENTS}?state=negotiation").json()["results"][0]
    assert row["state_display"] == "Negotiation"
    assert row["parties"] == [
        {
            "id": party.pk,
            "position": 1,
            "organisation": {
                "id": party.organisation_id,
                "name": "Comune di Massarosa",
                "kind": "public_body",
            },
        }
    ]
    assert row["url"] == f"{AGREEMENTS}{library.pk}/"


def services_version(officer, agreement, text="Testo della convenzione."):
    from agreements import services

    return services.version_create(actor=officer, agreement=agreement, docx=sample_docx(text))


def test_the_list_reads_a_fixed_number_of_queries(api_for, officer, django_assert_max_num_queries):
    for n in range(4):
        agreement = make_agreement(officer, subject=f"Convenzione {n}")
        add_party_with_signatory(agreement, officer)
        add_party_with_signatory(agreement, officer)
    client = api_for(officer)
    with django_assert_max_num_queries(12):
        assert client.get(AGREEMENTS).json()["count"] == 4


def test_create_and_detail(api_for, officer):
    client = api_for(officer)
    response = client.post(
        AGREEMENTS,
        {
            "subject": "Convenzione per il servizio bibliotecario",
            "kind": "convenzione",
            "valid_from": "2027-01-01",
            "valid_until": "2029-12-31",
        },
        format="json",
    )
    assert response.status_code == 201
    created = response.json()
    agreement = Agreement.objects.get(pk=created["id"])
    assert agreement.legal_officer == officer and agreement.state == "draft"
    assert created["legal_officer"]["username"] == "officer"
    assert created["valid_until"] == "2029-12-31"
    assert created["current_version"] is None and created["approved_version"] is None
    assert [a["name"] for a in created["actions"]] == [
        "open_negotiation",
        "submit_for_review",
        "withdraw",
    ]
    submit = created["actions"][1]
    assert submit["enabled"] is False
    assert "Add at least two parties" in submit["blockers"][0]
    assert submit["url"] == f"{AGREEMENTS}{agreement.pk}/transitions/submit_for_review/"
    assert [e.action for e in events_for(agreement)][0] == AuditAction.AGREEMENT_CREATED

    refused = api_for(make_user("mayor", "signatory")).post(
        AGREEMENTS, {"subject": "X", "kind": "convenzione"}, format="json"
    )
    assert refused.status_code == 403
    assert error_of(refused)["message"] == "Only a legal officer can create an agreement."


def test_parties_and_signatories(api_for, officer):
    agreement = make_agreement(officer)
    mayor = make_user("mayor", "signatory", first_name="Mario", last_name="Rossi")
    outsider = make_user("outsider", "signatory")
    comune = make_organisation("Comune di Viareggio", members=[mayor])
    client = api_for(officer)
    base = f"{AGREEMENTS}{agreement.pk}/"

    party = client.post(
        f"{base}parties/", {"organisation": comune.pk, "role_description": "Capofila"}
    )
    assert party.status_code == 201, party.content
    party = party.json()
    assert party["position"] == 1 and party["role_description"] == "Capofila"
    again = client.post(f"{base}parties/", {"organisation": comune.pk}, format="json")
    assert again.status_code == 400
    assert "already a party" in error_of(again)["message"]

    new_signatory = {
        "party": party["id"],
        "user": mayor.pk,
        "title": "Sindaco",
        "authorising_act": "Delibera G.C. n. 12/2026",
    }
    signatory = client.post(f"{base}signatories/", new_signatory, format="json")
    assert signatory.status_code == 201, signatory.content
    assert signatory.json()["full_name"] == "Mario Rossi"
    not_a_member = client.post(
        f"{base}signatories/", {**new_signatory, "user": outsider.pk}, format="json"
    )
    assert not_a_member.status_code == 400
    assert "does not act for Comune di Viareggio" in error_of(not_a_member)["message"]
    other = make_agreement(officer)
    other_party = add_party_with_signatory(other, officer)
    wrong_party = client.post(
        f"{base}signatories/", {**new_signatory, "party": other_party.pk}, format="json"
    )
    assert wrong_party.status_code == 400
    assert "party" in error_of(wrong_party)["fields"]

    detail = client.get(base).json()
    assert detail["parties"][0]["organisation"]["name"] == "Comune di Viareggio"
    assert [s["user"]["username"] for s in detail["parties"][0]["signatories"]] == ["mayor"]
    actions = [e.action for e in events_for(agreement)]
    assert actions.count(AuditAction.PARTY_ADDED) == 1
    assert actions.count(AuditAction.SIGNATORY_ADDED) == 1
    assert actions.count(AuditAction.ACTION_REFUSED) == 2


def test_versions_upload_files_and_compare(api_for, officer, ready_agreement):
    client = api_for(officer)
    base = f"{AGREEMENTS}{ready_agreement.pk}/"
    response = client.post(
        f"{base}versions/",
        {"docx": docx_file(sample_docx("Testo riveduto della convenzione.")), "note": "v2"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    v2 = response.json()
    assert v2["number"] == 2 and v2["parent"] == 1 and v2["is_current"] is True
    assert v2["source"] == "upload" and v2["note"] == "v2"

    listing = client.get(f"{base}versions/").json()
    assert [v["number"] for v in listing["results"]] == [2, 1]
    meta = client.get(f"{base}versions/2/").json()
    docx = client.get(f"{base}versions/2/docx/")
    assert docx.status_code == 200 and docx["Content-Type"] == DOCX_TYPE
    assert hashlib.sha256(body(docx)).hexdigest() == meta["docx_sha256"]
    pdf = client.get(f"{base}versions/2/pdf/", HTTP_ACCEPT="application/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    data = body(pdf)
    assert hashlib.sha256(data).hexdigest() == meta["pdf_sha256"]
    assert "Testo riveduto" in pdf_text(data)

    redline = client.get(f"{base}compare/?old=1&new=2").json()
    assert redline["has_changes"] is True
    assert "riveduto" in redline["html"]
    assert redline["summary"]["words_inserted"] >= 1
    tracked = client.get(redline["docx_url"])
    assert tracked.status_code == 200 and tracked["Content-Type"] == DOCX_TYPE
    same = client.get(f"{base}compare/?old=2&new=2")
    assert same.status_code == 400
    assert "two different versions" in error_of(same)["message"]
    missing = client.get(f"{base}compare/?old=1&new=9")
    assert missing.status_code == 404

    not_docx = client.post(
        f"{base}versions/", {"docx": docx_file(b"%PDF-1.7 not a docx", "x.docx")}
    )
    assert not_docx.status_code in (400, 422)
    error_of(not_docx)
    assert client.get(f"{base}versions/").json()["count"] == 2


# The journey ------------------------------------------------------------------------------


def test_drafting_and_negotiation_through_the_api_reach_legal_review(api_for, officer, protocollo):
    """A legal officer drafts from a template, negotiates one round with two parties (a comment,
    a reply, a proposal accepted and one rejected) and submits for legal review: everything
    through the API, as another system would."""
    mayor = make_user("mayor", "signatory", first_name="Mario", last_name="Rossi")
    director = make_user("director", "signatory", first_name="Anna", last_name="Neri")
    comune = make_organisation("Comune di Viareggio", members=[mayor])
    usl = make_organisation("Azienda USL 12 di Viareggio", members=[director])
    officer_api, mayor_api, director_api = api_for(officer), api_for(mayor), api_for(director)

    created = officer_api.post(
        AGREEMENTS,
        {"subject": "Protocollo per l'inclusione sociale", "kind": "protocollo_intesa"},
        format="json",
    ).json()
    base = created["url"]
    for organisation, person, title in ((comune, mayor, "Sindaco"), (usl, director, "DG")):
        party = officer_api.post(
            f"{base}parties/", {"organisation": organisation.pk}, format="json"
        ).json()
        response = officer_api.post(
            f"{base}signatories/",
            {
                "party": party["id"],
                "user": person.pk,
                "title": title,
                "authorising_act": "Delibera n. 1/2026",
            },
            format="json",
        )
        assert response.status_code == 201

    # Drafting from the template; what is left out is empty, as in the web form.
    data = example_data("protocollo_intesa")
    data.pop("clausola_privacy")
    drafted = officer_api.post(
        f"{base}versions/from-template/",
        {"template_version": protocollo.pk, "data": data, "note": "Prima stesura"},
        format="json",
    )
    assert drafted.status_code == 201, drafted.content
    v1 = drafted.json()
    assert v1["source"] == "template" and v1["data"]["clausola_privacy"] is False
    assert v1["template"]["name"] == "Protocollo d'intesa"
    typo = officer_api.post(
        f"{base}versions/from-template/",
        {"template_version": protocollo.pk, "data": {"clausola_recess": True}},
        format="json",
    )
    assert typo.status_code == 400
    assert "clausola_recess" in error_of(typo)["fields"]["data"][0]

    # The representatives may not read the draft before they are invited to a round.
    assert mayor_api.get(f"{base}versions/").json()["count"] == 0
    assert mayor_api.get(f"{base}versions/1/pdf/").status_code == 404

    moved = officer_api.post(
        f"{base}transitions/open_negotiation/", {"expected_state": "draft"}, format="json"
    )
    assert moved.status_code == 200
    assert moved.json()["state"] == "negotiation"
    opened = officer_api.post(f"{base}rounds/", {"note": "Prima lettura"}, format="json")
    assert opened.status_code == 201, opened.content
    round_ = opened.json()
    assert round_["number"] == 1 and round_["version"] == 1 and round_["is_open"] is True
    assert {i["user"]["username"] for i in round_["invitations"]} == {"mayor", "director"}
    round_url = round_["url"]
    # The representative finds the invitation among their own.
    invitations = mayor_api.get("/api/v1/me/invitations/").json()
    assert invitations["count"] == 1
    assert invitations["results"][0]["url"] == round_url
    assert invitations["results"][0]["agreement_subject"] == created["subject"]
    assert officer_api.get("/api/v1/me/invitations/").json()["count"] == 0

    question = mayor_api.post(
        f"{round_url}comments/",
        {"text": "Chi convoca il Forum?", "anchor": "Art. 3"},
        format="json",
    )
    assert question.status_code == 201, question.content
    answer = officer_api.post(
        f"{round_url}comments/",
        {"text": "Il Presidente.", "parent": question.json()["id"]},
        format="json",
    )
    assert answer.status_code == 201
    stray = officer_api.post(f"{round_url}comments/", {"text": "?", "parent": 10**9})
    assert stray.status_code == 400

    proposed = mayor_api.post(
        f"{round_url}proposals/",
        {"docx": docx_file(sample_docx("Il Forum è convocato dal Presidente.")), "note": "Forum"},
        format="multipart",
    )
    assert proposed.status_code == 201, proposed.content
    kept = proposed.json()
    assert kept["party"]["organisation"]["name"] == "Comune di Viareggio"
    assert kept["status"] == "pending"
    dropped = director_api.post(
        f"{round_url}proposals/",
        {"docx": docx_file(sample_docx("Senza impegni.")), "note": "Via gli impegni"},
        format="multipart",
    ).json()
    proposal_pdf = mayor_api.get(kept["pdf_url"])
    assert proposal_pdf.status_code == 200
    assert hashlib.sha256(body(proposal_pdf)).hexdigest() == kept["pdf_sha256"]

    # Only the legal officer decides; a rejection needs a reason.
    assert mayor_api.post(f"{kept['url']}accept/", {}, format="json").status_code == 403
    reasonless = officer_api.post(f"{dropped['url']}reject/", {}, format="json")
    assert reasonless.status_code == 400
    assert "Say why" in error_of(reasonless)["message"]
    accepted = officer_api.post(f"{kept['url']}accept/", {"note": "Condivisa"}, format="json")
    assert accepted.status_code == 200, accepted.content
    v2 = accepted.json()
    assert v2["number"] == 2 and v2["source"] == "proposal" and v2["parent"] == 1
    assert v2["docx_sha256"] == kept["docx_sha256"] and v2["is_current"] is True
    rejected = officer_api.post(
        f"{dropped['url']}reject/", {"note": "Snatura il protocollo"}, format="json"
    )
    assert rejected.json()["status"] == "rejected"
    twice = officer_api.post(f"{kept['url']}accept/", {}, format="json")
    assert twice.status_code == 409

    thread = mayor_api.get(round_url).json()
    assert [(c["text"], c["depth"]) for c in thread["comments"]] == [
        ("Chi convoca il Forum?", 0),
        ("Il Presidente.", 1),
    ]
    assert [p["status"] for p in thread["proposals"]] == ["accepted", "rejected"]

    early = officer_api.post(
        f"{base}transitions/submit_for_review/", {"expected_state": "negotiation"}, format="json"
    )
    assert early.status_code == 409
    assert "Close the open negotiation round first" in error_of(early)["message"]
    closed = officer_api.post(f"{round_url}close/")
    assert closed.status_code == 200 and closed.json()["is_open"] is False

    submitted = officer_api.post(
        f"{base}transitions/submit_for_review/", {"expected_state": "negotiation"}, format="json"
    )
    assert submitted.status_code == 200, submitted.content
    detail = submitted.json()
    assert detail["state"] == "legal_review"
    assert detail["state_display"] == "Legal review"
    assert detail["current_version"]["number"] == 2
    assert officer_api.get(base).json()["actions"] == [
        {
            "name": "withdraw",
            "label": "Withdraw",
            "enabled": True,
            "blockers": [],
            "needs_reason": True,
            "method": "POST",
            "url": f"{base}transitions/withdraw/",
        }
    ]
    agreement = Agreement.objects.get(pk=created["id"])
    assert agreement.state == "legal_review"

    # The timeline is the agreement's audit trail, as the detail page shows it.
    timeline = officer_api.get(f"{base}timeline/?page_size=200").json()
    actions = [e["action"] for e in timeline["results"]]
    expected = [e.action for e in events_for(agreement)]
    assert actions == expected and timeline["count"] == len(expected)
    business = [
        a for a in actions if not a.startswith("workflow.") and a != AuditAction.ACTION_REFUSED
    ]
    assert business == [
        AuditAction.AGREEMENT_CREATED,
        AuditAction.PARTY_ADDED,
        AuditAction.SIGNATORY_ADDED,
        AuditAction.PARTY_ADDED,
        AuditAction.SIGNATORY_ADDED,
        AuditAction.VERSION_RENDERED,
        AuditAction.NEGOTIATION_OPENED,
        AuditAction.ROUND_OPENED,
        AuditAction.COMMENT_ADDED,
        AuditAction.COMMENT_ADDED,
        AuditAction.PROPOSAL_SUBMITTED,
        AuditAction.PROPOSAL_SUBMITTED,
        AuditAction.PROPOSAL_ACCEPTED,
        AuditAction.PROPOSAL_REJECTED,
        AuditAction.ROUND_CLOSED,
        AuditAction.SUBMITTED_FOR_REVIEW,
    ]
    refusals = [e for e in timeline["results"] if e["action"] == AuditAction.ACTION_REFUSED]
    assert len(refusals) == 4  # the typo is refused before any service; these four are not
    assert {e["actor"] for e in refusals} == {"officer", "mayor"}
    assert any("Close the open negotiation round first" in e["detail"] for e in refusals)
    by_mayor = next(e for e in timeline["results"] if e["action"] == AuditAction.COMMENT_ADDED)
    assert by_mayor["actor"] == "mayor"
    assert by_mayor["role_label"] == "Party representative"
    accepted_event = next(
        e for e in timeline["results"] if e["action"] == AuditAction.PROPOSAL_ACCEPTED
    )
    assert {"name": "v2.docx", "sha256": v2["docx_sha256"]} in accepted_event["documents"]
    assert accepted_event["reason"] == "Condivisa"
    assert len(accepted_event["hash"]) == 64

    # Now the text is under review: nothing can change it.
    frozen = officer_api.post(
        f"{base}versions/", {"docx": docx_file(sample_docx("Altro."))}, format="multipart"
    )
    assert frozen.status_code == 409
    assert "Legal review" in error_of(frozen)["message"]
