"""Fixtures of the audit tests: the local PKI (its seal and TSA) and a log written by services.

The PKI is the one of tests/signing (certomancer on loopback: a real RFC 3161 server); its
``seal`` certificate is the system seal, loaded from a PKCS#12 file as production loads it.
"""

import pytest
from django.db import transaction

from audit.models import AuditAction
from audit.services import record_event
from tests.signing.conftest import pki, pki_dir  # noqa: F401 - session fixtures reused

SEAL_PASSWORD = "sigillo-di-prova"


@pytest.fixture(scope="session")
def seal_file(pki, tmp_path_factory):  # noqa: F811 - the pki fixture
    path = tmp_path_factory.mktemp("audit-seal") / "sigillo.p12"
    path.write_bytes(pki.pkcs12("seal", SEAL_PASSWORD))
    return path


@pytest.fixture
def sealed(settings, seal_file, pki):  # noqa: F811 - the pki fixture
    """Checkpoints are signed with the PKI's seal and timestamped by its TSA; returns the PKI."""
    settings.STIPULA_SEAL_PKCS12 = str(seal_file)
    settings.STIPULA_SEAL_PASSWORD = SEAL_PASSWORD
    settings.STIPULA_TSA_URL = pki.tsa_url
    return pki


def write_events(count: int, *, agreement_id=None, action=AuditAction.AGREEMENT_UPDATED):
    """``count`` events through record_event, in one transaction (a system job's events)."""
    with transaction.atomic():
        return [
            record_event(
                actor=None,
                action=action,
                object_type="test",
                object_id=str(i),
                agreement_id=agreement_id,
                payload={"i": i, "testo": 'Unità & «città» "virgolette"\n'},
            )
            for i in range(count)
        ]
