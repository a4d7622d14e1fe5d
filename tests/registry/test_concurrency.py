"""Many registrations at once on PostgreSQL: gapless, no duplicates (RULES.md P2, P3)."""

import pytest

from audit.selectors import verify_chain
from registry import services
from registry.models import RegisterCounter, Registration
from stipula.errors import DomainError
from tests.factories import make_user
from tests.registry.helpers import quick_signed_agreements
from tests.test_concurrency import run_together

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def test_concurrent_registrations_take_gapless_distinct_numbers():
    officer = make_user("officer", "legal_officer")
    clerks = [make_user(f"clerk{i}", "registrar") for i in range(4)]
    admin = make_user("admin", "administrator")
    repertorio = services.register_create(
        actor=admin, code="REP", name="Repertorio", administration_code="a", aoo_code="b"
    )
    protocol = services.register_create(
        actor=admin, code="PG", name="Protocollo", administration_code="a", aoo_code="b"
    )
    agreements = quick_signed_agreements(officer, 24)

    calls = [
        (
            lambda a=agreement, i=index: services.registration_register(
                actor=clerks[i % 4],
                agreement=a,
                register=repertorio if i % 3 else protocol,
            )
        )
        for index, agreement in enumerate(agreements)
    ]
    # The same agreement twice at the same moment: one number, one refusal.
    calls.append(
        lambda: services.registration_register(
            actor=clerks[0], agreement=agreements[0], register=repertorio
        )
    )
    results = run_together(*calls)

    errors = [value for kind, value in results if kind == "error"]
    assert len(errors) == 1 and isinstance(errors[0], DomainError), errors
    for register in (repertorio, protocol):
        numbers = sorted(
            Registration.objects.filter(register=register).values_list("number", flat=True)
        )
        assert numbers == list(range(1, len(numbers) + 1))
        assert RegisterCounter.objects.get(register=register).last_number == len(numbers)
    assert Registration.objects.count() == 24
    assert verify_chain().ok
