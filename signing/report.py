"""The validation report of a signature, to download as JSON (for machines) or PDF (for people).

RULES.md S7 says what is kept for every signature: the validation report (indication and
sub-indication, the signer certificate's subject and SHA-256 fingerprint, signing time, timestamp
time, level, coverage, modification level, trust roots used) and the raw timestamp token. Both
forms carry all of it, plus every validation run with its time and actor and the hashes of the
documents involved: the approved content every signature must cover (S3), the revision this
signature produced and the current revision.

The JSON keys and codes (PASSED, TRY_LATER, B-LT...) never change with the language; the labels
in it and the whole PDF are in the active language (Italian or English). Times are UTC in the
JSON and Europe/Rome in the PDF.

``agreement_signatures_pdf`` summarises every signature of one agreement on one document.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import Prefetch
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import HRFlowable

from agreements.models import Agreement
from signing.models import Signature, SignatureValidation, SigningDocument
from signing.selectors import signing_document, signing_status
from stipula.pdf import Styles, build, escape, grid

SCHEMA = "stipula/signature-validation-report/1"
ROME = ZoneInfo("Europe/Rome")

METHOD_LABELS = {
    Signature.Method.PKCS11: gettext_lazy("Remote signing key (PKCS#11)"),
    Signature.Method.PKCS12: gettext_lazy("PKCS#12 file"),
    Signature.Method.EXTERNAL: gettext_lazy("Signed outside Stipula and uploaded"),
}
LEVEL_LABELS = {
    "B-B": gettext_lazy("B-B: signature only"),
    "B-T": gettext_lazy("B-T: with a trusted timestamp"),
    "B-LT": gettext_lazy("B-LT: with a timestamp and the validation data embedded"),
    "B-LTA": gettext_lazy("B-LTA: with validation data and an archive timestamp"),
}
COVERAGE_LABELS = {
    "ENTIRE_FILE": gettext_lazy("the whole file"),
    "ENTIRE_REVISION": gettext_lazy("the whole revision it signed (later revisions added)"),
    "CONTIGUOUS_BLOCK_FROM_START": gettext_lazy("only the start of the file"),
    "UNCLEAR": gettext_lazy("unclear"),
}
MODIFICATION_LABELS = {
    "NONE": gettext_lazy("none"),
    "LTA_UPDATES": gettext_lazy("validation data and timestamps only"),
    "FORM_FILLING": gettext_lazy("form filling and signatures only"),
    "ANNOTATIONS": gettext_lazy("annotations (not allowed)"),
    "OTHER": gettext_lazy("other changes (not allowed)"),
}


# The data of the report --------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationRun:
    """One validation of a signature: the one made when it was applied, or a later one."""

    kind: str  # "signing" or "revalidation"
    time: datetime
    actor: object  # a user, or None for the system
    indication: str
    sub_indication: str
    report: dict
    pdf_sha256: str  # the revision of the document that was validated

    @property
    def indication_label(self) -> str:
        return indication_label(self.indication)


def validation_runs(signature: Signature) -> list[ValidationRun]:
    """Every validation of ``signature``, oldest first; the last one is its current outcome.

    The first is the validation made when the signature was applied (its ``SignatureValidation``
    row, or the signature's own fields for a signature recorded without one).
    """
    validations = sorted(signature.validations.all(), key=lambda v: v.pk)
    if not validations:
        return [
            ValidationRun(
                kind="signing",
                time=signature.created_at,
                actor=signature.signatory.user,
                indication=signature.indication,
                sub_indication=signature.sub_indication,
                report=signature.report or {},
                pdf_sha256=signature.pdf_sha256,
            )
        ]
    return [
        ValidationRun(
            kind="signing" if index == 0 else "revalidation",
            time=v.created_at,
            actor=v.actor,
            indication=v.indication,
            sub_indication=v.sub_indication,
            report=v.report or {},
            pdf_sha256=v.pdf_sha256,
        )
        for index, v in enumerate(validations)
    ]


def _fresh(signature: Signature) -> Signature:
    """The signature as stored now, with everything the report reads (a report never shows
    objects cached in memory that may be older than the database)."""
    return (
        Signature.objects.select_related(
            "signatory__party__organisation", "signatory__party__agreement", "signatory__user"
        )
        .prefetch_related(
            Prefetch(
                "validations",
                queryset=SignatureValidation.objects.select_related("actor").order_by("pk"),
            )
        )
        .get(pk=signature.pk)
    )


def indication_label(indication: str) -> str:
    if indication in Signature.Indication.values:
        return str(Signature.Indication(indication).label)
    return indication or _("not signed yet")


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(ZoneInfo("UTC")).isoformat() if moment else None


def _user_json(user) -> dict | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.get_username(), "name": user.get_full_name()}


def _document_json(document: SigningDocument | None, signature: Signature) -> dict:
    data = {"signed_revision_sha256": signature.pdf_sha256}
    if document is not None:
        version = document.approved_version
        data.update(
            {
                "approved_version": version.number,
                "approved_version_pdf_sha256": version.pdf_sha256,
                "approved_sha256": document.prepared_sha256,
                "current_sha256": document.current_sha256,
                "document_level": getattr(document, "level", ""),
            }
        )
    return data


def report_json(signature: Signature) -> dict:
    """The validation report of one signature as a JSON-ready dict (RULES.md S7).

    ``report`` is the latest validation report (``signing.pades.SignatureReport.to_dict()``,
    timestamp token included as base64); ``validations`` lists every run, oldest first.
    """
    signature = _fresh(signature)
    signatory = signature.signatory
    party = signatory.party
    agreement = party.agreement
    runs = validation_runs(signature)
    current = runs[-1]
    return {
        "schema": SCHEMA,
        "title": _("Signature validation report"),
        "language": translation.get_language(),
        "generated_at": _iso(timezone.now()),
        "agreement": {
            "id": agreement.pk,
            "subject": agreement.subject,
            "kind": agreement.kind,
            "state": agreement.state,
        },
        "signatory": {
            "id": signatory.pk,
            "name": signatory.full_name,
            "title": signatory.title,
            "fiscal_code": signatory.fiscal_code,
            "authorising_act": signatory.authorising_act,
            "user": _user_json(signatory.user),
            "party": {
                "id": party.pk,
                "name": party.organisation.name,
                "fiscal_code": party.organisation.fiscal_code,
            },
        },
        "signature": {
            "id": signature.pk,
            "method": signature.method,
            "method_label": str(METHOD_LABELS.get(signature.method, signature.method)),
            "field_name": signature.field_name,
            "created_at": _iso(signature.created_at),
            "pdf_sha256": signature.pdf_sha256,
        },
        "indication": current.indication,
        "indication_label": indication_label(current.indication),
        "sub_indication": current.sub_indication,
        "report": current.report,
        "documents": _document_json(signing_document(agreement), signature),
        "validations": [
            {
                "kind": run.kind,
                "time": _iso(run.time),
                "actor": _user_json(run.actor),
                "indication": run.indication,
                "sub_indication": run.sub_indication,
                "pdf_sha256": run.pdf_sha256,
                "report": run.report,
            }
            for run in runs
        ],
    }


# PDF ---------------------------------------------------------------------------------------


def _rome(moment) -> str:
    if isinstance(moment, str):
        moment = parse_datetime(moment)
    if not moment:
        return "—"
    return moment.astimezone(ROME).strftime("%d/%m/%Y %H:%M:%S %Z")


def _coded(code: str, labels: dict) -> str:
    if not code:
        return "—"
    label = labels.get(code)
    return f"{code} ({label})" if label else code


def _covers_approved(value) -> str:
    if value is True:
        return _("yes: it covers the approved content to sign (its SHA-256 is below)")
    if value is False:
        return _("NO: it does not cover the approved content")
    return _("not checked")


def _person(user) -> str:
    if user is None:
        return _("system")
    return user.get_full_name() or user.get_username()


def _pairs(rows: list[tuple[str, object]], styles: Styles, *, mono=()) -> Table:
    """A two-column table of labels and values; values whose label is in ``mono`` are hashes."""
    data = [
        [
            Paragraph(escape(label), styles.label),
            Paragraph(escape(value), styles.mono if label in mono else styles.body),
        ]
        for label, value in rows
    ]
    table = Table(data, colWidths=[52 * mm, 122 * mm])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#dddddd")),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _header(story: list, styles: Styles, *, title: str, agreement: Agreement) -> None:
    # "Stipula" is the product's name: not translated.
    story.append(Paragraph("Stipula", styles.title))
    story.append(Paragraph(escape(title), styles.subtitle))
    story.append(
        Paragraph(
            escape(
                _("Agreement no. %(number)d: %(subject)s")
                % {"number": agreement.pk, "subject": agreement.subject}
            ),
            styles.body,
        )
    )
    story.append(
        Paragraph(
            escape(_("Generated on %(time)s") % {"time": _rome(timezone.now())}), styles.small
        )
    )
    story.append(HRFlowable(width="100%", color=colors.HexColor("#888888"), spaceBefore=4))


def _token_summary(report: dict) -> str:
    token = report.get("timestamp_token_b64")
    if not token:
        return _("none")
    raw = base64.b64decode(token)
    return _("%(size)d bytes, SHA-256 %(sha256)s (the token itself is in the JSON report)") % {
        "size": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }


def _signature_story(
    signature: Signature, document: SigningDocument | None, styles: Styles
) -> list:
    """The flowables describing one signature: outcome, certificate, times, hashes, runs."""
    runs = validation_runs(signature)
    current = runs[-1]
    report = current.report
    signatory = signature.signatory
    story = [Paragraph(escape(_("Outcome")), styles.heading)]
    story.append(
        _pairs(
            [
                (
                    _("Indication"),
                    f"{indication_label(current.indication)} ({current.indication})",
                ),
                (_("Sub-indication"), current.sub_indication or "—"),
                (_("Problems found"), "\n".join(report.get("problems") or []) or _("none")),
                (_("Last validated"), f"{_rome(current.time)}, {_person(current.actor)}"),
            ],
            styles,
        )
    )
    story.append(Paragraph(escape(_("Signer certificate")), styles.heading))
    fingerprint = _("SHA-256 fingerprint")
    story.append(
        _pairs(
            [
                (_("Certificate subject"), report.get("signer_subject") or "—"),
                (fingerprint, report.get("signer_fingerprint_sha256") or "—"),
                (_("Fiscal code in the certificate"), report.get("fiscal_code") or "—"),
                (_("Expected fiscal code"), signatory.fiscal_code or "—"),
                (_("Trust roots used"), "\n".join(report.get("trust_roots") or []) or "—"),
            ],
            styles,
            mono={fingerprint},
        )
    )
    story.append(Paragraph(escape(_("Signature")), styles.heading))
    story.append(
        _pairs(
            [
                (_("Way of signing"), METHOD_LABELS.get(signature.method, signature.method)),
                (_("Signature field"), signature.field_name or "—"),
                (_("Signing time (declared by the signer)"), _rome(report.get("signing_time"))),
                (_("Timestamp time"), _rome(report.get("timestamp_time"))),
                (_("Level"), _coded(report.get("level", ""), LEVEL_LABELS)),
                (_("Coverage"), _coded(report.get("coverage", ""), COVERAGE_LABELS)),
                (
                    _("Modifications after signing"),
                    _coded(report.get("modification_level", ""), MODIFICATION_LABELS),
                ),
                (
                    _("Approved content"),
                    _covers_approved(report.get("covers_approved")),
                ),
                (_("Timestamp token"), _token_summary(report)),
            ],
            styles,
        )
    )
    hashes = [(_("Revision produced by this signature"), signature.pdf_sha256 or "—")]
    if document is not None:
        hashes = [
            (
                _("Approved PDF (version %(n)d)") % {"n": document.approved_version.number},
                document.approved_version.pdf_sha256,
            ),
            (_("Approved content to sign"), document.prepared_sha256),
            *hashes,
            (_("Current revision"), document.current_sha256),
        ]
    story.append(Paragraph(escape(_("Documents (SHA-256)")), styles.heading))
    story.append(_pairs(hashes, styles, mono={label for label, _value in hashes}))
    story.append(Paragraph(escape(_("Validation runs")), styles.heading))
    story.append(
        grid(
            ["#", _("Time"), _("By"), _("Validation"), _("Indication"), _("Sub-indication")],
            [
                [
                    str(number),
                    _rome(run.time),
                    _person(run.actor),
                    _("when signing") if run.kind == "signing" else _("validated again"),
                    indication_label(run.indication),
                    run.sub_indication or "—",
                ]
                for number, run in enumerate(runs, start=1)
            ],
            [8 * mm, 34 * mm, 36 * mm, 28 * mm, 28 * mm, 40 * mm],
            styles,
        )
    )
    validated = [
        (_("Run %(number)d: revision validated") % {"number": number}, run.pdf_sha256 or "—")
        for number, run in enumerate(runs, start=1)
    ]
    story.append(Spacer(1, 2 * mm))
    story.append(_pairs(validated, styles, mono={label for label, _value in validated}))
    return story


def _signatory_table(signature: Signature, styles: Styles) -> Table:
    signatory = signature.signatory
    return _pairs(
        [
            (_("Signatory"), f"{signatory.full_name}, {signatory.title}"),
            (_("Party"), signatory.party.organisation.name),
            (_("Authorising act"), signatory.authorising_act or "—"),
        ],
        styles,
    )


def report_pdf(signature: Signature) -> bytes:
    """The validation report of one signature as a PDF, in the active language."""
    signature = _fresh(signature)
    styles = Styles()
    agreement = signature.signatory.party.agreement
    title = _("Signature validation report")
    story: list = []
    _header(story, styles, title=title, agreement=agreement)
    story.append(Spacer(1, 4 * mm))
    story.append(_signatory_table(signature, styles))
    story.extend(_signature_story(signature, signing_document(agreement), styles))
    return build(story, title=f"{title} – {signature.signatory.full_name}")


def agreement_signatures_pdf(agreement: Agreement) -> bytes:
    """Every required signatory of ``agreement`` with the state of their signature, then the
    report of each signature made, as one PDF in the active language."""
    agreement = Agreement.objects.get(pk=agreement.pk)
    styles = Styles()
    title = _("Signatures of the agreement")
    document = signing_document(agreement)
    rows = signing_status(agreement, None)
    story: list = []
    _header(story, styles, title=title, agreement=agreement)
    story.append(Paragraph(escape(_("Document for signing (SHA-256)")), styles.heading))
    if document is None:
        story.append(
            Paragraph(escape(_("The document for signing is not prepared yet.")), styles.body)
        )
    else:
        hashes = [
            (_("Approved content to sign"), document.prepared_sha256),
            (_("Current revision"), document.current_sha256),
        ]
        story.append(_pairs(hashes, styles, mono={label for label, _value in hashes}))
        if getattr(document, "level", ""):
            story.append(
                _pairs([(_("Level of the document"), _coded(document.level, LEVEL_LABELS))], styles)
            )
    story.append(Paragraph(escape(_("Signatories")), styles.heading))
    story.append(
        grid(
            ["#", _("Signatory"), _("Party"), _("Indication"), _("Level"), _("Timestamp time")],
            [
                [
                    str(row.order),
                    f"{row.signatory.full_name}, {row.signatory.title}",
                    row.party.organisation.name,
                    indication_label(row.indication)
                    + (f" ({row.sub_indication})" if row.sub_indication else ""),
                    row.level or "—",
                    _rome(row.report.get("timestamp_time")) if row.signature else "—",
                ]
                for row in rows
            ],
            [8 * mm, 44 * mm, 40 * mm, 32 * mm, 14 * mm, 36 * mm],
            styles,
        )
    )
    for row in rows:
        if row.signature is None:
            continue
        block = [
            Paragraph(
                escape(
                    _("%(order)d. %(name)s for %(party)s")
                    % {
                        "order": row.order,
                        "name": row.signatory.full_name,
                        "party": row.party.organisation.name,
                    }
                ),
                styles.subtitle,
            )
        ]
        details = _signature_story(row.signature, document, styles)
        story.append(Spacer(1, 6 * mm))
        # The name stays on the same page as the outcome of its signature.
        story.append(KeepTogether(block + details[:2]))
        story.extend(details[2:])
    return build(story, title=f"{title} – {agreement.pk}")


def report_filename(signature: Signature, extension: str) -> str:
    """The file name of a signature's report (``pdf`` or ``json``)."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", signature.signatory.full_name).strip("-").lower()
    agreement_pk = signature.signatory.party.agreement_id
    return f"agreement-{agreement_pk}-signature-{signature.pk}-{name or 'report'}.{extension}"
