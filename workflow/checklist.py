"""The legal review checklist: what each reviewer checks, item by item.

Configurable with ``settings.STIPULA_REVIEW_CHECKLIST``: a list of ``{"code", "label",
"per_party"}`` dicts (labels may be lazy translations). An item with ``per_party`` is asked once
for each party of the agreement (its code becomes ``<code>:<party position>``). The default is
the one of issue 5.
"""

from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext_lazy as _

DEFAULT_CHECKLIST = [
    {"code": "competence", "label": _("Competence of %(party)s to sign"), "per_party": True},
    {"code": "legal_basis", "label": _("Legal basis")},
    {"code": "financial_coverage", "label": _("Financial coverage")},
    {"code": "data_protection", "label": _("Data protection clause")},
    {"code": "duration_withdrawal", "label": _("Duration and withdrawal clauses")},
]


@dataclass(frozen=True)
class ChecklistItem:
    code: str
    label: str


def configured_checklist() -> list[dict]:
    return getattr(settings, "STIPULA_REVIEW_CHECKLIST", None) or DEFAULT_CHECKLIST


def checklist_for(agreement) -> list[ChecklistItem]:
    """The items a reviewer of ``agreement`` answers, labels in the active language."""
    items = []
    parties = None
    for entry in configured_checklist():
        if entry.get("per_party"):
            if parties is None:
                parties = list(
                    agreement.parties.select_related("organisation").order_by("position")
                )
            for party in parties:
                items.append(
                    ChecklistItem(
                        f"{entry['code']}:{party.position}",
                        str(entry["label"]) % {"party": party.organisation.name},
                    )
                )
        else:
            items.append(ChecklistItem(entry["code"], str(entry["label"])))
    return items
