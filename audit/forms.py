"""The auditor's workspace: the search over the log, the period of a report, the export format."""

import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from audit.models import AuditAction, ExportJob

# The longest period one procedure report covers: each agreement in it is checked in full.
MAX_REPORT_DAYS = 366


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


def _check_range(cleaned: dict) -> None:
    start, end = cleaned.get("date_from"), cleaned.get("date_to")
    if start and end and end < start:
        raise ValidationError(_("The end of the period must not precede its start."))


class AuditFilterForm(forms.Form):
    """The selection of the log the workspace lists, exports and bundles.

    ``criteria()`` is the selection as plain JSON-ready values, kept with an export job and in
    the audit event that records a view; ``audit.auditor.select_events`` applies it. Days are
    Europe/Rome calendar days, both ends included.
    """

    agreement = forms.IntegerField(label=_("Agreement number"), required=False, min_value=1)
    actor = forms.CharField(
        label=_("Actor (username)"),
        required=False,
        max_length=150,
        help_text=_("The username at the time of the event; «system» for the system's own steps."),
    )
    action = forms.ChoiceField(
        label=_("Action"), choices=[("", _("All"))] + AuditAction.choices, required=False
    )
    date_from = forms.DateField(label=_("From (day)"), required=False, widget=DateInput())
    date_to = forms.DateField(label=_("To (day)"), required=False, widget=DateInput())

    def clean(self):
        cleaned = super().clean()
        _check_range(cleaned)
        return cleaned

    def criteria(self) -> dict:
        """The valid selection as JSON-ready values (empty when the form is not valid)."""
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        criteria = {
            "agreement": data.get("agreement"),
            "actor": (data.get("actor") or "").strip(),
            "action": data.get("action") or "",
            "date_from": data["date_from"].isoformat() if data.get("date_from") else "",
            "date_to": data["date_to"].isoformat() if data.get("date_to") else "",
        }
        return {key: value for key, value in criteria.items() if value not in (None, "")}


class PeriodForm(forms.Form):
    """The period of a procedure verification report: agreements signed or registered in it."""

    date_from = forms.DateField(label=_("From (day)"), widget=DateInput())
    date_to = forms.DateField(label=_("To (day)"), widget=DateInput())

    def clean(self):
        cleaned = super().clean()
        _check_range(cleaned)
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end - start > datetime.timedelta(days=MAX_REPORT_DAYS):
            raise ValidationError(
                _("Choose a period of at most %(days)d days: every agreement in it is checked.")
                % {"days": MAX_REPORT_DAYS}
            )
        return cleaned


class ExportForm(forms.Form):
    format = forms.ChoiceField(label=_("Format"), choices=ExportJob.Format.choices)
