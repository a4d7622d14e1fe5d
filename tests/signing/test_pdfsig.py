"""Independent check with poppler's pdfsig (Debian poppler-utils) and an NSS database made with
certutil (Debian libnss3-tools) that trusts the test PKI's root.

Why pdfsig used to print "Unknown issue with Certificate or corrupted data": poppler 22.12 calls
NSS's ``CERT_PKIXVerifyCert`` and then reads ``PORT_GetError()`` without looking at the result,
so a stale error code left by a verification that succeeded is reported as a generic failure
(seen under gdb: the call returned SECSuccess). Two such codes came from the test PKI:

- SEC_ERROR_EXTENSION_NOT_FOUND, from NSS looking up the signer certificate's extendedKeyUsage:
  the signer certificates now carry emailProtection (certomancer.yml), as many qualified
  signature certificates do;
- SEC_ERROR_OCSP_MALFORMED_RESPONSE, after SEC_ERROR_INVALID_TIME: certomancer's OCSP responses
  carry fractional seconds in their GeneralizedTime values, which NSS refuses (``ocspclnt -S``
  says "Improperly formatted time string"); NSS then soft-fails the OCSP check. Hence
  ``-no-ocsp`` here: revocation is checked by ``signing.pades.validate`` (and embedded by
  ``archive_timestamp``), pdfsig checks the signatures and the chain to the trusted root.

A third one: poppler also says "Unknown issue" for a signature whose certificate already signed
an earlier field of the same file (a stale SEC_ERROR_REUSED_ISSUER_AND_SERIAL). So the fifteen
signatories here hold fifteen distinct certificates: the PKI's five good signers plus ten more,
in a PKI of this module's own (``extra_signers``), as fifteen real signatories would.

The NSS database needs only the root, trusted for S/MIME (flags ",C,": SSL, S/MIME, code
signing): the intermediate is
in each signature's certificates, and the sql: format is NSS's default. poppler 22.12 does not
verify document timestamps (ETSI.RFC3161): it lists them but says it cannot validate that type.
"""

import shutil
import subprocess

import pytest
from pyhanko.sign import signers

from signing.pades import SignatoryField, archive_timestamp, certify, prepare_for_signing
from signing.pki import GOOD_SIGNERS, Signer, running_pki
from tests.signing.conftest import PASSWORD, sign_as

pytestmark = pytest.mark.skipif(
    shutil.which("pdfsig") is None or shutil.which("certutil") is None,
    reason="pdfsig (poppler-utils) or certutil (libnss3-tools) not installed",
)

# Fifteen signatories, each with a certificate of their own.
SIGNATORIES = [SignatoryField(f"Firmatario {n}", "Delegato", f"Ente {n}") for n in range(1, 16)]
EXTRA_SIGNERS = [
    Signer(f"firmatario-{n}", f"Firmatario {n}", "Firmatario", str(n), f"FRMFMT80A{n:02d}H501Z")
    for n in range(6, 16)
]
LABELS = list(GOOD_SIGNERS) + [signer.label for signer in EXTRA_SIGNERS]
FIELDS = [f"Firma_{n}_firmatario-{n}" for n in range(1, 16)]
VALID = "Signature is Valid."
TRUSTED = "Certificate is Trusted."


def run(*args) -> str:
    result = subprocess.run(  # noqa: S603 - fixed programs, files we wrote
        args, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A PKI of this module's own, with ten more signers, running on loopback."""
    with running_pki(tmp_path_factory.mktemp("pki15"), extra_signers=EXTRA_SIGNERS) as running:
        yield running


@pytest.fixture(scope="module")
def nss_db(pki, tmp_path_factory):
    """An NSS database that trusts the test PKI's root for S/MIME (signatures)."""
    folder = tmp_path_factory.mktemp("nss")
    root = folder / "root.pem"
    root.write_bytes(pki.cert_pem("root"))
    run("certutil", "-N", "-d", f"sql:{folder}", "--empty-password")
    run(
        "certutil",
        "-A",
        "-d",
        f"sql:{folder}",
        "-n",
        "Stipula Demo Root CA",
        "-t",
        ",C,",
        "-i",
        str(root),
    )
    return folder


@pytest.fixture(scope="module")
def signed_by_fifteen(pki, approved_pdf):
    """The approved PDF prepared for 15 signatories, certified by the seal, signed by all."""
    seal = signers.SimpleSigner.load_pkcs12_data(
        pki.pkcs12("seal", PASSWORD), (), passphrase=PASSWORD.encode()
    )
    pdf = certify(prepare_for_signing(approved_pdf, SIGNATORIES), signer=seal)
    for index, (signatory, label) in enumerate(zip(SIGNATORIES, LABELS, strict=True), 1):
        pdf = sign_as(pki, pdf, index, signatory, label)
    return pdf


def pdfsig(pdf: bytes, nss_db, tmp_path) -> dict[str, dict[str, str]]:
    """pdfsig's report, per signature field: its "key: value" lines."""
    path = tmp_path / "firmato.pdf"
    path.write_bytes(pdf)
    out = run("pdfsig", "-no-ocsp", "-nssdir", f"sql:{nss_db}", str(path))
    blocks = {}
    for chunk in out.split("\nSignature #")[1:]:
        lines = dict(
            line.strip(" -").split(": ", 1) for line in chunk.splitlines()[1:] if ": " in line
        )
        blocks[lines["Signature Field Name"]] = lines
    return blocks


def assert_valid_and_trusted(blocks: dict[str, dict[str, str]]) -> None:
    assert set(FIELDS + ["Sigillo"]) <= set(blocks)
    for name in FIELDS + ["Sigillo"]:
        block = blocks[name]
        assert block["Signature Type"] == "ETSI.CAdES.detached", name
        assert block["Signature Validation"] == VALID, name
        assert block["Certificate Validation"] == TRUSTED, name
    assert (
        "serialNumber=TINIT-RSSMRA80A01H501U" in blocks[FIELDS[0]]["Signer full Distinguished Name"]
    )
    assert blocks["Sigillo"]["Signer Certificate Common Name"] == "Sigillo elettronico di Stipula"


def test_pdfsig_finds_every_signature_valid_and_trusted(signed_by_fifteen, nss_db, tmp_path):
    blocks = pdfsig(signed_by_fifteen, nss_db, tmp_path)
    assert len(blocks) == 16
    assert_valid_and_trusted(blocks)


def test_after_archiving_pdfsig_still_finds_every_signature_valid_and_trusted(
    pki, signed_by_fifteen, nss_db, tmp_path
):
    archived = archive_timestamp(
        signed_by_fifteen, timestamper_url=pki.tsa_url, trust_roots=[pki.root_der]
    )
    blocks = pdfsig(archived, nss_db, tmp_path)
    assert len(blocks) == 17
    assert_valid_and_trusted(blocks)
    stamp = blocks["Marca_temporale_1"]
    assert stamp["Signer Certificate Common Name"] == "Stipula Demo Time Stamping Authority"


def test_with_the_root_not_trusted_for_signatures_pdfsig_does_not_trust_the_signers(
    pki, signed_by_fifteen, tmp_path
):
    """The trusted line above comes from the NSS trust flags, not from pdfsig alone."""
    folder = tmp_path / "nss-untrusted"
    folder.mkdir()
    root = folder / "root.pem"
    root.write_bytes(pki.cert_pem("root"))
    run("certutil", "-N", "-d", f"sql:{folder}", "--empty-password")
    run("certutil", "-A", "-d", f"sql:{folder}", "-n", "Root", "-t", "C,,C", "-i", str(root))
    blocks = pdfsig(signed_by_fifteen, folder, tmp_path)
    assert len(blocks) == 16
    for block in blocks.values():
        assert block["Signature Validation"] == VALID
        assert block["Certificate Validation"] == "Certificate issuer isn't Trusted."
