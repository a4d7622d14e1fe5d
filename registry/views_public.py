"""Public pages of the registry, no login (the seed's «diffusione dei risultati»).

What is public, and why (a design decision; D.Lgs. 33/2013 art. 23 and 37 make agreements between
administrations and with private parties, their subject and their parties public):

- published: the register (code and name), number, year, date and time of registration, subject,
  the parties' names (public bodies and private entities, never natural persons as such: no
  fiscal or VAT codes, since a sole trader's fiscal code is personal data), the validity dates of
  the agreement, its state, the impronta (SHA-256, hex and base64) of the signed PDF and of each
  attachment with its file name, and for an annulled registration the date, the reason and the
  reference of the authorising act;
- published only when the registrar ticks it (``Registration.public_document``): the signed PDF;
- never published: who registered, annulled or changed anything (operators are registry staff:
  the law makes the act public, not who typed it), the name of whoever authorised an annulment
  (its act is referenced instead), classification and internal assignment, the segnatura XML
  (internal codes), the attachments' files, the agreement's internal pages.

Uploads to the verification form are refused above a size limit before they are read, and only
their SHA-256 is computed, chunk by chunk; nothing uploaded is stored.
"""

import csv
import datetime
import io
import json
from urllib.parse import quote

from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from registry.feeds import LatestRegistrationsFeed
from registry.forms import PublicSearchForm, VerifyForm, max_verify_bytes
from registry.models import NUMBER_DIGITS, Registration, hex_to_base64
from registry.selectors import (
    file_label,
    find_registered_document,
    public_registration,
    public_registrations,
    public_years,
    registered_bytes,
)
from registry.services import rome_now
from stipula.errors import DomainError
from stipula.http import download

PAGE_SIZE = 25
EXPORT_CHUNK = 2000
PARTY_SEPARATOR = " | "
# Room for the multipart envelope and the other fields of the verification form.
MULTIPART_ALLOWANCE = 64 * 1024

# The open-data columns, in order, with what each holds: the CSV header, the keys of each JSON
# record, and the documentation on the public page are all made from this list.
OPEN_DATA_COLUMNS = [
    ("register", gettext_lazy("Code of the register.")),
    ("register_name", gettext_lazy("Name of the register.")),
    ("year", gettext_lazy("Year of the numbering (Europe/Rome calendar year).")),
    ("number", gettext_lazy("Number in the register and year, 7 digits from 0000001.")),
    ("label", gettext_lazy("Register, number and year as cited, e.g. «REP 0000042/2026».")),
    (
        "registered_at",
        gettext_lazy("Date and time of registration, ISO 8601 with the Europe/Rome offset."),
    ),
    ("registration_date", gettext_lazy("Date of registration, YYYY-MM-DD.")),
    ("subject", gettext_lazy("Subject (oggetto) of the agreement.")),
    (
        "parties",
        gettext_lazy("Names of the parties in order; in CSV separated by « | », in JSON a list."),
    ),
    ("valid_from", gettext_lazy("Start of validity of the agreement, YYYY-MM-DD, or empty.")),
    ("valid_until", gettext_lazy("End of validity of the agreement, YYYY-MM-DD, or empty.")),
    ("state", gettext_lazy("«registered», or «annulled»: annulled registrations stay listed.")),
    ("annulment_date", gettext_lazy("Date of the annulment, YYYY-MM-DD, or empty.")),
    ("annulment_reason", gettext_lazy("Reason of the annulment, or empty.")),
    ("annulment_act", gettext_lazy("Reference of the act that authorised the annulment.")),
    ("document_sha256", gettext_lazy("Impronta of the signed PDF: SHA-256, hexadecimal.")),
    ("document_sha256_base64", gettext_lazy("The same impronta in base64.")),
    (
        "attachments",
        gettext_lazy(
            "Attachments: in CSV «name sha256» pairs separated by « | », in JSON a list of "
            "objects with name and sha256."
        ),
    ),
    ("document_public", gettext_lazy("Whether the signed PDF can be downloaded (true/false).")),
    ("url", gettext_lazy("Address of the registration's public page.")),
]
COLUMN_NAMES = [name for name, _description in OPEN_DATA_COLUMNS]

EXPORT_FIELDS = [
    "register__code",
    "register__name",
    "year",
    "number",
    "registered_at",
    "registration_date",
    "subject",
    "parties",
    "agreement__valid_from",
    "agreement__valid_until",
    "annulment__annulment_date",
    "annulment__reason",
    "annulment__authorising_act",
    "document_sha256",
    "attachments",
    "public_document",
]


# Pages ---------------------------------------------------------------------------------------


def _registration_or_404(code: str, year: int, number: int) -> Registration:
    registration = public_registration(code, year, number)
    if registration is None:
        raise Http404(_("There is no such registration."))
    return registration


@require_GET
def index(request):
    search = PublicSearchForm(request.GET or None)
    criteria = search.cleaned_data if search.is_valid() else {}
    registrations = public_registrations(
        text=criteria.get("q") or "", year=criteria.get("year") or None
    )
    page_obj = Paginator(registrations, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "registry/public/index.html",
        {
            "search": search,
            "page_obj": page_obj,
            "years": public_years(),
            "columns": OPEN_DATA_COLUMNS,
        },
    )


@require_GET
def registration(request, code: str, year: int, number: int):
    found = _registration_or_404(code, year, number)
    return render(
        request,
        "registry/public/registration.html",
        {
            "registration": found,
            "annulment": getattr(found, "annulment", None),
            "agreement": found.agreement,
            "attachments": [
                {
                    "name": a["name"],
                    "sha256": a["sha256"],
                    "sha256_base64": hex_to_base64(a["sha256"]),
                }
                for a in found.attachments
            ],
        },
    )


@require_GET
def document(request, code: str, year: int, number: int):
    found = _registration_or_404(code, year, number)
    if not found.public_document:
        raise Http404(_("The signed PDF of this registration is not published."))
    try:
        data = registered_bytes(found.document_file, found.document_sha256)
    except DomainError as error:
        # Missing, or not the registered bytes: never hand out anything else.
        raise Http404(str(error)) from None
    return download(
        data, f"{file_label(found)}.pdf", "application/pdf", sha256=found.document_sha256
    )


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


# The verification stores nothing and changes nothing, so it needs no CSRF token; without one,
# the CSRF check does not read the body, and an oversized upload is refused before it is read.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def verify(request):
    """Upload a file (POST) or give its SHA-256 (POST, or GET ``?sha256=`` so that a link or a QR
    code can ask): is it a registered document, and which one?"""
    if request.method == "POST":
        if _declared_length(request) > max_verify_bytes() + MULTIPART_ALLOWANCE:
            # Refused on the declared length, before the body is read and spooled to disk.
            form = VerifyForm.refusing_upload()
        else:
            form = VerifyForm(request.POST, request.FILES)
    elif request.GET.get("sha256"):
        form = VerifyForm({"sha256": request.GET["sha256"]})
    else:
        form = VerifyForm()
    result = None
    status = 200
    if form.is_bound:
        if form.is_valid():
            digest = form.cleaned_data["digest"]
            result = {
                "sha256": digest,
                "sha256_base64": hex_to_base64(digest),
                "matches": find_registered_document(digest),
            }
        else:
            status = 413 if form.has_error("document", "too_big") else 400
    return render(
        request,
        "registry/public/verify.html",
        {"form": form, "result": result, "max_megabytes": max_verify_bytes() // (1024 * 1024)},
        status=status,
    )


# Open data -----------------------------------------------------------------------------------


def _export_rows(request):
    """One dict per registration, in the order of OPEN_DATA_COLUMNS, oldest first, read in
    chunks: the memory used does not grow with the register."""
    base = request.build_absolute_uri(reverse("registry_public:index"))
    rows = (
        Registration.objects.order_by("register__code", "year", "number")
        .values(*EXPORT_FIELDS)
        .iterator(chunk_size=EXPORT_CHUNK)
    )
    for row in rows:
        code, year, number = row["register__code"], row["year"], row["number"]
        formatted = f"{number:0{NUMBER_DIGITS}d}"
        annulled = row["annulment__annulment_date"] is not None
        yield {
            "register": code,
            "register_name": row["register__name"],
            "year": year,
            "number": formatted,
            "label": f"{code} {formatted}/{year}",
            "registered_at": rome_now(row["registered_at"]).isoformat(timespec="seconds"),
            "registration_date": row["registration_date"].isoformat(),
            "subject": row["subject"],
            "parties": [party.get("name", "") for party in row["parties"] or []],
            "valid_from": _iso(row["agreement__valid_from"]),
            "valid_until": _iso(row["agreement__valid_until"]),
            "state": "annulled" if annulled else "registered",
            "annulment_date": _iso(row["annulment__annulment_date"]),
            "annulment_reason": row["annulment__reason"] or "",
            "annulment_act": row["annulment__authorising_act"] or "",
            "document_sha256": row["document_sha256"],
            "document_sha256_base64": hex_to_base64(row["document_sha256"]),
            "attachments": [
                {"name": a.get("name", ""), "sha256": a.get("sha256", "")}
                for a in row["attachments"] or []
            ],
            "document_public": bool(row["public_document"]),
            "url": f"{base}{quote(code)}/{year}/{number}/",
        }


def _iso(value: datetime.date | None) -> str:
    return value.isoformat() if value else ""


def _csv_line(values: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def _csv_stream(request):
    yield _csv_line(COLUMN_NAMES)
    for row in _export_rows(request):
        row["parties"] = PARTY_SEPARATOR.join(row["parties"])
        row["attachments"] = PARTY_SEPARATOR.join(
            f"{a['name']} {a['sha256']}" for a in row["attachments"]
        )
        row["document_public"] = "true" if row["document_public"] else "false"
        yield _csv_line([row[name] for name in COLUMN_NAMES])


def _json_stream(request):
    header = {
        "generated_at": rome_now(timezone.now()).isoformat(timespec="seconds"),
        "source": request.build_absolute_uri(reverse("registry_public:index")),
        "columns": {name: str(description) for name, description in OPEN_DATA_COLUMNS},
    }
    yield json.dumps(header, ensure_ascii=False)[:-1] + ', "registrations": ['
    first = True
    for row in _export_rows(request):
        yield ("" if first else ",") + "\n" + json.dumps(row, ensure_ascii=False)
        first = False
    yield "\n]}\n"


@require_GET
def opendata_csv(request):
    response = StreamingHttpResponse(_csv_stream(request), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="registrazioni.csv"'
    return response


@require_GET
def opendata_json(request):
    return StreamingHttpResponse(
        _json_stream(request), content_type="application/json; charset=utf-8"
    )


feed = LatestRegistrationsFeed()
