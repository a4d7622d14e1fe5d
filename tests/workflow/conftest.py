"""Fixtures of the workflow tests: agreements built through the real services, signed with real
PAdES signatures made with the local test PKI (session-scoped, shared with tests/signing)."""

import pytest

from agreements import services as agreement_services
from agreements.models import Agreement, Organisation
from signing.services import signature_apply_pkcs12
from tests.factories import make_organisation, make_user, sample_docx
from tests.signing.conftest import PASSWORD, pki, pki_dir  # noqa: F401 - fixtures reused

# The Patto per l'Inclusione Sociale: the 15 parties of ../seeds/000_0c06348577117c56.txt,
# public bodies first, then private partners, the Conference of Mayors' chair last.
PATTO_PARTIES = [
    ("Comune di Forlì", Organisation.Kind.PUBLIC_BODY),
    ("Comune di Forlimpopoli", Organisation.Kind.PUBLIC_BODY),
    ("Comune di Bertinoro", Organisation.Kind.PUBLIC_BODY),
    ("Comune di Meldola", Organisation.Kind.PUBLIC_BODY),
    ("Comune di Predappio", Organisation.Kind.PUBLIC_BODY),
    ("AUSL della Romagna", Organisation.Kind.PUBLIC_BODY),
    ("ASP Forlivese", Organisation.Kind.PUBLIC_BODY),
    ("Centro per l'Impiego di Forlì", Organisation.Kind.PUBLIC_BODY),
    ("Ufficio Scolastico Provinciale", Organisation.Kind.PUBLIC_BODY),
    ("Caritas Diocesana", Organisation.Kind.PRIVATE_ENTITY),
    ("Cooperativa Sociale Aurora", Organisation.Kind.PRIVATE_ENTITY),
    ("Fondazione Cassa dei Risparmi", Organisation.Kind.PRIVATE_ENTITY),
    ("Forum del Terzo Settore", Organisation.Kind.PRIVATE_ENTITY),
    ("CGIL-CISL-UIL Forlì", Organisation.Kind.PRIVATE_ENTITY),
    ("Conferenza dei Sindaci - Presidenza", Organisation.Kind.PUBLIC_BODY),
]


@pytest.fixture
def reviewers(db):
    return [
        make_user("rev.verdi", "reviewer", first_name="Rita", last_name="Verdi"),
        make_user("rev.neri", "reviewer", first_name="Nadia", last_name="Neri"),
    ]


def build_agreement(officer, *, parties, reviewers=(), subject=None):
    """An agreement in draft with parties of the Patto (the first ``parties`` of them, or those
    at the given indexes), one signatory each (no fiscal code: every one signs with the PKI's
    «rossi» certificate), a version, and the named reviewers."""
    from workflow import services as workflow_services

    agreement = agreement_services.agreement_create(
        actor=officer,
        subject=subject or "Patto per l'Inclusione Sociale",
        kind=Agreement.Kind.PATTO_TERRITORIALE,
    )
    signatories = []
    chosen = (
        PATTO_PARTIES[:parties] if isinstance(parties, int) else [PATTO_PARTIES[i] for i in parties]
    )
    for index, (name, kind) in enumerate(chosen, start=1):
        user = make_user(
            f"firm{agreement.pk}.{index}",
            "signatory",
            first_name="Anna",
            last_name=f"Firmatario {index}",
        )
        organisation = make_organisation(f"{name} ({agreement.pk})", kind=kind, members=[user])
        party = agreement_services.agreement_add_party(
            actor=officer, agreement=agreement, organisation=organisation
        )
        signatories.append(
            agreement_services.agreement_add_signatory(
                actor=officer,
                agreement=agreement,
                party=party,
                user=user,
                title="Legale rappresentante",
                authorising_act=f"Delibera n. {index}/2026",
            )
        )
    agreement_services.version_create(
        actor=officer, agreement=agreement, docx=sample_docx(), note="Prima stesura"
    )
    for reviewer in reviewers:
        workflow_services.reviewer_name(actor=officer, agreement=agreement, user=reviewer)
    agreement.refresh_from_db()
    return agreement, signatories


def approve(agreement, officer, reviewer):
    """Submit for review and approve through the workflow (one named reviewer)."""
    from workflow import services as workflow_services

    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    workflow_services.review_submit(
        actor=reviewer, agreement=agreement, outcomes=all_compliant(agreement), decision="approve"
    )
    agreement.refresh_from_db()
    return agreement


def sign(running_pki, agreement, signatory, *, actor=None):
    """A real PAdES signature through the signing service (no timestamp: quicker, still PASSED)."""
    return signature_apply_pkcs12(
        actor=actor or signatory.user,
        agreement=agreement,
        signatory=signatory,
        pkcs12=running_pki.pkcs12("rossi", PASSWORD),
        password=PASSWORD,
        timestamper_url=None,
        trust_roots=[running_pki.root_der],
    )


CHECKLIST_OK = "compliant"


def all_compliant(agreement) -> dict:
    from workflow.checklist import checklist_for

    return {item.code: {"outcome": CHECKLIST_OK, "note": ""} for item in checklist_for(agreement)}
