"""A registration (registry/, issue 6) is covered by a checkpoint once it commits (RULES.md A4):
the real registry service, the real seal and TSA, the proof of the registration's event."""

import pytest

from audit.checkpoints import inclusion_proof, latest_checkpoint
from audit.models import AuditAction, AuditEvent
from tests.registry.conftest import (  # noqa: F401 - fixtures reused
    administrator,
    register,
    registrar,
    signed_agreement,
)

pytestmark = pytest.mark.django_db


def test_a_registration_is_covered_by_a_checkpoint_once_it_commits(
    sealed,
    signed_agreement,  # noqa: F811 - the fixture
    register,  # noqa: F811 - the fixture
    registrar,  # noqa: F811 - the fixture
    django_capture_on_commit_callbacks,
):
    from registry.services import registration_register

    agreement = signed_agreement()
    with django_capture_on_commit_callbacks(execute=True):
        registration = registration_register(
            actor=registrar, agreement=agreement, register=register
        )
    registered = AuditEvent.objects.filter(
        agreement_id=agreement.pk, action=AuditAction.REGISTERED
    ).get()
    checkpoint = latest_checkpoint()
    assert checkpoint.reason == f"registration {registration.label}"
    assert checkpoint.tree_size >= registered.seq
    assert checkpoint.timestamp_token
    proof = inclusion_proof(registered.seq, checkpoint=checkpoint)
    assert proof.root_hash == checkpoint.root_hash
    made = AuditEvent.objects.get(
        action=AuditAction.CHECKPOINT_MADE, object_id=str(checkpoint.number)
    )
    assert made.seq > checkpoint.tree_size
