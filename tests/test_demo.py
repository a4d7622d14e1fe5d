import pytest
from django.core.management import call_command

from agreements.models import Agreement, AgreementState
from audit.models import AuditAction, AuditEvent
from audit.selectors import verify_chain
from signing.models import Signature

pytestmark = pytest.mark.django_db


def pdf_text(version):
    from django.core.files.storage import default_storage
    from pypdf import PdfReader

    with default_storage.open(version.pdf.name, "rb") as handle:
        return "".join(page.extract_text() for page in PdfReader(handle).pages)


def test_demo_walks_the_patto_until_signing_and_verifies_the_trail(capsys):
    call_command("demo", language="en")

    out = capsys.readouterr().out
    agreement = Agreement.objects.get()
    assert agreement.state == AgreementState.SIGNATURE
    assert agreement.parties.count() == 15
    assert agreement.parties.order_by("-position").first().organisation.name == (
        "Conferenza dei Sindaci della Versilia"
    )
    assert agreement.approved_version.number == 4
    sources = [v.source for v in agreement.versions.order_by("number")]
    assert sources == ["template", "template", "proposal", "upload"]
    assert agreement.rounds.count() == 2 and not agreement.rounds.filter(closed_at=None)
    assert "Forum permanente" in pdf_text(agreement.approved_version)
    # It stops where signing begins and fakes nothing.
    assert Signature.objects.count() == 0
    assert "The demo stops here" in out
    assert "Audit chain OK" in out
    assert AuditEvent.objects.filter(action=AuditAction.ACTION_REFUSED).count() == 1
    assert verify_chain().ok


def test_demo_can_run_twice(capsys):
    call_command("demo", language="en")
    call_command("demo", language="en")
    assert Agreement.objects.filter(state=AgreementState.SIGNATURE).count() == 2
    assert verify_chain().ok
