"""Remote signing with a real SoftHSM2 token holding a signer's key from the test PKI."""

import hashlib
import io
import shutil

import pkcs11
import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    pkcs12,
)
from django.core.management import call_command
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields

from signing.errors import FieldNotFound, WrongPassword
from signing.pades import PASSED, field_name_for, fiscal_code_of, validate
from signing.pkcs11 import (
    DEFAULT_MODULE,
    TokenError,
    TokenNotFound,
    WrongPin,
    init_token,
    sign_pkcs11,
    token_labels,
    use_softhsm_dir,
)
from tests.signing.conftest import PASSWORD, SIGNER_LABELS, sign_as

pytestmark = pytest.mark.skipif(
    shutil.which("softhsm2-util") is None, reason="SoftHSM2 (Debian package softhsm2) is missing"
)

PIN = "246810"
SO_PIN = "13579111"


def key_and_certs(pki, label):
    key, cert, chain = pkcs12.load_key_and_certificates(
        pki.pkcs12(label, PASSWORD), PASSWORD.encode()
    )
    return (
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
        cert.public_bytes(Encoding.DER),
        [c.public_bytes(Encoding.DER) for c in chain],
    )


def make_token(pki, softhsm_dir, label, pin=PIN):
    key, cert, chain = key_and_certs(pki, label)
    init_token(
        label=label,
        so_pin=SO_PIN,
        user_pin=pin,
        key_pem_or_der=key,
        cert_der=cert,
        chain_der=chain,
        softhsm_conf_dir=softhsm_dir,
    )


@pytest.fixture
def softhsm_dir(tmp_path, monkeypatch):
    """A SoftHSM2 configuration and token store of our own, loaded afresh for each test."""
    directory = tmp_path / "softhsm"
    pkcs11.unload(DEFAULT_MODULE)
    monkeypatch.delenv("SOFTHSM2_CONF", raising=False)  # restored after the test
    use_softhsm_dir(directory)
    yield directory
    pkcs11.unload(DEFAULT_MODULE)


@pytest.fixture
def verdi_token(pki, softhsm_dir):
    """Luigi Verdi's (the second signatory's) key and certificate in a token labelled "verdi"."""
    make_token(pki, softhsm_dir, "verdi")
    return "verdi"


def sign_second_field(pki, pdf, signatories, *, pin=PIN, label="verdi"):
    return sign_pkcs11(
        pdf,
        field_name=field_name_for(2, signatories[1]),
        token_label=label,
        pin=pin,
        timestamper_url=pki.tsa_url,
        party=signatories[1].party,
    )


def test_token_store_is_ours_not_the_system_one(softhsm_dir):
    conf = (softhsm_dir / "softhsm2.conf").read_text()
    assert f"directories.tokendir = {softhsm_dir / 'tokens'}" in conf
    assert "/var/lib/softhsm" not in conf


def test_sign_with_token_passes_at_b_t_with_the_signer_fiscal_code(
    pki, prepared, prepared_sha256, signatories, verdi_token
):
    signed = sign_second_field(pki, prepared, signatories)

    assert signed.startswith(prepared)  # a new incremental update (RULES.md S4)
    [report] = validate(signed, trust_roots=[pki.root_der], approved_sha256=prepared_sha256)
    assert report.indication == PASSED, report.problems
    assert report.field_name == "Firma_2_luigi-verdi"
    cert = pki.cert("verdi")
    assert report.fiscal_code == fiscal_code_of(cert) != ""
    assert report.signer_fingerprint_sha256 == cert.sha256.hex()
    assert report.level == "B-T"
    assert report.timestamp_token
    assert report.covers_approved is True
    # A visible appearance was drawn in the field.
    reader = PdfFileReader(io.BytesIO(signed))
    [(_name, _value, ref)] = [
        f for f in fields.enumerate_sig_fields(reader) if f[0] == "Firma_2_luigi-verdi"
    ]
    assert "/AP" in ref.get_object()


def test_wrong_pin_is_refused_clearly_and_the_pdf_is_unchanged(
    pki, prepared, prepared_sha256, signatories, verdi_token
):
    wrong_pin = "999999"
    with pytest.raises(WrongPin) as excinfo:
        sign_second_field(pki, prepared, signatories, pin=wrong_pin)

    assert isinstance(excinfo.value, WrongPassword)
    assert excinfo.value.code == "wrong_pin"
    assert str(excinfo.value).startswith("The PIN is wrong")
    assert wrong_pin not in str(excinfo.value)
    assert wrong_pin not in repr(excinfo.value.details)
    assert hashlib.sha256(prepared).hexdigest() == prepared_sha256
    # The right PIN still works afterwards.
    signed = sign_second_field(pki, prepared, signatories)
    [report] = validate(signed, trust_roots=[pki.root_der], approved_sha256=prepared_sha256)
    assert report.indication == PASSED, report.problems


def test_unknown_token_is_refused_clearly(pki, prepared, signatories, verdi_token):
    with pytest.raises(TokenNotFound, match="token was not found"):
        sign_second_field(pki, prepared, signatories, label="nessuno")


def test_missing_field_is_refused_before_the_token_is_opened(pki, prepared, verdi_token):
    with pytest.raises(FieldNotFound):
        sign_pkcs11(prepared, field_name="Firma_9_nessuno", token_label="verdi", pin=PIN)


def test_a_token_label_cannot_be_initialised_twice(pki, softhsm_dir, verdi_token):
    assert token_labels(softhsm_dir) == ["verdi"]
    with pytest.raises(TokenError, match="exists already"):
        make_token(pki, softhsm_dir, "verdi")


def test_pkcs12_then_pkcs11_signatures_both_pass(
    pki, prepared, prepared_sha256, signatories, verdi_token
):
    first = sign_as(pki, prepared, 1, signatories[0], SIGNER_LABELS[0])
    second = sign_second_field(pki, first, signatories)

    assert second.startswith(first)
    reports = validate(second, trust_roots=[pki.root_der], approved_sha256=prepared_sha256)
    assert [r.field_name for r in reports] == ["Firma_1_mario-rossi", "Firma_2_luigi-verdi"]
    for report in reports:
        assert report.indication == PASSED, report.problems
        assert report.level == "B-T"
        assert report.covers_approved is True
    assert [r.fiscal_code for r in reports] == [
        fiscal_code_of(pki.cert("rossi")),
        fiscal_code_of(pki.cert("verdi")),
    ]


def test_init_tokens_command_creates_one_token_per_signer(pki_dir, tmp_path, capsys):
    directory = tmp_path / "hsm"
    call_command(
        "init_tokens", dir=directory, pki_dir=pki_dir, signer=["rossi", "verdi"], pin="4321"
    )
    out = capsys.readouterr().out
    assert "Token 'rossi' created." in out
    assert "Token 'verdi' created." in out
    assert "'4321'" in out
    assert sorted(token_labels(directory)) == ["rossi", "verdi"]

    call_command("init_tokens", dir=directory, pki_dir=pki_dir, signer=["rossi"])
    assert "exists already" in capsys.readouterr().out
    assert sorted(token_labels(directory)) == ["rossi", "verdi"]
