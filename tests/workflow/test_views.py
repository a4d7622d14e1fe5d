"""The workflow pages, as reviewers, officers, signatories and outsiders see and use them.

Agreements are built, reviewed and approved through the real services (tests/workflow/conftest),
and every action on a page goes through the workflow services: the tests look at the page, its
status, the tasks and rows left behind and the audit trail.
"""

import datetime
import re

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from viewflow.workflow.status import STATUS

from agreements import services as agreement_services
from agreements.models import AgreementState, Signatory
from audit.models import AuditAction
from tests.factories import events_for, make_user
from tests.workflow.conftest import approve, build_agreement, sign
from workflow.models import (
    AgreementTask,
    AgreementWorkflow,
    Reviewer,
    ReviewReport,
    SigningDecline,
    SigningDelegation,
    TaskDeadline,
    UserPreferences,
)

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


def open_tasks(agreement, node):
    return [
        t
        for t in AgreementTask.objects.filter(deadline__agreement=agreement).order_by("pk")
        if t.flow_task.name == node and t.status in (STATUS.NEW, STATUS.ASSIGNED)
    ]


def in_review(officer, reviewers=(), parties=2):
    agreement, signatories = build_agreement(officer, parties=parties, reviewers=reviewers)
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    agreement.refresh_from_db()
    return agreement, signatories


def review_post(agreement, task=None, *, decision="approve", reason="", outcome="compliant"):
    from workflow.checklist import checklist_for

    data = {"decision": decision, "reason": reason}
    if task is not None:
        data["task"] = task.pk
    for index, _item in enumerate(checklist_for(agreement)):
        data[f"outcome_{index}"] = outcome
        data[f"note_{index}"] = ""
    return data


# Inbox ---------------------------------------------------------------------------------------


def test_inbox_lists_open_tasks_with_due_date_overdue_marker_and_link(officer, reviewers):
    first, second = reviewers
    agreement, _ = in_review(officer, reviewers=[first])
    [task] = open_tasks(agreement, "review")
    # The review is overdue: its due date has passed.
    TaskDeadline.objects.filter(task=task).update(
        due_at=timezone.now() - datetime.timedelta(days=1)
    )

    response = client_for(first).get(reverse("workflow:index"))
    assert response.status_code == 200
    page = html(response)
    assert f'data-task="{task.pk}"' in page
    assert 'data-overdue="true"' in page and "Overdue" in page
    review_url = reverse("workflow:review", args=[agreement.pk]) + f"?task={task.pk}"
    assert escape(review_url) in page
    assert shows(response, agreement.subject)

    # Someone else's inbox does not show it.
    other = client_for(second).get(reverse("workflow:index"))
    assert f'data-task="{task.pk}"' not in html(other)
    assert "You have no open tasks." in html(other)

    # The home page counts the open tasks, and the menu leads to the inbox.
    home = client_for(first).get(reverse("home"))
    assert 'data-open-tasks="1"' in html(home) and 'data-overdue-tasks="1"' in html(home)
    assert "You have 1 open task." in html(home)
    assert reverse("workflow:index") in html(home)


def test_take_an_unassigned_review(officer, reviewers):
    first, second = reviewers
    agreement, signatories = in_review(officer)  # no named reviewer: one review to take
    [task] = open_tasks(agreement, "review")
    assert task.owner_id is None

    inbox = client_for(first).get(reverse("workflow:index"))
    assert 'id="claimable"' in html(inbox) and ">Take<" in html(inbox)

    # A signatory cannot take a review.
    refused = client_for(signatories[0].user).post(reverse("workflow:take", args=[task.pk]))
    assert refused.status_code == 403
    assert shows(refused, "You cannot take this task.")

    response = client_for(first).post(reverse("workflow:take", args=[task.pk]))
    assert response.status_code == 302
    assert response["Location"] == (
        reverse("workflow:review", args=[agreement.pk]) + f"?task={task.pk}"
    )
    task.refresh_from_db()
    assert task.owner_id == first.pk
    assert events_for(agreement, AuditAction.TASK_ASSIGNED)

    # Too late for the second reviewer: told who took it, with 409.
    late = client_for(second).post(reverse("workflow:take", args=[task.pk]))
    assert late.status_code == 409
    assert "This task was taken by Rita Verdi" in html(late)
    assert events_for(agreement, AuditAction.ACTION_REFUSED)


def test_inbox_needs_login(client):
    response = client.get(reverse("workflow:index"))
    assert response.status_code == 302 and "login" in response["Location"]


# Process page --------------------------------------------------------------------------------


def test_process_page_shows_the_diagram_and_the_tasks(officer, reviewers):
    agreement, _ = in_review(officer, reviewers=reviewers)

    detail = client_for(officer).get(reverse("agreements:detail", args=[agreement.pk]))
    assert reverse("workflow:process", args=[agreement.pk]) in html(detail)

    response = client_for(officer).get(reverse("workflow:process", args=[agreement.pk]))
    assert response.status_code == 200
    page = html(response)
    assert 'data-current="review"' in page
    assert "<svg" in page and 'role="img"' in page
    # The current position is drawn as in progress (viewflow's «started» colour).
    assert 'class="started"' in page
    assert page.count('data-node="review"') == 2
    assert "Rita Verdi" in page and "Nadia Neri" in page
    assert 'data-node="draft"' in page and 'data-status="DONE"' in page
    # Done tasks say what was decided in words, not in code names.
    assert "submit for legal review" in page.lower()
    assert "(submit_for_review)" not in page and "(open_negotiation)" not in page
    # The officer is offered the reviewers and the signing order; not the review.
    assert 'id="reviewers-link"' in page and 'id="signing-order-link"' in page
    assert 'id="review-link"' not in page

    reviewer_page = html(
        client_for(reviewers[0]).get(reverse("workflow:process", args=[agreement.pk]))
    )
    assert 'id="review-link"' in reviewer_page and 'id="reviewers-link"' not in reviewer_page


def test_process_page_of_an_agreement_one_may_not_see_is_404(officer):
    agreement, _ = build_agreement(officer, parties=1)
    outsider = make_user("outsider")
    response = client_for(outsider).get(reverse("workflow:process", args=[agreement.pk]))
    assert response.status_code == 404


def test_officer_starts_the_process_of_an_agreement_without_one(officer, reviewer, settings):
    settings.STIPULA_WORKFLOW_AUTOSTART = False
    agreement, _ = build_agreement(officer, parties=1)
    url = reverse("workflow:process", args=[agreement.pk])
    page = html(client_for(officer).get(url))
    assert 'id="no-process"' in page and "Start the process" in page

    start = reverse("workflow:process_start", args=[agreement.pk])
    assert client_for(reviewer).post(start).status_code == 403
    assert client_for(officer).post(start).status_code == 302
    assert events_for(agreement, AuditAction.PROCESS_STARTED)
    page = html(client_for(officer).get(url))
    assert 'data-current="draft"' in page and "<svg" in page

    again = client_for(officer).post(start)
    assert again.status_code == 400
    assert shows(again, "This agreement's process has already started.")


# Review --------------------------------------------------------------------------------------


def test_review_form_errors_keep_the_inputs_then_approval(officer, reviewers):
    first = reviewers[0]
    agreement, _ = in_review(officer, reviewers=[first])
    [task] = open_tasks(agreement, "review")
    client = client_for(first)
    url = reverse("workflow:review", args=[agreement.pk])

    page = client.get(url + f"?task={task.pk}")
    assert page.status_code == 200
    assert "Legal basis" in html(page) and "Data protection clause" in html(page)
    assert shows(page, "Competence of Comune di Forlì")

    # Not compliant without a note, and approving anyway: refused, inputs kept.
    data = review_post(agreement, task)
    data["outcome_2"] = "not_compliant"
    data["note_3"] = "Da verificare la copertura."
    refused = client.post(url, data)
    assert refused.status_code == 400
    assert 'role="alert"' in html(refused)
    assert "is not compliant" in html(refused)
    assert "Da verificare la copertura." in html(refused)
    assert re.search(r'name="outcome_2" value="not_compliant"[^>]*checked', html(refused))
    assert re.search(r'name="outcome_1" value="compliant"[^>]*checked', html(refused))

    # Request changes without a reason.
    no_reason = client.post(url, review_post(agreement, task, decision="request_changes"))
    assert no_reason.status_code == 400
    assert "Give the reasons for the changes you request" in html(no_reason)
    assert not ReviewReport.objects.exists()

    done = client.post(url, review_post(agreement, task))
    assert done.status_code == 302
    assert done["Location"] == reverse("workflow:process", args=[agreement.pk])
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNATURE
    [report] = ReviewReport.objects.all()
    assert report.reviewer == first and report.decision == "approve"
    assert events_for(agreement, AuditAction.REVIEW_SUBMITTED)

    # The same task again: already completed, 409.
    again = client.post(url, review_post(agreement, task))
    assert again.status_code == 409
    assert "This task was already completed by" in html(again)


def test_request_changes_through_the_page(officer, reviewers):
    first = reviewers[0]
    agreement, _ = in_review(officer, reviewers=[first])
    response = client_for(first).post(
        reverse("workflow:review", args=[agreement.pk]),
        review_post(
            agreement, decision="request_changes", reason="Integrare la clausola sui dati."
        ),
    )
    assert response.status_code == 302
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.NEGOTIATION
    assert ReviewReport.objects.get().reason == "Integrare la clausola sui dati."


def test_review_page_refuses_who_is_not_an_independent_reviewer(officer, reviewers):
    agreement, signatories = in_review(officer, reviewers=reviewers[:1])
    url = reverse("workflow:review", args=[agreement.pk])
    assert client_for(officer).get(url).status_code == 403
    assert client_for(signatories[0].user).post(url, review_post(agreement)).status_code == 403
    # A reviewer not named: the page says there is no review for them, the service refuses.
    client = client_for(reviewers[1])
    assert "There is no review open for you" in html(client.get(url))
    refused = client.post(url, review_post(agreement))
    assert refused.status_code == 403
    assert "You are not among the reviewers named for this agreement." in html(refused)
    assert not ReviewReport.objects.exists()


# Reviewers and signing order -----------------------------------------------------------------


def test_officer_names_and_removes_reviewers(officer, reviewers):
    first, second = reviewers
    agreement, signatories = build_agreement(officer, parties=2)
    client = client_for(officer)
    url = reverse("workflow:reviewers", args=[agreement.pk])

    page = client.get(url)
    assert page.status_code == 200 and "No reviewer is named." in html(page)
    assert "Rita Verdi" in html(page)  # among the choices

    response = client.post(url, {"user": first.pk})
    assert response.status_code == 302
    assert list(Reviewer.objects.values_list("user__username", flat=True)) == ["rev.verdi"]
    [named] = events_for(agreement, AuditAction.REVIEWER_NAMED)

    # Someone without the reviewer role is not a choice.
    invalid = client.post(url, {"user": signatories[0].user.pk})
    assert invalid.status_code == 400
    assert Reviewer.objects.count() == 1

    remove = client.post(reverse("workflow:reviewer_remove", args=[agreement.pk, first.pk]))
    assert remove.status_code == 302
    assert not Reviewer.objects.exists()
    assert events_for(agreement, AuditAction.REVIEWER_REMOVED)

    # Removing who is not a reviewer: the service's message, 400.
    again = client.post(reverse("workflow:reviewer_remove", args=[agreement.pk, second.pk]))
    assert again.status_code == 400
    assert "is not a reviewer of this agreement" in html(again)

    # Only the officer.
    assert client_for(first).get(url).status_code == 403
    assert client_for(first).post(url, {"user": second.pk}).status_code == 403


def test_reviewers_cannot_change_during_the_review(officer, reviewers):
    first, second = reviewers
    agreement, _ = in_review(officer, reviewers=[first])
    client = client_for(officer)
    url = reverse("workflow:reviewers", args=[agreement.pk])
    assert "Reviewers are chosen before" in html(client.get(url))
    refused = client.post(url, {"user": second.pk})
    assert refused.status_code == 409
    assert "reviewers are chosen before it is submitted for legal review" in html(refused)
    assert Reviewer.objects.count() == 1


def test_officer_sets_a_staged_signing_order(officer):
    agreement, signatories = build_agreement(officer, parties=3)
    parties = list(agreement.parties.order_by("position"))
    client = client_for(officer)
    url = reverse("workflow:signing_order", args=[agreement.pk])
    assert client.get(url).status_code == 200

    empty = client.post(url, {"order": "staged"})
    assert empty.status_code == 400
    assert "Give at least one stage" in html(empty)

    response = client.post(
        url,
        {"order": "staged", f"stage_{parties[2].pk}": 1, f"stage_{parties[0].pk}": 2},
    )
    assert response.status_code == 302
    config = AgreementWorkflow.objects.get(agreement=agreement)
    assert config.signing_order == "staged"
    assert config.signing_stages == [[parties[2].pk], [parties[0].pk]]
    assert events_for(agreement, AuditAction.SIGNING_ORDER_SET)

    page = html(client.get(url))
    assert 'data-order="staged"' in page and "In stages (groups of parties, in order)" in page
    assert f'name="stage_{parties[2].pk}" value="1"' in page

    sequential = client.post(url, {"order": "sequential"})
    assert sequential.status_code == 302
    config.refresh_from_db()
    assert config.signing_order == "sequential"

    assert client_for(signatories[0].user).get(url).status_code == 403


# Signatories: delegate, decline, resume ----------------------------------------------------------


def test_signatory_delegates_to_a_member_of_the_same_party(officer, reviewers):
    agreement, (first, second) = build_agreement(officer, parties=2, reviewers=reviewers[:1])
    approve(agreement, officer, reviewers[0])
    delegate = make_user("delegato", "signatory", first_name="Dario", last_name="Delegato")
    agreement_services.organisation_add_member(
        actor=None, organisation=first.party.organisation, user=delegate
    )
    client = client_for(first.user)
    url = reverse("workflow:delegate", args=[agreement.pk, first.pk])

    process = html(client.get(reverse("workflow:process", args=[agreement.pk])))
    assert escape(url) in process

    page = client.get(url)
    assert page.status_code == 200 and "Dario Delegato" in html(page)

    no_act = client.post(url, {"to_user": delegate.pk, "act": ""})
    assert no_act.status_code == 400
    assert "Give the act that authorises the delegation" in html(no_act)

    # Another party's signatory cannot delegate someone else's signature.
    assert client_for(second.user).post(url, {"to_user": delegate.pk}).status_code == 403

    response = client.post(
        url, {"to_user": delegate.pk, "act": "Decreto sindacale n. 12/2026", "fiscal_code": ""}
    )
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.user == delegate and first.authorising_act == "Decreto sindacale n. 12/2026"
    assert SigningDelegation.objects.get().from_user.username.startswith("firm")
    assert events_for(agreement, AuditAction.TASK_DELEGATED)
    [task] = [t for t in open_tasks(agreement, "sign") if t.data["signatory"] == first.pk]
    assert task.owner == delegate
    inbox = html(client_for(delegate).get(reverse("workflow:index")))
    assert f'data-task="{task.pk}"' in inbox
    assert reverse("agreements:sign", args=[agreement.pk, first.pk]) in inbox


def test_decline_then_the_officer_resumes(pki, officer, reviewers):
    agreement, (first, second) = build_agreement(officer, parties=2, reviewers=reviewers[:1])
    approve(agreement, officer, reviewers[0])
    client = client_for(second.user)
    url = reverse("workflow:decline", args=[agreement.pk, second.pk])

    # Only the signatory themselves.
    assert client_for(first.user).get(url).status_code == 403
    assert client_for(officer).post(url, {"reason": "x"}).status_code == 403

    no_reason = client.post(url, {"reason": "  "})
    assert no_reason.status_code == 400
    assert "Give a reason" in html(no_reason)
    assert not SigningDecline.objects.exists()

    response = client.post(url, {"reason": "Manca la delibera di Giunta."})
    assert response.status_code == 302
    decline = SigningDecline.objects.get()
    assert decline.user == second.user and decline.reason == "Manca la delibera di Giunta."
    assert events_for(agreement, AuditAction.SIGNING_DECLINED)

    # The officer sees the decision in the inbox and on the process page.
    [decision] = open_tasks(agreement, "decline_decision")
    officer_client = client_for(officer)
    inbox = html(officer_client.get(reverse("workflow:index")))
    assert f'data-task="{decision.pk}"' in inbox
    process = html(officer_client.get(reverse("workflow:process", args=[agreement.pk])))
    assert "Manca la delibera di Giunta." in process and 'id="decline"' in process

    # A signatory cannot resume.
    resume_url = reverse("workflow:resume", args=[agreement.pk])
    refused = client_for(first.user).post(resume_url, {"note": ""})
    assert refused.status_code == 403
    assert "Only the responsible legal officer can resume signing." in html(refused)

    resumed = officer_client.post(resume_url, {"note": "Delibera adottata"})
    assert resumed.status_code == 302
    assert events_for(agreement, AuditAction.SIGNING_RESUMED)[0].reason == "Delibera adottata"
    assert sorted(t.data["signatory"] for t in open_tasks(agreement, "sign")) == [
        first.pk,
        second.pk,
    ]
    # Not suspended any more: 409.
    again = officer_client.post(resume_url, {"note": ""})
    assert again.status_code == 409 and "Signing is not suspended." in html(again)

    sign(pki, agreement, first)
    assert Signatory.objects.get(pk=first.pk).signatures.exists()
    # Having signed, declining is refused with the service's reason.
    late = client_for(first.user).post(
        reverse("workflow:decline", args=[agreement.pk, first.pk]), {"reason": "Ci ho ripensato"}
    )
    assert late.status_code == 400 and "You have already signed this agreement." in html(late)


# Language --------------------------------------------------------------------------------------


def test_language_preference(officer):
    client = client_for(officer)
    url = reverse("workflow:language")
    page = client.get(url)
    assert page.status_code == 200 and 'value="it" selected' in html(page)

    response = client.post(url, {"language": "en"})
    assert response.status_code == 302
    assert UserPreferences.objects.get(user=officer).language == "en"

    invalid = client.post(url, {"language": "xx"})
    assert invalid.status_code == 400
    assert UserPreferences.objects.get(user=officer).language == "en"
