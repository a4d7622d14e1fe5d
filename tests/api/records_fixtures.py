"""Fixtures of the signing, registry and audit API tests, imported explicitly by those modules.

Everything is real, as in tests/signing and tests/registry: agreements built and approved by the
services, the local PKI (certomancer on loopback: TSA, OCSP, CRLs), SoftHSM2 tokens for remote
signing. The services read the TSA and the trust roots from the settings, as in production.
"""

import pytest
from django.core.cache import cache

from audit.auditor import CHAIN_STATUS_KEY
from tests.factories import make_user
from tests.registry.conftest import register, signed_agreement  # noqa: F401 - fixtures
from tests.signing.conftest import PASSWORD, pki, pki_dir  # noqa: F401 - fixtures
from tests.signing.test_pkcs11 import softhsm_dir  # noqa: F401 - fixture
from tests.signing.test_services import make_signing_setup

__all__ = ["PASSWORD"]


@pytest.fixture
def signing_settings(settings, pki, tmp_path):  # noqa: F811 - the pki fixture
    """The services' TSA and trust roots from the settings: the local PKI's TSA, and a trust
    folder with its root only. Audit exports and the development seal under a data folder."""
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "stipula-demo-root.pem").write_bytes(pki.cert_pem("root"))
    settings.STIPULA_TSA_URL = pki.tsa_url
    settings.STIPULA_TRUST_ROOTS_DIR = str(trust)
    settings.DATA_DIR = tmp_path / "data"
    cache.delete(CHAIN_STATUS_KEY)
    return settings


@pytest.fixture
def setup(pki, officer, signing_settings):  # noqa: F811 - the pki fixture
    """An approved agreement in «signature» (its PDF to sign prepared by the approval) whose two
    signatories, mrossi and lverdi, hold the PKI's rossi and verdi certificates."""
    return make_signing_setup(pki, officer)


@pytest.fixture
def administrator(db):
    return make_user("registry-admin", "administrator", first_name="Anna", last_name="Sistemi")


@pytest.fixture
def registrar(db):
    return make_user("registrar", "registrar", first_name="Giovanna", last_name="Protocolli")


@pytest.fixture
def auditor(db):
    return make_user("auditor", "auditor", first_name="Aurora", last_name="Revisori")
