"""Test data built through the real services, never by writing rows directly."""

import itertools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from agreements import services
from agreements.docx import compose_docx
from agreements.models import Agreement, Organisation

_counter = itertools.count(1)


def make_user(username=None, *roles, email=None, first_name="", last_name=""):
    n = next(_counter)
    username = username or f"user{n}"
    user = get_user_model().objects.create_user(
        username=username,
        password="pw-" + username,
        email=email or f"{username}@example.org",
        first_name=first_name or username.capitalize(),
        last_name=last_name,
    )
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def make_organisation(name=None, *, kind=Organisation.Kind.PUBLIC_BODY, members=()):
    n = next(_counter)
    organisation = services.organisation_create(
        actor=None,
        name=name or f"Comune di Prova {n}",
        kind=kind,
        fiscal_code=f"{80000000000 + n}",
    )
    for user in members:
        services.organisation_add_member(actor=None, organisation=organisation, user=user)
    return organisation


def sample_docx(text="Testo della convenzione.") -> bytes:
    return compose_docx(title="Convenzione", sections=[("Art. 1", [text])], parties=[])


def make_agreement(officer, *, subject="Convenzione di prova", kind=Agreement.Kind.CONVENZIONE):
    return services.agreement_create(actor=officer, subject=subject, kind=kind)


def add_party_with_signatory(agreement, officer, *, name=None, signatory=None):
    signatory_user = signatory or make_user(None, "signatory")
    organisation = make_organisation(name, members=[signatory_user])
    party = services.agreement_add_party(
        actor=officer, agreement=agreement, organisation=organisation
    )
    services.agreement_add_signatory(
        actor=officer,
        agreement=agreement,
        party=party,
        user=signatory_user,
        title="Legale rappresentante",
        authorising_act="Delibera n. 1/2026",
    )
    return party


def make_ready_agreement(officer, *, parties=2):
    """An agreement in draft with `parties` parties, each with a signatory, and a version."""
    agreement = make_agreement(officer)
    for _ in range(parties):
        add_party_with_signatory(agreement, officer)
    services.version_create(actor=officer, agreement=agreement, docx=sample_docx(), note="v1")
    agreement.refresh_from_db()
    return agreement


def events_for(agreement, action=None):
    from audit.models import AuditEvent

    events = AuditEvent.objects.filter(agreement_id=agreement.pk)
    if action:
        events = events.filter(action=action)
    return list(events.order_by("seq"))
