"""The whole API against its own OpenAPI schema, with schemathesis (property-based: generated
valid and invalid requests to every operation), through the Django WSGI application in process,
on a real database holding an agreement in each state.

Every response must: not be a server error (5xx), have a status code the operation documents,
the content type it documents for that status, and a body matching the documented schema.

The caller is a legal officer who is also a reviewer, a registrar and an administrator (a
superuser), so most operations answer with data rather than 403; the agreements were built by
them and by a second officer, so four-eyes allows reviewing some. State-changing operations run
too: one test, one database, rolled back at the end. Path parameters are drawn half of the time
from the ids that exist, so that the operations reach real objects.

Bounded for CI: a few examples per operation, derandomized (the same requests on every run),
no shrinking; about two minutes on a 2-core machine (run with -s for the slowest operations).
One test loops over the operations rather than using schemathesis' pytest integration
(``schemathesis.pytest.from_fixture(...).parametrize()``): that reads ``Node._nodeid``, which
pytest 9.2 no longer has; and so the database is built once for all the operations.
"""

import time

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agreements import services as agreement_services
from agreements.models import Agreement, AgreementState, Signatory
from agreements.transitions import TRANSITIONS
from api.models import ApiToken
from audit.models import AuditEvent
from signing.models import Signature
from tests.factories import make_user
from tests.registry.conftest import build_signed_agreement
from tests.signing.conftest import pki, pki_dir  # noqa: F401 - fixtures reused
from tests.workflow.conftest import approve, build_agreement
from workflow import services as workflow_services
from workflow.models import AgreementTask

S = AgreementState
# Examples per operation and generation mode (valid requests; requests the schema forbids).
EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 6}
TRANSITION_NAMES = list(TRANSITIONS)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class World:
    """What the database holds: the caller, their token, the ids that exist."""

    def __init__(self, user, token, ids):
        self.user = user
        self.headers = {"Authorization": f"Token {token}"}
        self.ids = ids


def _build_world(running_pki) -> World:
    from django.contrib.auth.models import Group

    me = make_user("fuzz.officer", first_name="Laura", last_name="Bianchi")
    me.is_superuser = True
    me.save(update_fields=["is_superuser"])
    for role in ("legal_officer", "reviewer", "registrar", "auditor", "administrator"):
        me.groups.add(Group.objects.get_or_create(name=role)[0])
    colleague = make_user("other.officer", "legal_officer", first_name="Marta", last_name="Sala")
    reviewer = make_user("rev.verdi", "reviewer", first_name="Rita", last_name="Verdi")

    def made(officer, parties=2, reviewers=(reviewer,), subject=None):
        agreement, _signatories = build_agreement(
            officer, parties=parties, reviewers=list(reviewers), subject=subject
        )
        return agreement

    # draft, with a staged signing order
    draft = made(me, parties=3, subject="Protocollo d'intesa per la mobilità")
    parties = list(draft.parties.order_by("position").values_list("pk", flat=True))
    workflow_services.signing_order_set(
        actor=me, agreement=draft, order="staged", stages=[[parties[2]], [parties[0]]]
    )
    # negotiation
    negotiation = made(me, subject="Convenzione per i servizi educativi")
    agreement_services.agreement_open_negotiation(actor=me, agreement=negotiation)
    # legal review: one with nobody named (the caller may take it), one naming the caller
    for reviewers in ((), (me,)):
        under_review = made(colleague, reviewers=reviewers)
        agreement_services.agreement_submit_for_review(actor=colleague, agreement=under_review)
    # signature: one being signed, one suspended by a decline
    approve(made(me, parties=3), me, reviewer)
    suspended = approve(made(me), me, reviewer)
    declining = suspended.parties.order_by("position").first().signatories.get()
    workflow_services.signing_decline(
        actor=declining.user, agreement=suspended, signatory=declining, reason="Manca la delibera."
    )
    # rejected, withdrawn
    rejected = made(colleague)
    agreement_services.agreement_submit_for_review(actor=colleague, agreement=rejected)
    agreement_services.agreement_reject(
        actor=reviewer, agreement=rejected, reason="Manca la copertura finanziaria."
    )
    withdrawn = made(me)
    agreement_services.agreement_withdraw(actor=me, agreement=withdrawn, reason="Superato.")
    # signed, registered (real PAdES signatures with the local PKI)
    build_signed_agreement(running_pki, me, subject="Convenzione firmata")
    registered = build_signed_agreement(running_pki, me, subject="Convenzione registrata")
    _register(me, registered)

    states = set(Agreement.objects.values_list("state", flat=True))
    assert {S.DRAFT, S.NEGOTIATION, S.LEGAL_REVIEW, S.SIGNATURE, S.SIGNED, S.REGISTERED} <= states
    assert {S.REJECTED, S.WITHDRAWN} <= states
    _row, token = ApiToken.issue(user=me, name="schemathesis")
    from django.contrib.auth import get_user_model

    ids = {
        "agreement": list(Agreement.objects.values_list("pk", flat=True)),
        "signatory": list(Signatory.objects.values_list("pk", flat=True)),
        "task": list(AgreementTask.objects.values_list("pk", flat=True)),
        "user": list(get_user_model().objects.values_list("pk", flat=True)),
        "signature": list(Signature.objects.values_list("pk", flat=True)),
        "audit_event": list(AuditEvent.objects.values_list("seq", flat=True)),
    }
    return World(me, token, ids)


def _register(registrar, agreement):
    from registry.services import register_create, registration_register

    register = register_create(
        actor=registrar,
        code="REP-CONV",
        name="Repertorio delle convenzioni",
        administration_code="c_d704",
        aoo_code="AOO_FORLI",
    )
    return registration_register(actor=registrar, agreement=agreement, register=register)


def _known_values(world, operation_path: str, name: str) -> list:
    """The values worth trying for path parameter ``name`` of ``operation_path``: those that
    name something in the database."""
    if name == "id" and operation_path.startswith("/agreements/"):
        return world.ids["agreement"]
    known = {
        "signatory_pk": world.ids["signatory"],
        "signatory_id": world.ids["signatory"],
        "signature_id": world.ids["signature"],
        "task_pk": world.ids["task"],
        "user_pk": world.ids["user"],
        "seq": world.ids["audit_event"],
        "number": [1, 2, 3],
        "index": [0, 1],
        "name": TRANSITION_NAMES,
        "code": ["REP-CONV"],
        "day": [str(timezone.localdate())],
    }
    # Other objects (registrations, templates, proposals, webhooks…): small ids exist.
    return known.get(name, list(range(1, 30)))


@pytest.fixture
def world(db, pki, settings):  # noqa: F811 - the pki fixture
    settings.STIPULA_TSA_URL = pki.tsa_url
    return _build_world(pki)


@pytest.fixture
def api_schema(world):
    from stipula.wsgi import application

    # As Django's test client does: the WSGI handler would otherwise close the test's
    # connection (and its transaction) at the end of each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _cases(operation, mode, world):
    """Generated cases of ``operation``; half of them with path parameters that exist."""
    generated = operation.as_strategy(mode)
    names = [p.name for p in operation.path_parameters]
    if not names:
        return generated
    known = st.fixed_dictionaries(
        {n: st.sampled_from(_known_values(world, operation.path, n)) for n in names}
    )
    return st.one_of(
        generated, known.flatmap(lambda ids: operation.as_strategy(mode, path_parameters=ids))
    )


def _exercise(operation, mode, world) -> None:
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        database=None,
        # No shrinking: each step would be a request; the failing request is reported as found.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(operation, mode, world))
    def run(case):
        case.call_and_validate(headers=world.headers, checks=CHECKS)

    run()


def _has_inputs(operation) -> bool:
    return bool(len(operation.path_parameters) or len(operation.query) or len(operation.body))


def test_the_api_keeps_its_schema(api_schema, world):
    failures, timings = [], []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in EXAMPLES:
            if mode == GenerationMode.NEGATIVE and not _has_inputs(operation):
                continue  # nothing to make invalid
            started = time.monotonic()
            try:
                _exercise(operation, mode, world)
            except Unsatisfiable:
                # Negative mode: no input of this operation can be made invalid.
                continue
            except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - report them all
                failures.append(f"{operation.label} ({mode.value}):\n{error}")
            finally:
                timings.append((time.monotonic() - started, operation.label, mode.value))
    for seconds, label, mode in sorted(timings, reverse=True)[:10]:
        print(f"{seconds:6.1f} s  {label} ({mode})")  # noqa: T201
    print(f"{sum(t[0] for t in timings):.0f} s in the requests")  # noqa: T201
    print(f"{operations} operations")  # noqa: T201
    assert operations > 10
    assert not failures, f"{len(failures)} failing:\n\n" + "\n\n".join(failures)
