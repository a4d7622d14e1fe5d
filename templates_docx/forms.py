"""Forms of the template library. They check the shape of the input only; the service decides."""

from django import forms
from django.utils.translation import gettext_lazy as _

from agreements.forms import DocxUploadForm, _docx_field
from agreements.models import Agreement


class TemplateUploadForm(DocxUploadForm):
    """A new template, or the next version of one: the name says which."""

    name = forms.CharField(
        label=_("Name"),
        max_length=200,
        help_text=_(
            "A new name adds a template to the library; the name of an existing template adds "
            "its next version."
        ),
    )
    kind = forms.ChoiceField(label=_("Kind of agreement"), choices=Agreement.Kind.choices)
    docx = _docx_field(
        label=_("Template (DOCX)"),
        help_text=_(
            "A Word document with docxtpl tags, e.g. {{ agreement.oggetto }} or "
            "{%p if clausola_recesso %}."
        ),
    )
    description = forms.CharField(
        label=_("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Only for a new template: what it is for. It does not change afterwards."),
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("What this version changes."),
    )
