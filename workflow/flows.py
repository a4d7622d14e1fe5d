"""The agreement's process, as a viewflow flow: wiring only.

Each human task is a ``flow.View``; it is completed by the service whose action it stands for
(workflow.engine, called from the services through workflow.hooks), in the transaction of that
action. Gateways after a phase read the agreement's state, which the service has just changed:
the state machine decides where the agreement is, the flow shows who must act next.

    start -> draft -> (negotiation) -> review x N -> join -+-> negotiation (changes)
                                                           +-> rejected (end)
                                                           +-> sign x stage -> join -+
    +-> next stage (sign x stage ...)  +-> decline decision  +-> registration -> end
"""

from django.utils.translation import gettext_lazy as _
from viewflow import this
from viewflow.workflow import flow

from workflow import routing
from workflow.models import AgreementProcess, AgreementTask
from workflow.nodes import ForEach, Join, agreement_row_lock
from workflow.views import task_page

NEGOTIATION = routing.in_state("negotiation")
LEGAL_REVIEW = routing.in_state("legal_review")
SIGNATURE = routing.in_state("signature")


class AgreementFlow(flow.Flow):
    """Agreement

    From the first draft to registration: negotiation, legal review by independent reviewers,
    signatures in the agreed order, registration.
    """

    process_class = AgreementProcess
    task_class = AgreementTask
    lock_impl = agreement_row_lock

    start = flow.StartHandle().Annotation(title=_("Agreement created")).Next(this.draft)

    draft = (
        flow.View(task_page)
        .Annotation(title=_("Draft the agreement"))
        .Assign(this.legal_officer)
        .onCreate(this.task_created)
        .Next(this.after_draft)
    )
    after_draft = (
        flow.Switch()
        .Annotation(title=_("Straight to review?"))
        .Case(this.review_split, LEGAL_REVIEW)
        .Default(this.negotiation)
    )
    negotiation = (
        flow.View(task_page)
        .Annotation(title=_("Negotiate with the parties and submit for review"))
        .Assign(this.legal_officer)
        .onCreate(this.task_created)
        .Next(this.review_split)
    )

    review_split = (
        ForEach()
        .Annotation(title=_("One review per reviewer"))
        .Next(this.review, data_source=routing.review_assignments)
    )
    review = (
        flow.View(task_page)
        .Annotation(title=_("Legal review"))
        .Assign(this.task_user)
        .onCreate(this.task_created)
        .Next(this.review_join)
    )
    review_join = Join().Annotation(title=_("All reviews in")).Next(this.after_review)
    after_review = (
        flow.Switch()
        .Annotation(title=_("Review outcome"))
        .Case(this.negotiation, NEGOTIATION)
        .Case(this.signing_split, SIGNATURE)
        .Default(this.rejected)
    )

    signing_split = (
        ForEach()
        .Annotation(title=_("Signatories whose turn it is"))
        .Next(this.sign, data_source=routing.signing_turn)
    )
    sign = (
        flow.View(task_page)
        .Annotation(title=_("Sign the agreement"))
        .Assign(this.task_user)
        .onCreate(this.task_created)
        .Next(this.signing_join)
    )
    signing_join = Join().Annotation(title=_("Stage signed")).Next(this.after_signing)
    after_signing = (
        flow.Switch()
        .Annotation(title=_("Next stage?"))
        .Case(this.negotiation, NEGOTIATION)
        .Case(this.decline_decision, routing.was_declined)
        .Case(this.signing_split, routing.has_more_to_sign)
        .Default(this.registration)
    )
    decline_decision = (
        flow.View(task_page)
        .Annotation(title=_("A party declined to sign: decide how to go on"))
        .Assign(this.legal_officer)
        .onCreate(this.task_created)
        .Next(this.after_decline)
    )
    after_decline = (
        flow.Switch()
        .Annotation(title=_("Resume signing?"))
        .Case(this.negotiation, NEGOTIATION)
        .Default(this.signing_split)
    )

    registration = (
        flow.View(task_page)
        .Annotation(title=_("Register the signed agreement"))
        .onCreate(this.task_created)
        .Next(this.end)
    )
    end = flow.End().Annotation(title=_("Registered"))
    rejected = flow.End().Annotation(title=_("Rejected"))

    def legal_officer(self, activation):
        return routing.legal_officer(activation)

    def task_user(self, activation):
        return routing.task_user(activation)

    def task_created(self, activation):
        from workflow import engine

        engine.on_task_created(activation)


# The human tasks and the phase each belongs to (deadlines and e-mail use the phase).
PHASE_OF_NODE = {
    "draft": "draft",
    "negotiation": "negotiation",
    "review": "review",
    "sign": "signing",
    "decline_decision": "decline",
    "registration": "registration",
}
# The role a person acts in when doing a task of each node (audit events).
ROLE_OF_NODE = {
    "draft": "legal_officer",
    "negotiation": "legal_officer",
    "review": "reviewer",
    "sign": "signatory",
    "decline_decision": "legal_officer",
    "registration": "registrar",
}
