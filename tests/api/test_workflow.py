"""The workflow endpoints: the legal review with its checklist, four-eyes, the inbox and claiming
a task, reviewers, the signing order, a signatory's delegation and decline, resuming signing,
the process and its diagram, the e-mail language. Agreements are built through the services
(tests/workflow/conftest.py); every action under test goes through the API."""

import pytest

from agreements import services as agreement_services
from agreements.models import AgreementState
from audit.models import AuditAction
from tests.factories import events_for, make_user
from tests.workflow.conftest import all_compliant, approve, build_agreement
from workflow.models import UserPreferences

pytestmark = pytest.mark.django_db

S = AgreementState


@pytest.fixture
def reviewers(db):
    return [
        make_user("rev.verdi", "reviewer", first_name="Rita", last_name="Verdi"),
        make_user("rev.neri", "reviewer", first_name="Nadia", last_name="Neri"),
    ]


def outcomes_body(agreement, **changed):
    """The checklist answered «compliant», except the items in ``changed`` (code -> (outcome,
    note)), as the API takes it."""
    body = []
    for code, answer in all_compliant(agreement).items():
        outcome, note = changed.get(code, (answer["outcome"], ""))
        body.append({"code": code, "outcome": outcome, "note": note})
    return body


def state_of(agreement):
    agreement.refresh_from_db()
    return agreement.state


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "fields"}
    assert body["error"]["code"] == code
    return body["error"]


def in_review(officer, reviewers, *, parties=2):
    agreement, signatories = build_agreement(officer, parties=parties, reviewers=reviewers)
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    return agreement, signatories


# Legal review -----------------------------------------------------------------------------------


def test_a_reviewer_approves_through_the_api(api_for, officer, reviewers):
    reviewer = reviewers[0]
    agreement, _signatories = in_review(officer, [reviewer])
    api = api_for(reviewer)

    checklist = api.get(f"/api/v1/agreements/{agreement.pk}/review/checklist/").json()
    codes = [item["code"] for item in checklist["items"]]
    assert codes == [
        "competence:1",
        "competence:2",
        "legal_basis",
        "financial_coverage",
        "data_protection",
        "duration_withdrawal",
    ]
    assert checklist["items"][0]["label"].startswith("Competence of Comune di Forlì")
    assert checklist["decisions"] == ["approve", "request_changes"]

    response = api.post(
        f"/api/v1/agreements/{agreement.pk}/review/",
        {"decision": "approve", "outcomes": outcomes_body(agreement)},
        format="json",
    )
    assert response.status_code == 201, response.content
    report = response.json()
    assert report["decision"] == "approve"
    assert report["agreement_state"] == "signature"
    assert report["reviewer"] == reviewer.username and report["round"] == 1
    assert [item["outcome"] for item in report["items"]] == ["compliant"] * 6
    assert state_of(agreement) == S.SIGNATURE
    [approved] = events_for(agreement, AuditAction.APPROVED)
    assert approved.actor_username == reviewer.username

    process = api.get(f"/api/v1/agreements/{agreement.pk}/process/").json()
    assert process["started"] and process["agreement_state"] == "signature"
    assert process["current"] == ["sign"]
    assert sorted(t["owner"] for t in process["open_tasks"]) == [
        "Anna Firmatario 1",
        "Anna Firmatario 2",
    ]
    reviews = [t for t in process["history"] if t["kind"] == "review"]
    assert [(t["owner"], t["status"]) for t in reviews] == [("Rita Verdi", "DONE")]


def test_requesting_changes_sends_it_back_with_the_reason_in_the_audit_trail(
    api_for, officer, reviewers
):
    reviewer = reviewers[0]
    agreement, _signatories = in_review(officer, [reviewer])
    api = api_for(reviewer)
    url = f"/api/v1/agreements/{agreement.pk}/review/"
    outcomes = outcomes_body(
        agreement, data_protection=("not_compliant", "Manca il titolare del trattamento.")
    )

    # Without a reason: refused, nothing changes.
    error = assert_error(
        api.post(url, {"decision": "request_changes", "outcomes": outcomes}, format="json"),
        400,
        "validation_failed",
    )
    assert error["message"] == (
        "Give the reasons for the changes you request: they go to the legal officer."
    )
    # Approving with an item not compliant: refused too.
    error = assert_error(
        api.post(url, {"decision": "approve", "outcomes": outcomes}, format="json"),
        400,
        "validation_failed",
    )
    assert "Data protection clause" in error["message"]
    assert state_of(agreement) == S.LEGAL_REVIEW

    reason = "Integrare la clausola sul trattamento dei dati."
    response = api.post(
        url, {"decision": "request_changes", "reason": reason, "outcomes": outcomes}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["agreement_state"] == "negotiation"
    assert state_of(agreement) == S.NEGOTIATION
    [changes] = events_for(agreement, AuditAction.CHANGES_REQUESTED)
    assert changes.reason == reason
    assert changes.actor_username == reviewer.username
    assert changes.payload_data["findings"] == [
        {"item": "Data protection clause", "note": "Manca il titolare del trattamento."}
    ]
    process = api_for(officer).get(f"/api/v1/agreements/{agreement.pk}/process/").json()
    assert process["current"] == ["negotiation"]
    assert [t["owner"] for t in process["open_tasks"]] == ["Laura Bianchi"]


def test_a_review_body_is_checked_field_by_field(api_for, officer, reviewers):
    agreement, _signatories = in_review(officer, reviewers[:1])
    response = api_for(reviewers[0]).post(
        f"/api/v1/agreements/{agreement.pk}/review/",
        {"decision": "maybe", "outcomes": [{"code": "legal_basis", "outcome": "fine"}]},
        format="json",
    )
    error = assert_error(response, 400, "validation_failed")
    assert set(error["fields"]) == {"decision", "outcomes.0.outcome"}
    assert state_of(agreement) == S.LEGAL_REVIEW


def test_the_drafter_may_not_review_four_eyes(api_for, officer, reviewers):
    officer.groups.add(reviewers[0].groups.get())
    agreement, _signatories = in_review(officer, reviewers[:1])

    response = api_for(officer).post(
        f"/api/v1/agreements/{agreement.pk}/review/",
        {"decision": "approve", "outcomes": outcomes_body(agreement)},
        format="json",
    )
    error = assert_error(response, 403, "permission_denied")
    assert "four-eyes" in error["message"]
    assert error["details"]["state"] == "legal_review"
    assert state_of(agreement) == S.LEGAL_REVIEW
    [refusal] = events_for(agreement, AuditAction.ACTION_REFUSED)
    assert refusal.payload_data["attempted"] == "workflow.review_submit"
    assert refusal.actor_username == "officer"

    # Nor be named a reviewer of it.
    response = api_for(officer).post(
        f"/api/v1/agreements/{agreement.pk}/reviewers/", {"user": officer.pk}, format="json"
    )
    assert_error(response, 409, "transition_not_allowed")  # in review: too late anyway


def test_a_review_of_an_agreement_not_in_review_is_a_conflict(api_for, officer, reviewers):
    agreement, _signatories = build_agreement(officer, parties=2, reviewers=reviewers[:1])
    response = api_for(reviewers[0]).post(
        f"/api/v1/agreements/{agreement.pk}/review/",
        {"decision": "approve", "outcomes": outcomes_body(agreement)},
        format="json",
    )
    error = assert_error(response, 409, "transition_not_allowed")
    assert "not under legal review" in error["message"]


# Reviewers --------------------------------------------------------------------------------------


def test_the_officer_names_and_removes_reviewers(api_for, officer, reviewers):
    first, second = reviewers
    officer.groups.add(first.groups.get())
    agreement, _signatories = build_agreement(officer, parties=2, reviewers=[first])
    api = api_for(officer)
    url = f"/api/v1/agreements/{agreement.pk}/reviewers/"

    response = api.post(url, {"user": second.pk}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "Nadia Neri"
    assert [r["username"] for r in api.get(url).json()] == ["rev.verdi", "rev.neri"]

    error = assert_error(
        api.post(url, {"user": officer.pk}, format="json"), 400, "validation_failed"
    )
    assert "four-eyes" in error["message"]
    assert_error(api.post(url, {"user": 999999}, format="json"), 400, "validation_failed")
    # Someone else may see the reviewers but not choose them.
    assert_error(
        api_for(first).post(url, {"user": second.pk}, format="json"), 403, "permission_denied"
    )

    assert api.delete(f"{url}{first.pk}/").status_code == 204
    assert [r["username"] for r in api_for(first).get(url).json()] == ["rev.neri"]
    assert_error(api.delete(f"{url}{first.pk}/"), 400, "validation_failed")
    refused = [
        e.payload_data["attempted"] for e in events_for(agreement, AuditAction.ACTION_REFUSED)
    ]
    assert refused == [
        "workflow.reviewer_name",
        "workflow.reviewer_name",
        "workflow.reviewer_remove",
    ]


# Inbox and claim --------------------------------------------------------------------------------


def test_the_inbox_shows_each_task_to_its_owner_only(api_for, officer, reviewers):
    named, other = reviewers
    agreement, signatories = in_review(officer, [named])

    [task] = api_for(named).get("/api/v1/tasks/").json()["results"]
    assert task["agreement"] == agreement.pk
    assert task["agreement_subject"] == "Patto per l'Inclusione Sociale"
    assert task["kind"] == "review" and task["status"] == "ASSIGNED"
    assert task["overdue"] is False and task["claimable"] is False
    assert task["due_at"] is not None

    assert api_for(other).get("/api/v1/tasks/").json()["results"] == []
    assert api_for(signatories[0].user).get("/api/v1/tasks/").json()["results"] == []
    assert api_for(officer).get("/api/v1/tasks/").json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }
    # Filters.
    assert api_for(named).get("/api/v1/tasks/?kind=sign").json()["count"] == 0
    assert api_for(named).get("/api/v1/tasks/?overdue=true").json()["count"] == 0
    assert api_for(named).get(f"/api/v1/tasks/?agreement={agreement.pk}").json()["count"] == 1
    assert_error(api_for(named).get("/api/v1/tasks/?kind=nap"), 400, "validation_failed")
    assert_error(api_for(None).get("/api/v1/tasks/"), 401, "not_authenticated")


def test_a_review_nobody_holds_is_claimed_once(api_for, officer, reviewers):
    first, second = reviewers
    officer.groups.add(first.groups.get())
    agreement, _signatories = in_review(officer, [])

    [task] = api_for(first).get("/api/v1/tasks/?claimable=true").json()["results"]
    assert task["kind"] == "review" and task["claimable"] is True and task["status"] == "NEW"
    # The officer is a reviewer too, but drafted it: the task is not offered, nor may they take it.
    assert api_for(officer).get("/api/v1/tasks/").json()["count"] == 0
    assert_error(
        api_for(officer).post(f"/api/v1/tasks/{task['id']}/claim/"), 403, "permission_denied"
    )

    response = api_for(first).post(f"/api/v1/tasks/{task['id']}/claim/")
    assert response.status_code == 200, response.content
    assert response.json()["claimable"] is False and response.json()["status"] == "ASSIGNED"
    assert api_for(first).get("/api/v1/tasks/?claimable=false").json()["count"] == 1
    error = assert_error(
        api_for(second).post(f"/api/v1/tasks/{task['id']}/claim/"), 409, "concurrent_change"
    )
    assert error["message"].startswith("This task was taken by Rita Verdi")
    assert api_for(second).get("/api/v1/tasks/").json()["count"] == 0
    [claimed] = events_for(agreement, AuditAction.TASK_ASSIGNED)
    assert claimed.actor_username == first.username
    assert_error(api_for(first).post("/api/v1/tasks/999999/claim/"), 404, "not_found")


# Signing order, decline, resume, delegation -----------------------------------------------------


def test_the_officer_sets_the_signing_order(api_for, officer, reviewers):
    agreement, signatories = build_agreement(officer, parties=3, reviewers=reviewers[:1])
    first, second, third = (s.party_id for s in signatories)
    api = api_for(officer)
    url = f"/api/v1/agreements/{agreement.pk}/signing-order/"
    assert api.get(url).json()["order"] == "parallel"

    response = api.put(url, {"order": "staged", "stages": [[third], [first]]}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["order"] == "staged" and body["stages"] == [[third], [first]]
    assert [[s["signatory"] for s in stage] for stage in body["plan"]["stages"]] == [
        ["Anna Firmatario 3"],
        ["Anna Firmatario 1"],
        ["Anna Firmatario 2"],
    ]
    [event] = events_for(agreement, AuditAction.SIGNING_ORDER_SET)
    assert event.actor_username == "officer"

    error = assert_error(
        api.put(url, {"order": "staged", "stages": [[first], [first]]}, format="json"),
        400,
        "validation_failed",
    )
    assert error["message"] == "Each party may appear in one stage only."
    assert_error(api.put(url, {"order": "random"}, format="json"), 400, "validation_failed")
    assert_error(
        api_for(signatories[0].user).put(url, {"order": "sequential"}, format="json"),
        403,
        "permission_denied",
    )
    assert api_for(signatories[0].user).get(url).json()["order"] == "staged"

    approve(agreement, officer, reviewers[0])
    error = assert_error(
        api.put(url, {"order": "parallel"}, format="json"), 409, "transition_not_allowed"
    )
    assert "before the signatures start" in error["message"]
    process = api.get(f"/api/v1/agreements/{agreement.pk}/process/").json()
    assert [t["owner"] for t in process["open_tasks"]] == ["Anna Firmatario 3"]


def test_a_signatory_declines_and_the_officer_resumes(api_for, officer, reviewers):
    agreement, signatories = build_agreement(officer, parties=3, reviewers=reviewers[:1])
    approve(agreement, officer, reviewers[0])
    first, second, third = signatories
    decline_url = f"/api/v1/agreements/{agreement.pk}/signatories/{second.pk}/decline/"

    assert_error(
        api_for(first.user).post(decline_url, {"reason": "No"}, format="json"),
        403,
        "permission_denied",
    )
    assert_error(
        api_for(second.user).post(decline_url, {"reason": " "}, format="json"),
        400,
        "validation_failed",
    )
    reason = "Il Consiglio non ha ancora deliberato l'adesione."
    response = api_for(second.user).post(decline_url, {"reason": reason}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["reason"] == reason and response.json()["signatory"] == second.pk
    [event] = events_for(agreement, AuditAction.SIGNING_DECLINED)
    assert event.reason == reason

    process = api_for(officer).get(f"/api/v1/agreements/{agreement.pk}/process/").json()
    assert process["current"] == ["decline_decision"]
    assert process["declined"] == {
        "name": "Anna Firmatario 2",
        "party": f"Comune di Forlimpopoli ({agreement.pk})",
        "reason": reason,
    }
    [decision] = api_for(officer).get("/api/v1/tasks/").json()["results"]
    assert decision["kind"] == "decline_decision"

    resume_url = f"/api/v1/agreements/{agreement.pk}/process/resume/"
    assert_error(api_for(third.user).post(resume_url, {}, format="json"), 403, "permission_denied")
    response = api_for(officer).post(resume_url, {"note": "Delibera adottata"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["current"] == ["sign"] and response.json()["declined"] is None
    assert sorted(t["owner"] for t in response.json()["open_tasks"]) == [
        "Anna Firmatario 1",
        "Anna Firmatario 2",
        "Anna Firmatario 3",
    ]
    assert events_for(agreement, AuditAction.SIGNING_RESUMED)[0].reason == "Delibera adottata"
    error = assert_error(
        api_for(officer).post(resume_url, {}, format="json"), 409, "transition_not_allowed"
    )
    assert error["message"] == "Signing is not suspended."


def test_a_signatory_delegates_to_another_member_of_the_party(api_for, officer, reviewers):
    from agreements.services import organisation_add_member

    agreement, (first, _second) = build_agreement(officer, parties=2, reviewers=reviewers[:1])
    approve(agreement, officer, reviewers[0])
    deputy = make_user("vice.forli", "signatory", first_name="Vito", last_name="Vicario")
    outsider = make_user("estraneo", "signatory")
    organisation_add_member(actor=None, organisation=first.party.organisation, user=deputy)
    url = f"/api/v1/agreements/{agreement.pk}/signatories/{first.pk}/delegate/"
    api = api_for(first.user)
    signer = first.user.username

    error = assert_error(
        api.post(url, {"to_user": outsider.pk, "act": "Decreto n. 7/2026"}, format="json"),
        400,
        "validation_failed",
    )
    assert "not authorised to act for" in error["message"]
    assert_error(
        api.post(
            url, {"to_user": deputy.pk, "act": "Decreto", "fiscal_code": "X" * 17}, format="json"
        ),
        400,
        "validation_failed",
    )
    response = api.post(
        url,
        {"to_user": deputy.pk, "act": "Decreto n. 7/2026", "fiscal_code": "vcrvti80a01d704x"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["from_user"] == signer
    assert response.json()["to_user"] == "vice.forli"
    first.refresh_from_db()
    assert first.user == deputy and first.fiscal_code == "VCRVTI80A01D704X"
    [event] = events_for(agreement, AuditAction.TASK_DELEGATED)
    assert event.actor_username == signer
    [task] = api_for(deputy).get("/api/v1/tasks/").json()["results"]
    assert task["kind"] == "sign" and task["signatory"] == first.pk
    assert_error(
        api_for(officer).post(
            f"/api/v1/agreements/{agreement.pk}/signatories/999999/delegate/",
            {"to_user": deputy.pk, "act": "x"},
            format="json",
        ),
        404,
        "not_found",
    )


# Process, diagram, start, language --------------------------------------------------------------


def test_the_process_starts_on_request_and_draws_its_diagram(api_for, officer, settings):
    settings.STIPULA_WORKFLOW_AUTOSTART = False
    agreement, signatories = build_agreement(officer, parties=2)
    api = api_for(officer)
    url = f"/api/v1/agreements/{agreement.pk}/process/"
    process = api.get(url).json()
    assert process["started"] is False and process["open_tasks"] == []

    assert_error(api_for(signatories[0].user).post(url + "start/"), 403, "permission_denied")
    response = api.post(url + "start/")
    assert response.status_code == 201, response.content
    assert response.json()["started"] is True and response.json()["current"] == ["draft"]
    error = assert_error(api.post(url + "start/"), 400, "validation_failed")
    assert error["message"] == "This agreement's process has already started."

    diagram = api.get(url + "diagram.svg", HTTP_ACCEPT="image/svg+xml")
    assert diagram.status_code == 200
    assert diagram["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in diagram.content
    # Errors stay JSON whatever the client accepts; an agreement one may not see does not exist.
    stranger = make_user("stranger")
    missing = api_for(stranger).get(url + "diagram.svg", HTTP_ACCEPT="image/svg+xml")
    assert_error(missing, 404, "not_found")
    assert_error(api_for(stranger).get(url), 404, "not_found")


def test_each_user_sets_their_email_language(api_for, officer):
    api = api_for(officer)
    assert api.get("/api/v1/preferences/language/").json() == {"language": "it"}
    response = api.put("/api/v1/preferences/language/", {"language": "en"}, format="json")
    assert response.status_code == 200 and response.json() == {"language": "en"}
    assert UserPreferences.objects.get(user=officer).language == "en"
    error = assert_error(
        api.put("/api/v1/preferences/language/", {"language": "fr"}, format="json"),
        400,
        "validation_failed",
    )
    assert set(error["fields"]) == {"language"}
