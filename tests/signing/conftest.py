import hashlib
import io

import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from signing.pades import (
    SignatoryField,
    archive_timestamp,
    field_name_for,
    load_seal,
    prepare_for_signing,
    sign_pkcs12,
    validate,
)
from signing.pki import ARCH, running_pki


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("pki")


@pytest.fixture(scope="session")
def pki(pki_dir):
    """The local PKI with its TSA, OCSP responder and CRLs running on loopback."""
    with running_pki(pki_dir) as running:
        yield running


@pytest.fixture(scope="session")
def unreachable_pki(pki_dir):
    """The same PKI whose services have stopped: its certificates point at a closed loopback
    port, so their OCSP responder and CRLs cannot be reached (the responders are down)."""
    with running_pki(pki_dir) as short_lived:
        pass
    return short_lived


def tsa_no_eku_url(pki) -> str:
    """A timestamp service whose certificate lacks the timeStamping EKU (certomancer.yml)."""
    return f"{pki.base_url}/{ARCH}/tsa/tsa-no-eku"


@pytest.fixture(scope="session")
def seal(pki, tmp_path_factory):
    """The system seal, loaded as production loads it: from a PKCS#12 file and its password."""
    path = tmp_path_factory.mktemp("seal") / "sigillo.p12"
    path.write_bytes(pki.pkcs12("seal", PASSWORD))
    return load_seal(str(path), PASSWORD)


def make_pdf(pages: int = 2) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for number in range(1, pages + 1):
        c.drawString(72, 760, "Convenzione tra il Comune di Forlì e l'ASL Romagna")
        c.drawString(72, 740, f"Articolo {number}: le parti si impegnano a collaborare.")
        c.showPage()
    c.save()
    return buf.getvalue()


@pytest.fixture(scope="session")
def approved_pdf():
    return make_pdf()


SIGNATORIES = [
    SignatoryField(name="Mario Rossi", title="Sindaco", party="Comune di Forlì"),
    SignatoryField(name="Luigi Verdi", title="Direttore generale", party="AUSL della Romagna"),
    SignatoryField(name="Giulia Bianchi", title="Presidente", party="Cooperativa Sociale Aurora"),
]
# The PKI certificate label of each signatory above, in order.
SIGNER_LABELS = ["rossi", "verdi", "bianchi"]


@pytest.fixture(scope="session")
def signatories():
    return list(SIGNATORIES)


PASSWORD = "segreto-di-prova"


@pytest.fixture(scope="session")
def prepared(approved_pdf, signatories):
    return prepare_for_signing(approved_pdf, signatories)


@pytest.fixture(scope="session")
def prepared_sha256(prepared):
    return hashlib.sha256(prepared).hexdigest()


def sign_as(pki, pdf, index, signatory, label, *, tsa=True, trust_roots=None):
    return sign_pkcs12(
        pdf,
        field_name=field_name_for(index, signatory),
        pkcs12=pki.pkcs12(label, PASSWORD),
        password=PASSWORD,
        timestamper_url=(tsa if isinstance(tsa, str) else pki.tsa_url) if tsa else None,
        party=signatory.party,
        trust_roots=trust_roots,
    )


@pytest.fixture(scope="session")
def signed_in_sequence(pki, prepared, prepared_sha256, signatories):
    """The prepared PDF signed by the three signatories in turn, validated after each one."""
    documents, reports = [], []
    pdf = prepared
    for index, (signatory, label) in enumerate(zip(signatories, SIGNER_LABELS, strict=True), 1):
        pdf = sign_as(pki, pdf, index, signatory, label)
        documents.append(pdf)
        reports.append(validate(pdf, trust_roots=[pki.root_der], approved_sha256=prepared_sha256))
    return documents, reports


@pytest.fixture(scope="session")
def archived(pki, signed_in_sequence):
    """The document signed by the three signatories, then archived (B-LTA)."""
    signed = signed_in_sequence[0][-1]
    return archive_timestamp(signed, timestamper_url=pki.tsa_url, trust_roots=[pki.root_der])
