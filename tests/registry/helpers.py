"""Agreements ready to register, made quickly for the numbering tests.

Signing an agreement for real takes seconds (tests/registry/conftest.py's `signed_agreement`
does it, and the service tests use it). The numbering tests need dozens of signed agreements, so
here the agreement's row is put in state «signed» directly and given a stored "signed PDF" of
unique bytes: test set-up standing for signatures made elsewhere, not a stand-in for the
registration under test, which runs for real.
"""

import itertools

from agreements import services
from agreements.models import Agreement, AgreementState
from agreements.storage import store_bytes
from signing.models import SigningDocument
from tests.factories import make_organisation, sample_docx

_counter = itertools.count(1)


def quick_signed_agreements(officer, count: int, *, parties: int = 2) -> list[Agreement]:
    organisations = [make_organisation() for _ in range(parties)]
    made = []
    for _ in range(count):
        n = next(_counter)
        agreement = Agreement.objects.create(
            subject=f"Convenzione n. {n} per l'inclusione sociale & lavoro «test»",
            kind=Agreement.Kind.CONVENZIONE,
            legal_officer=officer,
        )
        for position, organisation in enumerate(organisations, start=1):
            agreement.parties.create(organisation=organisation, position=position)
        version = services.version_create(
            actor=officer, agreement=agreement, docx=sample_docx(f"Testo n. {n}.")
        )
        Agreement.objects.filter(pk=agreement.pk).update(
            state=AgreementState.SIGNED, approved_version=version
        )
        pdf = b"%PDF-1.7\n% signed elsewhere, test " + str(n).encode() + b"\n%%EOF\n"
        name, digest = store_bytes(pdf, folder="signing", extension="pdf")
        SigningDocument.objects.create(
            agreement=agreement,
            approved_version=version,
            prepared_pdf=name,
            prepared_sha256=digest,
            current_pdf=name,
            current_sha256=digest,
        )
        agreement.refresh_from_db()
        made.append(agreement)
    return made
