"""Registers, registrations, annulments and daily registers (RULES.md P1-P10).

What is registered never changes: the services only insert, and the database refuses any UPDATE of
a registration's recorded values and any DELETE (registry/triggers.py). Only the classification,
the internal assignment and the publication flag of a registration may change, each change kept
as a ``RegistrationChange`` row. An annulment is a row of its own next to the registration.
"""

import base64

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

REGISTER_CODE = RegexValidator(
    r"^[A-Za-z0-9_.-]{1,16}$",
    _("Use 1 to 16 letters, digits, dots, dashes or underscores (e.g. REP-CONV)."),
)
NUMBER_DIGITS = 7


def hex_to_base64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


class Register(models.Model):
    """A register with its own yearly numbering: the general protocol, a repertorio..."""

    class Kind(models.TextChoices):
        REPERTORIO = "repertorio", _("Repertorio (register of agreements)")
        PROTOCOL = "protocol", _("General protocol")

    code = models.CharField(_("code"), max_length=16, unique=True, validators=[REGISTER_CODE])
    name = models.CharField(_("name"), max_length=255)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind, default=Kind.REPERTORIO)
    # Who keeps the register: the administration and its homogeneous organisational area (AOO),
    # as the segnatura names them.
    administration_code = models.CharField(_("IPA code of the administration"), max_length=32)
    aoo_code = models.CharField(_("code of the organisational area (AOO)"), max_length=32)
    active = models.BooleanField(_("open for new registrations"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("register")
        verbose_name_plural = _("registers")

    def __str__(self):
        return f"{self.code} · {self.name}"


class RegisterCounter(models.Model):
    """The last number given in a register in one (Europe/Rome) year: locked by every registration
    (RULES.md P3), never a sequence."""

    register = models.ForeignKey(Register, on_delete=models.PROTECT, related_name="counters")
    year = models.PositiveSmallIntegerField(_("year"))
    last_number = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("register counter")
        constraints = [
            models.UniqueConstraint(fields=["register", "year"], name="unique_counter_per_year")
        ]

    def __str__(self):
        return f"{self.register_id}/{self.year}: {self.last_number}"


class Registration(models.Model):
    """One number in one register, given to one signed document (RULES.md P1, P4, P5)."""

    register = models.ForeignKey(Register, on_delete=models.PROTECT, related_name="registrations")
    year = models.PositiveSmallIntegerField(_("year"))
    number = models.PositiveIntegerField(_("number"))
    registered_at = models.DateTimeField(_("date and time of registration"))
    registration_date = models.DateField(_("date of registration"), db_index=True)
    agreement = models.OneToOneField(
        "agreements.Agreement",
        on_delete=models.PROTECT,
        related_name="registration",
        verbose_name=_("agreement"),
    )
    subject = models.TextField(_("subject (oggetto)"))
    # The correspondents: the parties in order, as they were at registration.
    parties = models.JSONField(_("parties"), default=list)
    document_name = models.CharField(_("document"), max_length=255)
    document_file = models.CharField(_("stored file"), max_length=255)
    document_sha256 = models.CharField(_("impronta (SHA-256, hex)"), max_length=64, unique=True)
    document_size = models.PositiveBigIntegerField(_("size in bytes"))
    # [{"name", "file", "sha256", "size", "mime_type"}] in the order given.
    attachments = models.JSONField(_("attachments"), default=list, blank=True)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("operator"),
    )
    operator_name = models.CharField(_("operator"), max_length=255)
    segnatura = models.TextField(_("segnatura XML"), blank=True)
    # What may change, with history (RegistrationChange).
    classification = models.CharField(_("classification"), max_length=255, blank=True)
    assigned_to = models.CharField(_("internal assignment"), max_length=255, blank=True)
    public_document = models.BooleanField(_("signed PDF published"), default=False)

    MUTABLE_FIELDS = ("classification", "assigned_to", "public_document")

    class Meta:
        ordering = ["-registered_at", "-number"]
        verbose_name = _("registration")
        verbose_name_plural = _("registrations")
        constraints = [
            models.UniqueConstraint(
                fields=["register", "year", "number"], name="unique_number_per_register_year"
            ),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="number_from_one"),
        ]

    def __str__(self):
        return self.label

    @property
    def formatted_number(self) -> str:
        return f"{self.number:0{NUMBER_DIGITS}d}"

    @property
    def label(self) -> str:
        return f"{self.register.code} {self.formatted_number}/{self.year}"

    @property
    def document_sha256_base64(self) -> str:
        return hex_to_base64(self.document_sha256)

    @property
    def document_facts(self) -> dict:
        """The registered document as the audit event, the daily register and the API give it."""
        return {
            "name": self.document_name,
            "sha256": self.document_sha256,
            "sha256_base64": self.document_sha256_base64,
            "size": self.document_size,
        }

    @property
    def is_annulled(self) -> bool:
        return hasattr(self, "annulment")


class RegistrationAnnulment(models.Model):
    """The annulment of a registration (RULES.md P6): the registration keeps all its values."""

    registration = models.OneToOneField(
        Registration, on_delete=models.PROTECT, related_name="annulment"
    )
    reason = models.TextField(_("reason"))
    authorised_by = models.CharField(_("authorised by"), max_length=255)
    authorising_act = models.CharField(_("authorising act"), max_length=255)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    operator_name = models.CharField(_("operator"), max_length=255)
    annulled_at = models.DateTimeField(_("annulled at"))
    annulment_date = models.DateField(_("date of annulment"), db_index=True)

    class Meta:
        verbose_name = _("annulment")
        verbose_name_plural = _("annulments")

    def __str__(self):
        return f"{self.registration} annulled"


class RegistrationChange(models.Model):
    """A change of classification, assignment or publication, with old and new value."""

    registration = models.ForeignKey(Registration, on_delete=models.PROTECT, related_name="changes")
    field = models.CharField(_("field"), max_length=32)
    old_value = models.TextField(_("old value"), blank=True)
    new_value = models.TextField(_("new value"), blank=True)
    changed_at = models.DateTimeField(_("changed at"))
    change_date = models.DateField(_("date of change"), db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    actor_name = models.CharField(_("changed by"), max_length=255)

    class Meta:
        ordering = ["changed_at", "pk"]
        verbose_name = _("registration change")
        verbose_name_plural = _("registration changes")

    def __str__(self):
        return f"{self.registration}: {self.field}"


class DailyRegister(models.Model):
    """The registro giornaliero of one day (RULES.md P9): once produced, the day is closed."""

    day = models.DateField(_("day"), unique=True)
    produced_at = models.DateTimeField(_("produced at"))
    produced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    produced_by_name = models.CharField(_("produced by"), max_length=255)
    pdf_file = models.CharField(_("PDF"), max_length=255)
    pdf_sha256 = models.CharField(_("SHA-256 of the PDF"), max_length=64)
    json_file = models.CharField(_("JSON"), max_length=255)
    json_sha256 = models.CharField(_("SHA-256 of the JSON"), max_length=64)
    registrations = models.PositiveIntegerField(_("registrations"))
    annulments = models.PositiveIntegerField(_("annulments"))
    changes = models.PositiveIntegerField(_("changes"))
    due_by = models.DateField(_("due for preservation by"))

    class Meta:
        ordering = ["-day"]
        verbose_name = _("daily register")
        verbose_name_plural = _("daily registers")

    def __str__(self):
        return f"{self.day.isoformat()}"
