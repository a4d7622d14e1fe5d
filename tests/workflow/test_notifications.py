"""E-mail of the process: only after the commit, in each recipient's language, directly or
through the Celery task."""

import pytest
from django.core import mail
from django.db import transaction

from agreements import services as agreement_services
from stipula.celery import app as celery_app
from stipula.errors import PermissionDenied, ValidationFailed
from tests.factories import make_user
from tests.workflow.conftest import all_compliant, build_agreement, sign
from workflow import services as workflow_services
from workflow import tasks as workflow_tasks

pytestmark = pytest.mark.django_db


def by_recipient(outbox):
    return {m.to[0] if len(m.to) == 1 else tuple(m.to): m for m in outbox}


def test_each_recipient_reads_their_own_language(
    pki, officer, reviewers, django_capture_on_commit_callbacks
):
    italian_reviewer, english_reviewer = reviewers
    workflow_services.preferences_set_language(actor=officer, user=officer, language="en")
    workflow_services.preferences_set_language(
        actor=english_reviewer, user=english_reviewer, language="en"
    )
    agreement, signatories = build_agreement(officer, parties=2, reviewers=reviewers)

    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    mails = by_recipient(mail.outbox)
    italian = mails[italian_reviewer.email]
    english = mails[english_reviewer.email]
    assert italian.extra_headers["Content-Language"] == "it"
    assert "Revisione legale" in italian.subject
    assert english.extra_headers["Content-Language"] == "en"
    assert english.subject.startswith("[Stipula] New task: Legal review")
    # Due dates are written the way each language writes dates.
    month = {"it": italian.body, "en": english.body}
    assert any(name in month["it"] for name in ("Gennaio", "Dicembre", "Novembre", "Febbraio"))
    assert any(name in month["en"] for name in ("Jan.", "Dec.", "Nov.", "Feb."))

    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        workflow_services.review_submit(
            actor=italian_reviewer,
            agreement=agreement,
            outcomes=dict(
                all_compliant(agreement),
                legal_basis={"outcome": "not_compliant", "note": "Citare l'art. 15."},
            ),
            decision="request_changes",
            reason="Base giuridica incompleta.",
        )
    to_officer = [m for m in mail.outbox if m.to == [officer.email]]
    changes = next(m for m in to_officer if "Changes requested" in m.subject)
    assert changes.extra_headers["Content-Language"] == "en"
    assert "Reason: Base giuridica incompleta." in changes.body
    assert "- Legal basis: Citare l'art. 15." in changes.body
    negotiation = next(m for m in to_officer if "New task" in m.subject)
    assert "Negotiate with the parties" in negotiation.subject

    # Completion: the officer (English) and the signatories and registrar (Italian) are told,
    # one message per language.
    registrar = make_user("protocollo", "registrar")
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    for reviewer in reviewers:
        workflow_services.review_submit(
            actor=reviewer,
            agreement=agreement,
            outcomes=all_compliant(agreement),
            decision="approve",
        )
    agreement.refresh_from_db()
    sign(pki, agreement, signatories[0])
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        sign(pki, agreement, signatories[1])
    completed = [
        m
        for m in mail.outbox
        if "Signing completed" in m.subject or "Fase di firma conclusa" in m.subject
    ]
    assert len(completed) == 2
    languages = {m.extra_headers["Content-Language"]: m for m in completed}
    assert languages["en"].to == [officer.email]
    assert sorted(languages["it"].to) == sorted(
        [registrar.email] + [s.user.email for s in signatories]
    )
    assert "Fase di firma conclusa" in languages["it"].subject


def test_no_mail_before_the_commit_and_none_after_a_rollback(
    officer, reviewers, django_capture_on_commit_callbacks
):
    agreement, _signatories = build_agreement(officer, parties=2, reviewers=reviewers)
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    assert mail.outbox == []
    for callback in callbacks:
        callback()
    assert len(mail.outbox) == 2

    agreement.refresh_from_db()
    mail.outbox = []

    class Abort(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Abort):
        with transaction.atomic():
            agreement_services._transition(
                actor=reviewers[0], agreement=agreement, name="request_changes", reason="x"
            )
            raise Abort
    assert mail.outbox == []


def test_mail_can_go_through_the_celery_worker(
    officer, reviewers, settings, monkeypatch, request, django_capture_on_commit_callbacks
):
    """CELERY_TASK_ALWAYS_EAGER runs the task in this process, as a worker would run it."""
    settings.STIPULA_NOTIFY_ASYNC = True
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    request.addfinalizer(lambda: setattr(celery_app.conf, "task_always_eager", eager))
    sent_through = []
    original = workflow_tasks.deliver_mail.apply_async

    def spy(*args, **kwargs):
        sent_through.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(workflow_tasks.deliver_mail, "apply_async", spy)
    agreement, _signatories = build_agreement(officer, parties=2, reviewers=reviewers)
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    assert len(sent_through) == 1
    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.email for r in reviewers)


def test_only_the_user_or_an_administrator_sets_the_language(officer, reviewer):
    with pytest.raises(PermissionDenied):
        workflow_services.preferences_set_language(actor=officer, user=reviewer, language="en")
    with pytest.raises(ValidationFailed):
        workflow_services.preferences_set_language(actor=reviewer, user=reviewer, language="xx")
    admin = make_user("admin", "administrator")
    preferences = workflow_services.preferences_set_language(
        actor=admin, user=reviewer, language="en"
    )
    assert preferences.language == "en"


def test_the_officer_of_an_approved_agreement_is_told_and_signatories_get_tasks(
    officer, reviewers, django_capture_on_commit_callbacks
):
    agreement, signatories = build_agreement(officer, parties=2, reviewers=reviewers[:1])
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        workflow_services.review_submit(
            actor=reviewers[0],
            agreement=agreement,
            outcomes=all_compliant(agreement),
            decision="approve",
        )
    recipients = sorted(m.to[0] for m in mail.outbox)
    # One «approved» message to the officer, one task message per signatory (not both).
    assert recipients == sorted([officer.email] + [s.user.email for s in signatories])
