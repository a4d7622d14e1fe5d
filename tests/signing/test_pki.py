import http.server
import shutil
import socket
import stat
import threading
import urllib.request

import pytest
from asn1crypto import crl, x509
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core.management import call_command

from agreements.demo_data import SIGNATORY_FISCAL_CODES, pki_signers
from signing.errors import SigningError
from signing.pades import fiscal_code_of
from signing.pki import (
    BAD_SIGNERS,
    GOOD_SIGNERS,
    TRUST_ROOT_FILENAME,
    LocalPKI,
    default_pki_dir,
    demo_pki_port,
    demo_pki_services,
    running_pki,
)

SILVIA = ("presidente.cna", "Silvia Barsotti", "Silvia", "Barsotti", "BRSSLV75H70B455R")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_keys(pki_dir, target):
    """A PKI directory with the session PKI's keys, so that only new signers' keys are made."""
    shutil.copytree(pki_dir / "keys", target / "keys", dirs_exist_ok=True)
    return target


@pytest.fixture(scope="module")
def demo_keys(pki_dir, tmp_path_factory):
    """A PKI directory with the keys of the demo's signatories too (made once: it is slow)."""
    directory = copy_keys(pki_dir, tmp_path_factory.mktemp("demo-pki"))
    LocalPKI(pki_dir=directory, base_url="http://127.0.0.1:1", extra_signers=pki_signers())
    return directory


def test_default_directory_follows_the_setting(settings, tmp_path):
    settings.STIPULA_PKI_DIR = tmp_path / "elsewhere"
    assert default_pki_dir() == tmp_path / "elsewhere"
    del settings.STIPULA_PKI_DIR
    assert default_pki_dir() == settings.DATA_DIR / "pki"


def test_private_keys_are_owner_only(pki_dir, pki):
    keys = list((pki_dir / "keys").glob("*.key.pem"))
    # Other tests may have added signers to the session's PKI directory.
    assert len(keys) >= 15
    assert {f"{label}.key.pem" for label in GOOD_SIGNERS + BAD_SIGNERS} <= {k.name for k in keys}
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


def test_demo_pki_command_writes_certificates_and_pkcs12(demo_keys, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STIPULA_DEMO_PKI_PORT", "8999")
    call_command("demo_pki", dir=copy_keys(demo_keys, tmp_path), password="demo")
    out = capsys.readouterr().out
    assert "root.cert.pem" in out
    assert (tmp_path / "certs" / "root.cert.pem").read_bytes().startswith(b"-----BEGIN CERT")
    for label in GOOD_SIGNERS + BAD_SIGNERS:
        data = (tmp_path / "pkcs12" / f"{label}.p12").read_bytes()
        assert pkcs12.load_key_and_certificates(data, b"demo")[0] is not None
    # Every demo signatory too, with a certificate pointing at the demo's fixed port.
    for label, *_names, fiscal_code in pki_signers():
        path = tmp_path / "pkcs12" / f"{label}.p12"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        _key, cert, _chain = pkcs12.load_key_and_certificates(path.read_bytes(), b"demo")
        cert = x509.Certificate.load(cert.public_bytes(encoding=_der()))
        assert fiscal_code_of(cert) == fiscal_code
        assert cert.ocsp_urls == ["http://127.0.0.1:8999/stipula/ocsp/interm"]


# The demo's fixed port ------------------------------------------------------------------------


def test_the_demo_port_is_8180_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.delenv("STIPULA_DEMO_PKI_PORT", raising=False)
    assert demo_pki_port() == 8180
    monkeypatch.setenv("STIPULA_DEMO_PKI_PORT", "18180")
    assert demo_pki_port() == 18180


def test_services_on_a_fixed_port_give_the_same_certificates_every_run(pki_dir):
    port = free_port()
    with running_pki(pki_dir, port=port) as first:
        assert first.base_url == f"http://127.0.0.1:{port}"
        assert first.cert("rossi").ocsp_urls == [f"http://127.0.0.1:{port}/stipula/ocsp/interm"]
        url = first.cert("rossi").crl_distribution_points[0]["distribution_point"].native[0]
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            assert crl.CertificateList.load(response.read()).issuer == first.cert("interm").subject
        rossi = first.cert_der("rossi")
    # Stopped and started again on the same port (a later run of the demo, scripts/serve): the
    # certificates already handed out and the signatures made with them are still good.
    with running_pki(pki_dir, port=port) as second:
        assert second.cert_der("rossi") == rossi


def test_the_demo_services_join_the_same_pki_already_running_on_their_port(pki_dir):
    port = free_port()
    with running_pki(pki_dir, port=port), demo_pki_services(pki_dir, port=port) as (pki, started):
        assert started is False
        assert pki.base_url == f"http://127.0.0.1:{port}"
    with demo_pki_services(pki_dir, port=port) as (pki, started):
        assert started is True


def test_the_demo_services_refuse_a_port_taken_by_something_else(pki_dir):
    with http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler) as other:
        thread = threading.Thread(target=other.serve_forever, daemon=True)
        thread.start()
        try:
            # Signing against certificates whose services nobody answers for would only fail
            # later, at validation: say so now, and how to choose another port.
            with pytest.raises(SigningError, match="STIPULA_DEMO_PKI_PORT"):
                with demo_pki_services(pki_dir, port=other.server_port):
                    pass
        finally:
            other.shutdown()


# Extra signers (the demo's signatories) -----------------------------------------------------


def test_an_extra_signer_gets_an_italian_qualified_style_certificate(pki_dir, pki, tmp_path):
    directory = copy_keys(pki_dir, tmp_path / "pki")
    extended = LocalPKI(pki_dir=directory, base_url=pki.base_url, extra_signers=[SILVIA])

    cert = extended.cert("presidente.cna")
    subject = cert.subject.native
    assert subject["serial_number"] == "TINIT-BRSSLV75H70B455R"
    assert fiscal_code_of(cert) == "BRSSLV75H70B455R"
    assert (subject["common_name"], subject["given_name"], subject["surname"]) == (
        "Silvia Barsotti",
        "Silvia",
        "Barsotti",
    )
    assert cert.key_usage_value.native == {"digital_signature", "non_repudiation"}
    assert cert.issuer == pki.cert("interm").subject
    assert cert.ocsp_urls == pki.cert("rossi").ocsp_urls
    assert stat.S_IMODE((directory / "keys" / "presidente.cna.key.pem").stat().st_mode) == 0o600
    # Added after the configured certificates: those keep their serial numbers and bytes.
    for label in GOOD_SIGNERS + BAD_SIGNERS + ("interm", "tsa"):
        assert extended.cert_der(label) == pki.cert_der(label)
    assert len({extended.cert(label).serial_number for label in (*GOOD_SIGNERS, SILVIA[0])}) == 6
    # Its own certificate does not depend on the other extra signers either.
    other = ("ad.clap", "Stefano Puccinelli", "Stefano", "Puccinelli", "PCCSFN67R27E715I")
    both = LocalPKI(pki_dir=directory, base_url=pki.base_url, extra_signers=[other, SILVIA])
    assert both.cert_der("presidente.cna") == extended.cert_der("presidente.cna")


def test_an_extra_signer_cannot_take_an_existing_label(pki_dir, tmp_path):
    with pytest.raises(ValueError, match="rossi"):
        LocalPKI(
            pki_dir=copy_keys(pki_dir, tmp_path / "pki"),
            base_url="http://127.0.0.1:1",
            extra_signers=[("rossi", "Mario Rossi", "Mario", "Rossi", "RSSMRA80A01H501U")],
        )


def test_every_demo_signatory_has_a_certificate_with_their_fiscal_code(demo_keys):
    demo = LocalPKI(
        pki_dir=demo_keys,
        base_url="http://127.0.0.1:8180",
        extra_signers=pki_signers(),
    )
    for label, common_name, *_names, fiscal_code in pki_signers():
        cert = demo.cert(label)
        assert cert.subject.native["serial_number"] == f"TINIT-{fiscal_code}"
        assert cert.subject.native["common_name"] == common_name
        assert SIGNATORY_FISCAL_CODES[label] == fiscal_code


def test_the_trust_root_is_written_as_pem_into_the_trust_roots_folder(pki, tmp_path):
    path = pki.write_trust_root(tmp_path / "trust")
    assert path == tmp_path / "trust" / TRUST_ROOT_FILENAME
    assert path.read_bytes() == pki.cert_pem("root")
    assert pki.write_trust_root(tmp_path / "trust") == path  # again: the same file, unchanged


@pytest.mark.skipif(shutil.which("softhsm2-util") is None, reason="needs SoftHSM2 (softhsm2)")
def test_demo_tokens_are_kept_while_they_hold_the_pki_certificate(pki_dir, tmp_path):
    from signing.management.commands.init_tokens import ensure_tokens
    from signing.pkcs11 import token_labels

    directory = copy_keys(pki_dir, tmp_path / "pki")
    hsm = tmp_path / "softhsm"
    at_8180 = LocalPKI(directory, "http://127.0.0.1:8180", extra_signers=[SILVIA])
    assert ensure_tokens(at_8180, ["presidente.cna"], softhsm_dir=hsm) == [
        ("presidente.cna", "created")
    ]
    # A second run of the demo on the same port finds the token as it left it.
    assert ensure_tokens(at_8180, ["presidente.cna"], softhsm_dir=hsm, replace_stale=True) == [
        ("presidente.cna", "kept")
    ]
    # On another port the certificate differs (it embeds the services' URLs): the token's
    # certificate would send validation to a port where nothing answers.
    at_8181 = LocalPKI(directory, "http://127.0.0.1:8181", extra_signers=[SILVIA])
    assert ensure_tokens(at_8181, ["presidente.cna"], softhsm_dir=hsm) == [
        ("presidente.cna", "exists")
    ]
    assert ensure_tokens(at_8181, ["presidente.cna"], softhsm_dir=hsm, replace_stale=True) == [
        ("presidente.cna", "replaced")
    ]
    assert token_labels(hsm) == ["presidente.cna"]
