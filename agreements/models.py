import functools

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from agreements import policies


class Organisation(models.Model):
    """A party: a public body or a private entity."""

    class Kind(models.TextChoices):
        PUBLIC_BODY = "public_body", _("Public body")
        PRIVATE_ENTITY = "private_entity", _("Private entity")

    name = models.CharField(_("name"), max_length=255, unique=True)
    kind = models.CharField(_("type"), max_length=20, choices=Kind)
    fiscal_code = models.CharField(_("fiscal code"), max_length=16, blank=True)
    vat_number = models.CharField(_("VAT number"), max_length=11, blank=True)
    ipa_code = models.CharField(
        _("IPA code"),
        max_length=32,
        blank=True,
        help_text=_("Code in the Indice dei domicili digitali della PA, for public bodies."),
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="OrganisationMember",
        related_name="organisations",
        verbose_name=_("members"),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        constraints = [
            models.CheckConstraint(
                condition=~Q(fiscal_code="") | ~Q(vat_number=""),
                name="organisation_has_fiscal_code_or_vat",
                violation_error_message=_("Give the fiscal code or the VAT number."),
            )
        ]

    def __str__(self):
        return self.name


class OrganisationMember(models.Model):
    """A user who acts for an organisation."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships"
    )
    title = models.CharField(_("title"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("organisation member")
        verbose_name_plural = _("organisation members")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="unique_member")
        ]

    def __str__(self):
        return f"{self.user} ({self.organisation})"


class AgreementState(models.TextChoices):
    """Lifecycle states. Stored values never change once released."""

    DRAFT = "draft", _("Draft")
    NEGOTIATION = "negotiation", _("Negotiation")
    LEGAL_REVIEW = "legal_review", _("Legal review")
    SIGNATURE = "signature", _("Signature")
    SIGNED = "signed", _("Signed")
    REGISTERED = "registered", _("Registered")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    REJECTED = "rejected", _("Rejected")
    ANNULLED = "annulled", _("Annulled")


S = AgreementState
BEFORE_SIGNED = [S.DRAFT, S.NEGOTIATION, S.LEGAL_REVIEW, S.SIGNATURE]


def guard(explanation):
    """Mark a condition with the explanation a user gets when it is not met.

    A condition is evaluated once per instance: the service checks it to explain a refusal and
    django-fsm checks it again when the transition fires, on the same locked row.
    """

    def decorate(condition):
        @functools.wraps(condition)
        def memoised(agreement) -> bool:
            memo = agreement.__dict__.setdefault("_guard_memo", {})
            if condition.__name__ not in memo:
                memo[condition.__name__] = condition(agreement)
            return memo[condition.__name__]

        memoised.explain = explanation
        return memoised

    return decorate


def _explain_parties(agreement):
    missing = agreement.parties_without_signatories()
    if missing:
        return _("Every party needs at least one signatory (missing for: %(parties)s).") % {
            "parties": ", ".join(missing)
        }
    return _("Add at least two parties, each with at least one signatory.")


@guard(_explain_parties)
def has_two_parties_with_signatories(agreement) -> bool:
    rows = agreement.party_rows()
    return len(rows) >= 2 and all(signing for _name, signing in rows)


@guard(lambda a: _("Create a draft version of the text first."))
def has_current_version(agreement) -> bool:
    return agreement.current_version_id is not None


@guard(lambda a: _("Close the open negotiation round first: the parties may still be commenting."))
def no_open_round(agreement) -> bool:
    return not agreement.rounds.filter(closed_at__isnull=True).exists()


@guard(
    lambda a: (
        _("These signatories have no valid signature yet: %s.")
        % ", ".join(a.signatories_missing_signature())
    )
)
def all_signatures_valid(agreement) -> bool:
    return not agreement.signatories_missing_signature()


# Read on every review and approval: plain SQL spares the ORM's query compilation.
PARTY_ROWS_SQL = """
SELECT o.name, (SELECT COUNT(*) FROM agreements_signatory s
                WHERE s.party_id = p.id AND s.required)
FROM agreements_agreementparty p JOIN agreements_organisation o ON o.id = p.organisation_id
WHERE p.agreement_id = %s ORDER BY p.position
"""


class Agreement(FSMModelMixin, models.Model):
    class Kind(models.TextChoices):
        CONVENZIONE = "convenzione", _("Convenzione")
        PROTOCOLLO_INTESA = "protocollo_intesa", _("Protocollo d'intesa")
        PATTO_TERRITORIALE = "patto_territoriale", _("Patto territoriale")
        ACCORDO_ART15 = "accordo_art15", _("Accordo ex art. 15 L. 241/1990")

    subject = models.TextField(_("subject (oggetto)"))
    kind = models.CharField(_("kind"), max_length=32, choices=Kind)
    legal_officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="agreements_as_legal_officer",
        verbose_name=_("responsible legal officer"),
    )
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    state = FSMField(
        _("state"), default=S.DRAFT, choices=AgreementState, protected=True, db_index=True
    )
    current_version = models.ForeignKey(
        "AgreementVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("current version"),
    )
    approved_version = models.ForeignKey(
        "AgreementVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("approved version"),
    )
    closing_reason = models.TextField(_("reason"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("agreement")
        verbose_name_plural = _("agreements")
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True)
                | Q(valid_until__isnull=True)
                | Q(valid_until__gte=models.F("valid_from")),
                name="agreement_validity_ordered",
                violation_error_message=_("The end of validity must not precede its start."),
            )
        ]

    _party_rows = None

    def __str__(self):
        return self.subject[:80]

    def clean(self):
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValidationError(
                {"valid_until": _("The end of validity must not precede its start.")}
            )

    # Data the guards read -------------------------------------------------------------------

    def party_rows(self) -> list[tuple[str, int]]:
        """(organisation name, required signatories) per party, in order; read once per instance,
        since the guards and the audit event of one transition all need it."""
        if self._party_rows is None:
            with connection.cursor() as cursor:
                cursor.execute(PARTY_ROWS_SQL, [self.pk])
                self._party_rows = cursor.fetchall()
        return self._party_rows

    def parties_without_signatories(self) -> list[str]:
        return [name for name, signing in self.party_rows() if not signing]

    def refresh_from_db(self, *args, **kwargs):
        self._party_rows = None
        self.__dict__.pop("_guard_memo", None)
        super().refresh_from_db(*args, **kwargs)

    def signatories_missing_signature(self) -> list[str]:
        from signing.models import Signature, latest_indication

        signed = (
            Signature.objects.filter(signatory__party__agreement=self)
            .annotate(current=latest_indication())
            .filter(current=Signature.Indication.PASSED)
            .values("signatory_id")
        )
        missing = (
            Signatory.objects.filter(party__agreement=self, required=True)
            .exclude(pk__in=signed)
            .order_by("party__position", "position")
        )
        return [s.full_name for s in missing]

    # Transitions: only services call these, inside their transaction -----------------------

    @transition(
        field=state,
        source=S.DRAFT,
        target=S.NEGOTIATION,
        conditions=[has_current_version],
        permission=policies.is_responsible_legal_officer,
    )
    def open_negotiation(self):
        pass

    @transition(
        field=state,
        source=[S.DRAFT, S.NEGOTIATION],
        target=S.LEGAL_REVIEW,
        conditions=[has_two_parties_with_signatories, has_current_version, no_open_round],
        permission=policies.is_responsible_legal_officer,
    )
    def submit_for_review(self):
        pass

    @transition(
        field=state,
        source=S.LEGAL_REVIEW,
        target=S.NEGOTIATION,
        permission=policies.is_independent_reviewer,
    )
    def request_changes(self):
        pass

    @transition(
        field=state,
        source=S.LEGAL_REVIEW,
        target=S.SIGNATURE,
        conditions=[has_two_parties_with_signatories, has_current_version],
        permission=policies.is_independent_reviewer,
    )
    def approve(self):
        self.approved_version = self.current_version

    @transition(
        field=state,
        source=S.LEGAL_REVIEW,
        target=S.REJECTED,
        permission=policies.is_independent_reviewer,
    )
    def reject(self, reason: str):
        self.closing_reason = reason

    @transition(
        field=state,
        source=BEFORE_SIGNED,
        target=S.WITHDRAWN,
        permission=policies.can_withdraw,
    )
    def withdraw(self, reason: str):
        self.closing_reason = reason

    @transition(
        field=state,
        source=S.SIGNATURE,
        target=S.SIGNED,
        conditions=[all_signatures_valid],
        permission=policies.is_responsible_legal_officer_or_system,
    )
    def complete_signing(self):
        pass

    @transition(field=state, source=S.SIGNED, target=S.REGISTERED, permission=policies.is_registrar)
    def register(self):
        pass

    @transition(
        field=state, source=S.REGISTERED, target=S.ANNULLED, permission=policies.is_registrar
    )
    def annul(self, reason: str):
        self.closing_reason = reason


class AgreementParty(models.Model):
    """An organisation taking part in an agreement, in the order the agreement lists them."""

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="parties")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="agreement_parties"
    )
    position = models.PositiveIntegerField(_("position"))
    role_description = models.CharField(_("role in the agreement"), max_length=255, blank=True)

    class Meta:
        ordering = ["agreement", "position"]
        verbose_name = _("party")
        verbose_name_plural = _("parties")
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "organisation"], name="unique_party_per_agreement"
            ),
            models.UniqueConstraint(fields=["agreement", "position"], name="unique_party_position"),
        ]

    def __str__(self):
        return f"{self.position}. {self.organisation}"


class Signatory(models.Model):
    """A person authorised to sign an agreement for one party."""

    party = models.ForeignKey(AgreementParty, on_delete=models.CASCADE, related_name="signatories")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signatory_roles"
    )
    full_name = models.CharField(_("full name"), max_length=255)
    title = models.CharField(_("title"), max_length=255)
    authorising_act = models.CharField(
        _("authorising act"),
        max_length=500,
        help_text=_("The act that authorises this person to sign, e.g. a council resolution."),
    )
    fiscal_code = models.CharField(_("fiscal code"), max_length=16, blank=True)
    position = models.PositiveIntegerField(_("position"), default=1)
    required = models.BooleanField(_("signature required"), default=True)

    class Meta:
        ordering = ["party__position", "position"]
        verbose_name = _("signatory")
        verbose_name_plural = _("signatories")
        constraints = [
            models.UniqueConstraint(fields=["party", "user"], name="unique_signatory_per_party")
        ]

    def __str__(self):
        return f"{self.full_name}, {self.title}"


def content_addressed(instance, filename):
    """Files are stored under their SHA-256 by agreements.storage; this is never called."""
    raise RuntimeError("store files with agreements.storage.store_bytes")


class AgreementVersion(models.Model):
    """An immutable draft of the agreement's text: DOCX, its PDF, and the SHA-256 of both.

    Nothing overwrites a version (the database refuses UPDATE and DELETE on this table); a new
    text is a new version whose parent is the version it was derived from.
    """

    class Source(models.TextChoices):
        UPLOAD = "upload", _("Uploaded DOCX")
        TEMPLATE = "template", _("Rendered from a template")
        PROPOSAL = "proposal", _("Accepted proposal of a party")

    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("number"))
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    source = models.CharField(_("source"), max_length=16, choices=Source, default=Source.UPLOAD)
    docx = models.FileField(_("DOCX"), upload_to=content_addressed)
    docx_sha256 = models.CharField(_("SHA-256 of the DOCX"), max_length=64)
    pdf = models.FileField(_("PDF"), upload_to=content_addressed, blank=True)
    pdf_sha256 = models.CharField(_("SHA-256 of the PDF"), max_length=64, blank=True)
    template_version = models.ForeignKey(
        "templates_docx.TemplateVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("template"),
    )
    data = models.JSONField(_("template data"), default=dict, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="authored_versions"
    )
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["agreement", "number"]
        verbose_name = _("version")
        verbose_name_plural = _("versions")
        constraints = [
            models.UniqueConstraint(fields=["agreement", "number"], name="unique_version_number")
        ]

    def __str__(self):
        return f"v{self.number}"

    def documents(self) -> list[dict]:
        """The hashes an audit event about this version carries."""
        docs = [{"name": f"v{self.number}.docx", "sha256": self.docx_sha256}]
        if self.pdf_sha256:
            docs.append({"name": f"v{self.number}.pdf", "sha256": self.pdf_sha256})
        return docs


class NegotiationRound(models.Model):
    """A round of negotiation on one version, to which the legal officer invites the parties."""

    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="rounds")
    number = models.PositiveIntegerField(_("round"))
    version = models.ForeignKey(
        AgreementVersion, on_delete=models.PROTECT, related_name="rounds", verbose_name=_("version")
    )
    note = models.TextField(_("note"), blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField(_("opened"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    invitees = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Invitation", related_name="negotiation_rounds"
    )

    class Meta:
        ordering = ["agreement", "number"]
        verbose_name = _("negotiation round")
        verbose_name_plural = _("negotiation rounds")
        constraints = [
            models.UniqueConstraint(fields=["agreement", "number"], name="unique_round_number"),
            models.UniqueConstraint(
                fields=["agreement"],
                condition=Q(closed_at__isnull=True),
                name="one_open_round_per_agreement",
            ),
        ]

    def __str__(self):
        return _("Round %(number)d on v%(version)d") % {
            "number": self.number,
            "version": self.version.number,
        }

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class Invitation(models.Model):
    round = models.ForeignKey(
        NegotiationRound, on_delete=models.CASCADE, related_name="invitations"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invitations"
    )
    party = models.ForeignKey(AgreementParty, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [models.UniqueConstraint(fields=["round", "user"], name="unique_invitation")]

    def __str__(self):
        return f"{self.user} ({self.party.organisation})"


class Comment(models.Model):
    """A comment in a round, optionally a reply and optionally anchored to an article."""

    round = models.ForeignKey(NegotiationRound, on_delete=models.PROTECT, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replies"
    )
    anchor = models.CharField(
        _("article or paragraph"),
        max_length=120,
        blank=True,
        help_text=_("Optional: the article or paragraph the comment is about, e.g. «Art. 3»."),
    )
    text = models.TextField(_("comment"))
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        ordering = ["round", "created_at", "pk"]
        verbose_name = _("comment")
        verbose_name_plural = _("comments")

    def __str__(self):
        return self.text[:60]


class ProposalStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")


class Proposal(FSMModelMixin, models.Model):
    """A revised DOCX a party's representative proposes in a round."""

    round = models.ForeignKey(NegotiationRound, on_delete=models.PROTECT, related_name="proposals")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    party = models.ForeignKey(AgreementParty, on_delete=models.PROTECT, related_name="+")
    docx = models.FileField(_("DOCX"), upload_to=content_addressed)
    docx_sha256 = models.CharField(_("SHA-256 of the DOCX"), max_length=64)
    pdf = models.FileField(_("PDF"), upload_to=content_addressed)
    pdf_sha256 = models.CharField(_("SHA-256 of the PDF"), max_length=64)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)
    status = FSMField(
        _("status"), default=ProposalStatus.PENDING, choices=ProposalStatus, protected=True
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)
    resulting_version = models.OneToOneField(
        AgreementVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="from_proposal",
    )

    class Meta:
        ordering = ["round", "created_at", "pk"]
        verbose_name = _("proposal")
        verbose_name_plural = _("proposals")

    def __str__(self):
        return f"{self.party.organisation}: {self.note[:40]}"

    def documents(self) -> list[dict]:
        return [
            {"name": f"proposal-{self.pk}.docx", "sha256": self.docx_sha256},
            {"name": f"proposal-{self.pk}.pdf", "sha256": self.pdf_sha256},
        ]

    @transition(field=status, source=ProposalStatus.PENDING, target=ProposalStatus.ACCEPTED)
    def accept(self, *, by, note, version):
        self.decided_by, self.decision_note, self.resulting_version = by, note, version
        self.decided_at = timezone.now()

    @transition(field=status, source=ProposalStatus.PENDING, target=ProposalStatus.REJECTED)
    def reject(self, *, by, note):
        self.decided_by, self.decision_note = by, note
        self.decided_at = timezone.now()
