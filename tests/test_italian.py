"""Italian is the default language: messages a user reads come out in Italian."""

import pytest
from django.core.management import call_command

from agreements import services
from stipula.errors import TransitionNotAllowed
from tests.factories import make_ready_agreement

pytestmark = pytest.mark.django_db


def test_refusal_is_explained_in_italian(italian, officer, reviewer):
    agreement = make_ready_agreement(officer)
    with pytest.raises(TransitionNotAllowed) as refused:
        services.agreement_approve(actor=reviewer, agreement=agreement)
    assert "non è consentita" in str(refused.value)
    assert "Bozza" in str(refused.value)


def test_audit_verify_speaks_italian(italian, officer, capsys):
    make_ready_agreement(officer)
    call_command("audit_verify")
    assert "Catena di audit integra" in capsys.readouterr().out
