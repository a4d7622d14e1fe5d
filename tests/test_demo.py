"""The demo, run as a newcomer runs it: the Patto from the first draft to the last signature.

Everything is real: LibreOffice, the local PKI's timestamp authority, OCSP responder and CRLs on
a loopback port, SoftHSM2 tokens, pyHanko. The demo takes a few minutes, so one test runs it once
and checks every outcome; re-running it is checked by hand and, piece by piece, in
tests/signing/test_pki.py (services already running, tokens kept).
"""

import hashlib
import re
import socket
from collections import Counter

import pkcs11
import pytest
from django.core.management import call_command

from agreements import demo_data
from agreements.models import Agreement, AgreementState
from agreements.storage import read_bytes
from audit.models import AuditAction, AuditEvent
from audit.selectors import verify_chain
from signing import pades
from signing.models import RemoteSigningKey, Signature
from signing.pkcs11 import DEFAULT_MODULE
from signing.pki import DEMO_PKCS12_PASSWORD, TRUST_ROOT_FILENAME, demo_pki_services

pytestmark = pytest.mark.django_db

# Codice fiscale: the check character's values for characters in odd (1st, 3rd...) positions.
_ODD = dict(
    zip(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        [1, 0, 5, 7, 9, 13, 15, 17, 19, 21] * 2
        + [2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23],
        strict=True,
    )
)


def _name_code(name: str, *, first_name: bool) -> str:
    letters = [c for c in name.upper() if c.isalpha()]
    consonants = [c for c in letters if c not in "AEIOU"]
    if first_name and len(consonants) >= 4:
        consonants = [consonants[0], consonants[2], consonants[3]]
    return ("".join(consonants + [c for c in letters if c in "AEIOU"]) + "XXX")[:3]


def _check_character(first15: str) -> str:
    total = sum(
        _ODD[c] if i % 2 == 0 else (int(c) if c.isdigit() else ord(c) - ord("A"))
        for i, c in enumerate(first15)
    )
    return chr(ord("A") + total % 26)


@pytest.mark.parametrize("row", demo_data.PARTIES, ids=lambda row: row[4])
def test_every_signatory_has_a_well_formed_fiscal_code_of_their_own(row):
    _name, _kind, _cf, _vat, username, first, last, _title, _act = row
    code = demo_data.SIGNATORY_FISCAL_CODES[username]
    assert re.fullmatch(r"[A-Z]{6}\d{2}[ABCDEHLMPRST]\d{2}[A-Z]\d{3}[A-Z]", code)
    assert code[:3] == _name_code(last, first_name=False)
    assert code[3:6] == _name_code(first, first_name=True)
    assert code[15] == _check_character(code[:15])
    assert len(set(demo_data.SIGNATORY_FISCAL_CODES.values())) == len(demo_data.PARTIES)


@pytest.fixture
def demo_environment(settings, tmp_path, monkeypatch):
    """The demo's PKI, tokens and trust roots in this test's folder, its services on a free port
    (a developer may have scripts/serve running on 8180)."""
    settings.STIPULA_PKI_DIR = tmp_path / "pki"
    settings.DATA_DIR = tmp_path
    settings.STIPULA_SOFTHSM_DIR = str(tmp_path / "softhsm")
    settings.STIPULA_TRUST_ROOTS_DIR = str(tmp_path / "trust")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("STIPULA_DEMO_PKI_PORT", str(port))
    # The PKCS#11 module reads SOFTHSM2_CONF when loaded: load it afresh for the demo's tokens.
    monkeypatch.delenv("SOFTHSM2_CONF", raising=False)  # restored after the test
    pkcs11.unload(DEFAULT_MODULE)
    yield tmp_path
    pkcs11.unload(DEFAULT_MODULE)


def test_demo_walks_the_patto_to_registered_and_verifies_the_trail(
    capsys, demo_environment, settings
):
    call_command("demo", language="en")

    out = capsys.readouterr().out
    agreement = Agreement.objects.get()
    assert agreement.parties.count() == 15
    assert agreement.parties.order_by("-position").first().organisation.name == (
        "Conferenza dei Sindaci della Versilia"
    )
    assert agreement.approved_version.number == 4
    sources = [v.source for v in agreement.versions.order_by("number")]
    assert sources == ["template", "template", "proposal", "upload"]
    assert agreement.rounds.count() == 2 and not agreement.rounds.filter(closed_at=None)
    assert AuditEvent.objects.filter(action=AuditAction.ACTION_REFUSED).count() == 1

    # Registered, after the last signature, with the impronta of the signed PDF (RULES.md P1).
    assert agreement.state == AgreementState.REGISTERED
    registration = agreement.registration
    assert registration.register.code == "REP-CONV" and registration.number == 1
    assert registration.public_document

    # Signed by all fifteen, five each way, every signature validated PASSED and matched to its
    # signatory by the fiscal code in the certificate (RULES.md S8).
    signatures = list(
        Signature.objects.filter(signatory__party__agreement=agreement)
        .select_related("signatory__user")
        .order_by("pk")
    )
    assert len(signatures) == 15
    assert {s.indication for s in signatures} == {Signature.Indication.PASSED}
    assert [s.method for s in signatures] == list(demo_data.SIGNING_WAYS)
    assert Counter(s.method for s in signatures) == {"pkcs11": 5, "pkcs12": 5, "external": 5}
    for signature in signatures:
        code = demo_data.SIGNATORY_FISCAL_CODES[signature.signatory.user.username]
        assert signature.signatory.fiscal_code == code
        assert signature.report["fiscal_code"] == code
    assert {k.user.username for k in RemoteSigningKey.objects.all()} == set(
        demo_data.REMOTE_SIGNING_USERS
    )

    # The final PDF: a document timestamp over everything (B-LTA), and every approval signature
    # still PASSED when pyHanko validates it against the demo root the demo installed, with the
    # PKI's services started again on the same port, as scripts/serve does.
    document = agreement.signing_document
    final = read_bytes(document.current_pdf.name)
    assert hashlib.sha256(final).hexdigest() == document.current_sha256
    assert registration.document_sha256 == document.current_sha256
    assert document.level == "B-LTA"
    root = (demo_environment / "trust" / TRUST_ROOT_FILENAME).read_bytes()
    with demo_pki_services(extra_signers=demo_data.pki_signers()) as (pki, started):
        assert started
        assert root == pki.cert_pem("root")
        reports = pades.validate(
            final, trust_roots=[root], approved_sha256=document.prepared_sha256
        )
    approvals = [r for r in reports if r.field_name in document.fields.values()]
    assert len(approvals) == 15
    assert [(r.indication, r.covers_approved) for r in approvals] == [("PASSED", True)] * 15
    assert [r.fiscal_code for r in approvals] == [
        demo_data.SIGNATORY_FISCAL_CODES[row[4]] for row in demo_data.PARTIES
    ]

    # What the user is told: one line per signature, the outcome, and what to try next.
    assert out.count(": Passed, B-") == 15
    assert "State: Signed" in out
    assert f"Number {registration.label} of " in out and "state: Registered" in out
    assert registration.document_sha256_base64 in out
    assert re.search(r"Segnatura XML \(AgID v3\.0\), sealed by .+: valid", out)
    receipt = settings.DATA_DIR / "demo" / f"ricevuta-REP-CONV-0000001-{registration.year}.pdf"
    assert receipt.read_bytes().startswith(b"%PDF")
    assert f"/pubblico/REP-CONV/{registration.year}/1/" in out
    assert document.current_sha256 in out and "level B-LTA" in out
    assert "Remote signing key (PKCS#11)" in out and "Signed outside Stipula" in out
    assert f"password {DEMO_PKCS12_PASSWORD}" in out
    p12 = demo_environment / "pki" / "pkcs12" / "presidente.conferenza.p12"
    assert str(p12.parent) in out
    assert p12.exists()
    assert "Audit chain OK" in out
    assert verify_chain().ok
