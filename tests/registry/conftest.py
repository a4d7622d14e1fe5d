"""Shared fixtures of the registry tests: a registrar, a register, and really signed agreements.

``signed_agreement`` is a factory: each call builds a fresh agreement through the real services
(parties, version, review, approval) and has its signatories sign it with the local PKI's rossi
and verdi certificates (real pyHanko, real TSA and OCSP on loopback), so it ends in «signed» with
a signed PDF ready to register. Signing takes a few seconds: build what a test needs, no more.
"""

import itertools

import pytest

from agreements import services as agreement_services
from agreements.models import Agreement, AgreementState, Organisation
from signing import pades
from signing.services import signature_apply_pkcs12
from tests.factories import make_agreement, make_user, sample_docx
from tests.signing.conftest import PASSWORD, pki, pki_dir  # noqa: F401 - fixtures reused

# The PKI's certificates used by the signatories of each party, in order (tests/signing).
SIGNER_CERTIFICATES = [("rossi", "Mario", "Rossi"), ("verdi", "Luigi", "Verdi")]

_unique = itertools.count(1)


@pytest.fixture
def registrar(db):
    return make_user("registrar", "registrar", first_name="Giovanna", last_name="Protocolli")


@pytest.fixture
def administrator(db):
    return make_user("registry-admin", "administrator", first_name="Anna", last_name="Sistemi")


@pytest.fixture
def register(administrator):
    """The repertorio of conventions of the Comune di Forlì (IPA code c_d704)."""
    from registry.services import register_create

    return register_create(
        actor=administrator,
        code="REP-CONV",
        name="Repertorio delle convenzioni",
        administration_code="c_d704",
        aoo_code="AOO_FORLI",
    )


def _organisation(name: str | None, kind: str) -> Organisation:
    n = next(_unique)
    if name is not None:
        existing = Organisation.objects.filter(name=name).first()
        if existing is not None:
            return existing
    return agreement_services.organisation_create(
        actor=None,
        name=name or f"Ente di prova {n}",
        kind=kind,
        fiscal_code=f"{90000000000 + n}",
    )


def build_signed_agreement(
    running_pki,
    officer,
    *,
    subject: str = "Convenzione per l'inclusione sociale",
    parties: list[str] | None = None,
    kind: str = Agreement.Kind.CONVENZIONE,
) -> Agreement:
    """An agreement in «signed»: one party per name in ``parties`` (at most two, each signed by
    one signatory holding the PKI's rossi or verdi certificate)."""
    names = list(parties) if parties is not None else [None, None]
    if not 1 <= len(names) <= len(SIGNER_CERTIFICATES):
        raise ValueError("build_signed_agreement takes one or two parties")
    agreement = make_agreement(officer, subject=subject, kind=kind)
    signatories = []
    for index, name in enumerate(names):
        label, first_name, last_name = SIGNER_CERTIFICATES[index]
        n = next(_unique)
        user = make_user(f"{label}{n}", "signatory", first_name=first_name, last_name=last_name)
        organisation = _organisation(
            name,
            Organisation.Kind.PUBLIC_BODY if index == 0 else Organisation.Kind.PRIVATE_ENTITY,
        )
        agreement_services.organisation_add_member(actor=None, organisation=organisation, user=user)
        party = agreement_services.agreement_add_party(
            actor=officer, agreement=agreement, organisation=organisation
        )
        signatory = agreement_services.agreement_add_signatory(
            actor=officer,
            agreement=agreement,
            party=party,
            user=user,
            title="Legale rappresentante",
            authorising_act="Delibera n. 1/2026",
            fiscal_code=pades.fiscal_code_of(running_pki.cert(label)),
        )
        signatories.append((signatory, label))
    agreement_services.version_create(
        actor=officer, agreement=agreement, docx=sample_docx(subject), note="v1"
    )
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    reviewer = make_user(f"rev{next(_unique)}", "reviewer")
    agreement_services.agreement_approve(actor=reviewer, agreement=agreement)
    agreement.refresh_from_db()
    for signatory, label in signatories:
        signature_apply_pkcs12(
            actor=signatory.user,
            agreement=agreement,
            signatory=signatory,
            pkcs12=running_pki.pkcs12(label, PASSWORD),
            password=PASSWORD,
            timestamper_url=running_pki.tsa_url,
            trust_roots=[running_pki.root_der],
        )
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNED, agreement.state
    return agreement


@pytest.fixture
def signed_agreement(pki, officer, settings):  # noqa: F811 - the pki fixture
    """A factory: ``signed_agreement(subject=..., parties=[name, name])`` returns a fresh
    agreement in «signed» each call (party names are reused when they exist already)."""
    # The completion's document timestamp and any later validation use the local PKI.
    settings.STIPULA_TSA_URL = pki.tsa_url

    def make(**kwargs) -> Agreement:
        return build_signed_agreement(pki, officer, **kwargs)

    return make
