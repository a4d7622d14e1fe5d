"""Reading the registry for its pages: the registrar's pages and the public ones.

Every list here is one query per page however many rows and attachments it has: the register,
the annulment (a reverse one-to-one) and what the pages need of the agreement are joined, and
nothing is read per row. The public querysets carry only what may be published.
"""

import base64
import binascii
import datetime
import re
from dataclasses import dataclass

from django.db.models import Count, Exists, Max, OuterRef, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from agreements.models import Agreement, AgreementParty, AgreementState
from agreements.roles import Role, user_roles
from agreements.storage import read_checked
from registry.models import DailyRegister, Register, Registration

READER_ROLES = frozenset({Role.REGISTRAR.value, Role.ADMINISTRATOR.value, Role.AUDITOR.value})

HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")
BASE64_SHA256 = re.compile(r"^[A-Za-z0-9+/_-]{43}=?$")
CITED_NUMBER = re.compile(r"^(?P<number>\d{1,9})(?:\s*/\s*(?P<year>\d{4}))?$")


def can_read_registry(user) -> bool:
    """Registrars keep the registers; administrators and auditors read them."""
    return bool(user_roles(user) & READER_ROLES)


def can_keep_registry(user) -> bool:
    """Whether the pages offer the forms that register, change, annul and close days. The
    services decide for themselves (and record a refusal)."""
    return Role.REGISTRAR.value in user_roles(user)


# Registers and registrations -----------------------------------------------------------------


def register_list() -> QuerySet[Register]:
    return Register.objects.annotate(
        registration_count=Count("registrations"),
        last_registered_at=Max("registrations__registered_at"),
    ).order_by("code")


def register_by_code(code: str) -> Register | None:
    return Register.objects.filter(code=code).first()


def active_registers() -> QuerySet[Register]:
    return Register.objects.filter(active=True).order_by("code")


def _for_listing(registrations: QuerySet[Registration]) -> QuerySet[Registration]:
    # ``annulment`` is a reverse one-to-one: joined, a registration without one reads as not
    # annulled without a query of its own.
    return registrations.select_related("register", "annulment", "agreement").order_by(
        "-registered_at", "-number", "-pk"
    )


@dataclass(frozen=True)
class RegistrationFilter:
    number: int | None = None
    year: int | None = None
    subject: str = ""
    party: str = ""
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    # "", "active" or "annulled"
    status: str = ""


def _party_matches(text: str) -> Q:
    """The parties as registered (a JSON list, searched as text: fine for names, which is what
    people type) or the organisations of the agreement's parties now, whichever matches: the JSON
    text escapes accented letters on SQLite, the organisation's name does not."""
    current = AgreementParty.objects.filter(
        agreement_id=OuterRef("agreement_id"), organisation__name__icontains=text
    )
    return Q(parties__icontains=text) | Q(Exists(current))


def registration_search(
    register: Register | None = None, criteria: RegistrationFilter | None = None
) -> QuerySet[Registration]:
    """The registrations of one register (or of all) matching ``criteria``; annulled ones stay
    in, marked (RULES.md P6), unless the search asks for the others only."""
    registrations = Registration.objects.all()
    if register is not None:
        registrations = registrations.filter(register=register)
    c = criteria or RegistrationFilter()
    if c.number:
        registrations = registrations.filter(number=c.number)
    if c.year:
        registrations = registrations.filter(year=c.year)
    if c.subject:
        registrations = registrations.filter(subject__icontains=c.subject)
    if c.party:
        registrations = registrations.filter(_party_matches(c.party))
    if c.date_from:
        registrations = registrations.filter(registration_date__gte=c.date_from)
    if c.date_to:
        registrations = registrations.filter(registration_date__lte=c.date_to)
    if c.status == "annulled":
        registrations = registrations.filter(annulment__isnull=False)
    elif c.status == "active":
        registrations = registrations.filter(annulment__isnull=True)
    return _for_listing(registrations)


def registration_for_page(pk: int) -> Registration | None:
    return (
        Registration.objects.select_related("register", "annulment", "agreement")
        .prefetch_related("changes")
        .filter(pk=pk)
        .first()
    )


def agreements_to_register() -> QuerySet[Agreement]:
    """Signed agreements waiting for a number, the longest waiting first."""
    return (
        Agreement.objects.filter(state=AgreementState.SIGNED)
        .select_related("legal_officer", "signing_document")
        .prefetch_related(
            Prefetch(
                "parties",
                queryset=AgreementParty.objects.select_related("organisation").order_by("position"),
            )
        )
        .order_by("updated_at", "pk")
    )


def daily_register_list() -> QuerySet[DailyRegister]:
    return DailyRegister.objects.order_by("-day")


# Public --------------------------------------------------------------------------------------


def public_registrations(*, text: str = "", year: int | None = None) -> QuerySet[Registration]:
    """Every registration, annulled ones included and marked, newest first; ``text`` is a
    number (``12`` or ``12/2026``) or words of the subject or of a party."""
    registrations = Registration.objects.all()
    if year:
        registrations = registrations.filter(year=year)
    text = text.strip()
    cited = CITED_NUMBER.match(text)
    if cited:
        # A number as people cite it: "12", "0000012" or "12/2026".
        registrations = registrations.filter(number=int(cited["number"]))
        if cited["year"]:
            registrations = registrations.filter(year=int(cited["year"]))
    elif text:
        registrations = registrations.filter(Q(subject__icontains=text) | _party_matches(text))
    return _for_listing(registrations)


def public_registration(code: str, year: int, number: int) -> Registration | None:
    return (
        Registration.objects.select_related("register", "annulment", "agreement")
        .filter(register__code=code, year=year, number=number)
        .first()
    )


def public_years() -> list[int]:
    return list(Registration.objects.order_by("-year").values_list("year", flat=True).distinct())


def parse_sha256(text: str) -> str | None:
    """The hex SHA-256 a person typed, as hex (64 digits, any case) or base64 (44 characters);
    None if it is neither."""
    value = re.sub(r"\s+", "", text or "")
    if value.lower().startswith("sha256:"):
        value = value[len("sha256:") :]
    if HEX_SHA256.match(value.lower()):
        return value.lower()
    # 32 bytes are 43 base64 characters and one "=" of padding; the URL-safe alphabet too.
    if not BASE64_SHA256.match(value):
        return None
    standard = value.replace("-", "+").replace("_", "/").rstrip("=") + "="
    try:
        raw = base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


@dataclass(frozen=True)
class Match:
    """A registered document whose SHA-256 is the one looked for."""

    registration: Registration
    # "" for the signed document itself, else the attachment's name.
    attachment: str = ""

    @property
    def is_attachment(self) -> bool:
        return bool(self.attachment)


def find_registered_document(sha256_hex: str) -> list[Match]:
    """The registrations whose signed document or one of whose attachments has this SHA-256."""
    if not HEX_SHA256.match(sha256_hex or ""):
        return []
    # The attachments are a JSON list: a text match narrows, the exact check is made here.
    candidates = _for_listing(
        Registration.objects.filter(
            Q(document_sha256=sha256_hex) | Q(attachments__icontains=sha256_hex)
        )
    )
    matches = []
    for registration in candidates:
        if registration.document_sha256 == sha256_hex:
            matches.append(Match(registration))
        for attachment in registration.attachments:
            if attachment.get("sha256") == sha256_hex:
                matches.append(Match(registration, attachment.get("name", "")))
    return matches


def registered_bytes(name: str, sha256: str) -> bytes:
    """A registered file, if it still has the impronta recorded for it."""
    return read_checked(
        name,
        sha256,
        altered=_(
            "The stored file no longer matches the impronta recorded at registration; it has "
            "been altered. Tell the system administrator."
        ),
    )


def file_label(registration: Registration) -> str:
    """The stem of the names of a registration's files: REGISTER-YEAR-NUMBER."""
    return f"{registration.register.code}-{registration.year}-{registration.formatted_number}"
