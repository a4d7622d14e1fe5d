import stat
import urllib.request

import pytest
from asn1crypto import crl, x509
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core.management import call_command

from signing.pades import fiscal_code_of
from signing.pki import BAD_SIGNERS, GOOD_SIGNERS, default_pki_dir


def test_default_directory_follows_the_setting(settings, tmp_path):
    settings.STIPULA_PKI_DIR = tmp_path / "elsewhere"
    assert default_pki_dir() == tmp_path / "elsewhere"
    del settings.STIPULA_PKI_DIR
    assert default_pki_dir() == settings.DATA_DIR / "pki"


def test_private_keys_are_owner_only(pki_dir, pki):
    keys = list((pki_dir / "keys").glob("*.key.pem"))
    assert len(keys) == 15
    for path in keys:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("label", GOOD_SIGNERS)
def test_signer_certificates_are_italian_style(pki, label):
    cert = pki.cert(label)
    subject = cert.subject.native
    assert subject["serial_number"].startswith("TINIT-")
    assert fiscal_code_of(cert) == subject["serial_number"][6:]
    assert len(fiscal_code_of(cert)) == 16
    assert subject["common_name"] == f"{subject['given_name']} {subject['surname']}"
    assert cert.key_usage_value.native == {"digital_signature", "non_repudiation"}
    assert cert.issuer == pki.cert("interm").subject


def test_tsa_certificate_has_the_time_stamping_eku(pki):
    cert = pki.cert("tsa")
    assert cert.extended_key_usage_value.native == ["time_stamping"]
    assert cert.key_usage_value.native == {"digital_signature"}


def test_bad_certificates_are_bad_in_the_intended_way(pki):
    assert pki.cert("expired").not_valid_after.year == 2021
    assert pki.cert("not-yet-valid").not_valid_before.year == 2046
    assert "non_repudiation" not in pki.cert("no-nonrep").key_usage_value.native
    assert pki.cert("rogue-signer").issuer == pki.cert("rogue-root").subject
    assert pki.cert("rogue-root").self_signed == "maybe"


def test_crl_served_on_loopback_lists_the_revoked_certificate(pki):
    url = pki.cert("revoked").crl_distribution_points[0]["distribution_point"].native[0]
    assert url.startswith(pki.base_url)
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback test server
        revoked = crl.CertificateList.load(response.read())
    serials = {
        entry["user_certificate"].native
        for entry in revoked["tbs_cert_list"]["revoked_certificates"]
    }
    assert pki.cert("revoked").serial_number in serials
    assert pki.cert("rossi").serial_number not in serials


def test_signer_certificates_point_at_the_running_ocsp_responder(pki):
    assert pki.cert("rossi").ocsp_urls == [f"{pki.base_url}/stipula/ocsp/interm"]


def test_pkcs12_export_needs_its_password(pki):
    data = pki.pkcs12("verdi", "una password")
    key, cert, chain = pkcs12.load_key_and_certificates(data, b"una password")
    assert key is not None
    assert (
        x509.Certificate.load(cert.public_bytes(encoding=_der())).subject
        == pki.cert("verdi").subject
    )
    assert len(chain) == 2
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(data, b"sbagliata")


def _der():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def test_root_is_stable_across_runs(pki, pki_dir):
    from signing.pki import LocalPKI

    other = LocalPKI(pki_dir=pki_dir, base_url="http://127.0.0.1:1")
    assert other.root_der == pki.root_der
    assert other.cert_der("rossi") != pki.cert_der("rossi")  # the URLs differ


def test_demo_pki_command_writes_certificates_and_pkcs12(tmp_path, capsys):
    call_command("demo_pki", dir=tmp_path, password="demo")
    out = capsys.readouterr().out
    assert "root.cert.pem" in out
    assert (tmp_path / "certs" / "root.cert.pem").read_bytes().startswith(b"-----BEGIN CERT")
    for label in GOOD_SIGNERS + BAD_SIGNERS:
        data = (tmp_path / "pkcs12" / f"{label}.p12").read_bytes()
        assert pkcs12.load_key_and_certificates(data, b"demo")[0] is not None
