"""Walk the Patto per l'Inclusione Sociale through its lifecycle on the demo data, step by step,
from the first draft to its registration.

Signing uses the local demo PKI (signing.pki) with its services on a fixed loopback port, so that
its certificates, the signed PDF and the files given to the user stay valid after the demo, when
``scripts/serve`` runs the same services for the web interface.
"""

import datetime
import hashlib
import io
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test import override_settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from docx import Document

from agreements import demo_data, negotiation, services
from agreements.models import Agreement, AgreementState, Organisation, Signatory
from agreements.redline import compare
from agreements.storage import read_bytes
from signing import pades
from signing.management.commands.init_tokens import DEMO_USER_PIN, ensure_tokens
from signing.models import RemoteSigningKey, Signature
from signing.pkcs11 import default_softhsm_dir, use_softhsm_dir
from signing.pki import DEMO_PKCS12_PASSWORD, default_pki_dir, demo_pki_services
from signing.report import METHOD_LABELS
from signing.selectors import signing_document
from signing.services import (
    signature_apply_external,
    signature_apply_pkcs11,
    signature_apply_pkcs12,
)
from stipula.errors import DomainError
from templates_docx.selectors import template_version_get
from templates_docx.shipped import example_data

PATTO_TEMPLATE = "Patto territoriale per l'inclusione sociale"


def with_paragraph(docx: bytes, text: str) -> bytes:
    """A party's markup: the same document with one more paragraph at the end."""
    document = Document(io.BytesIO(docx))
    document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


class Command(BaseCommand):
    help = (
        "Create the parties of the Patto per l'Inclusione Sociale and walk one agreement through "
        "its lifecycle, printing each step."
    )

    def add_arguments(self, parser):
        parser.add_argument("--language", default=None, help="it or en (default: settings)")

    def handle(self, *args, language=None, **options):
        with translation.override(language or translation.get_language()):
            self._handle()

    def _handle(self):
        self.step = 0
        call_command("migrate", verbosity=0, interactive=False)
        # E-mail is kept in memory and summarised, so that the steps stay readable.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            mail.outbox = []
            try:
                self.run()
            except DomainError as error:
                raise CommandError(str(error)) from None

    def say(self, text):
        self.step += 1
        self.stdout.write(f"{self.step:2d}. {text}")

    def ok(self, text):
        self.stdout.write(self.style.SUCCESS(f"    {text}"))

    def warn(self, text):
        self.stdout.write(self.style.WARNING(f"    {text}"))

    def run(self):
        staff = self.ensure_staff()
        officer, reviewer = staff["legal_officer"], staff["reviewer"]
        organisations = self.ensure_parties()

        self.say(
            _("The legal officer %(name)s opens a new agreement.")
            % {"name": officer.get_full_name()}
        )
        agreement = services.agreement_create(
            actor=officer,
            subject=demo_data.PATTO_SUBJECT,
            kind=Agreement.Kind.PATTO_TERRITORIALE,
            valid_from=datetime.date(2027, 1, 1),
            valid_until=datetime.date(2029, 12, 31),
        )
        self.ok(_("Agreement no. %(id)d «%(subject)s»: %(state)s")
                % {"id": agreement.pk, "subject": agreement.subject,
                   "state": agreement.get_state_display()})  # fmt: skip

        self.say(_("The legal officer adds the %(n)d parties in order, each with its signatory.")
                 % {"n": len(organisations)})  # fmt: skip
        for organisation, signatory, row in organisations:
            party = services.agreement_add_party(
                actor=officer, agreement=agreement, organisation=organisation
            )
            fiscal_code = demo_data.SIGNATORY_FISCAL_CODES[signatory.username]
            services.agreement_add_signatory(
                actor=officer,
                agreement=agreement,
                party=party,
                user=signatory,
                title=row[7],
                authorising_act=row[8],
                fiscal_code=fiscal_code,
            )
            self.ok(f"{party.position:2d}. {organisation.name} - {signatory.get_full_name()} "
                    f"({fiscal_code}), {row[7]}")  # fmt: skip

        self.say(_("The shipped templates go into the template library."))
        loaded = io.StringIO()
        call_command("load_templates", stdout=loaded, no_color=True)
        for line in loaded.getvalue().splitlines():
            self.ok(line)
        template = template_version_get(name=PATTO_TEMPLATE)
        data = example_data("patto_inclusione_sociale")

        self.say(_("The legal officer drafts the text from the template (version 1)."))
        v1 = services.version_render(
            actor=officer, agreement=agreement, template_version=template, data=data,
            note=_("First draft"),
        )  # fmt: skip
        self.ok(f"v1 DOCX SHA-256 {v1.docx_sha256}")
        self.ok(f"v1 PDF  SHA-256 {v1.pdf_sha256}")

        self.transition(services.agreement_open_negotiation, officer, agreement)
        User = get_user_model()
        province = User.objects.get(username="presidente.provincia")
        volunteers = User.objects.get(username="portavoce.volontariato")

        self.say(_("Round 1: the parties' representatives are invited to read version 1."))
        round_1 = negotiation.round_open(actor=officer, agreement=agreement)
        invited = round_1.invitations.count()
        self.ok(ngettext("%(n)d person invited", "%(n)d people invited", invited) % {"n": invited})
        question = negotiation.comment_add(
            actor=province, negotiation_round=round_1, anchor="Art. 4",
            text="Occorre indicare la copertura finanziaria delle azioni.",
        )  # fmt: skip
        negotiation.comment_add(
            actor=officer, negotiation_round=round_1, parent=question,
            text="Inserita nella prossima versione.",
        )  # fmt: skip
        self.ok(_("%(who)s comments on Art. 4; the legal officer replies.")
                % {"who": province.get_full_name()})  # fmt: skip
        data.update(
            oneri_finanziari=True,
            importo="40.000,00",
            copertura_finanziaria="sui capitoli dedicati dei bilanci 2027-2029 delle Parti "
            "pubbliche",
        )
        v2 = services.version_render(
            actor=officer, agreement=agreement, template_version=template, data=data,
            note=_("Financial coverage clause"),
        )  # fmt: skip
        negotiation.round_close(actor=officer, negotiation_round=round_1)
        self.report_changes(v1, v2, _("Template rendered again with the financial coverage"))

        self.say(_("Round 2 on version 2: a party proposes its own markup of the text."))
        round_2 = negotiation.round_open(actor=officer, agreement=agreement)
        revised = with_paragraph(
            read_bytes(v2.docx.name),
            "Il Forum permanente per l'inclusione sociale si riunisce almeno due volte l'anno.",
        )
        proposal = negotiation.proposal_submit(
            actor=volunteers, negotiation_round=round_2, docx=revised,
            note="Periodicità delle riunioni del Forum",
        )  # fmt: skip
        self.ok(
            _("Proposal of %(party)s: DOCX SHA-256 %(hash)s")
            % {"party": proposal.party.organisation.name, "hash": proposal.docx_sha256}
        )
        v3 = negotiation.proposal_accept(actor=officer, proposal=proposal, note="Accolta")
        negotiation.round_close(actor=officer, negotiation_round=round_2)
        self.report_changes(v2, v3, _("Proposal accepted"))

        self.transition(services.agreement_submit_for_review, officer, agreement)

        self.say(_("The legal officer tries to approve a draft she wrote: refused (four-eyes)."))
        try:
            services.agreement_approve(actor=officer, agreement=agreement)
        except DomainError as error:
            self.ok(_("Refused and recorded in the audit trail: %(error)s") % {"error": error})
        else:
            raise CommandError("the drafter was allowed to approve her own draft")

        reason = "Indicare il termine per il recesso delle Parti private."
        self.transition(services.agreement_request_changes, reviewer, agreement, reason=reason)

        self.say(_("The legal officer uploads a revised DOCX (version 4)."))
        v4 = services.version_create(
            actor=officer,
            agreement=agreement,
            docx=with_paragraph(
                read_bytes(v3.docx.name),
                "Le Parti private possono recedere con preavviso scritto di novanta giorni.",
            ),
            note=_("Notice period for withdrawal"),
        )
        self.report_changes(v3, v4, _("Revised DOCX uploaded"))

        self.transition(services.agreement_submit_for_review, officer, agreement)
        self.transition(services.agreement_approve, reviewer, agreement)
        agreement.refresh_from_db()
        self.ok(_("Approved version: v%(n)d, SHA-256 %(hash)s")
                % {"n": agreement.approved_version.number,
                   "hash": agreement.approved_version.docx_sha256})  # fmt: skip

        pki_services = demo_pki_services(default_pki_dir(), extra_signers=demo_data.pki_signers())
        with pki_services as (pki, started):
            self.pki_url = pki.base_url
            if started:
                self.ok(_("The demo PKI's services are running at %(url)s (timestamps, OCSP, "
                          "CRLs)") % {"url": pki.base_url})  # fmt: skip
            else:
                self.ok(_("Services already running at %(url)s (scripts/serve)")
                        % {"url": pki.base_url})  # fmt: skip
            self.sign(agreement, pki)
            # The audit checkpoints made from here on are timestamped by the demo PKI's TSA.
            with override_settings(STIPULA_TSA_URL=pki.tsa_url):
                self.register(agreement, staff)
                self.audit_bundle(agreement)

        self.say(_("Verification of the audit trail:"))
        call_command("audit_verify", stdout=self.stdout, stderr=self.stderr)

        self.stdout.write("")
        self.stdout.write(_(
            "Open the web interface with ./scripts/serve and log in as laura.bianchi (legal "
            "officer), marco.rossi (reviewer), giulia.neri (registrar), paolo.conti (auditor), "
            "admin, or a signatory such as presidente.conferenza; password: %(password)s"
        ) % {"password": demo_data.DEMO_PASSWORD})  # fmt: skip
        self.stdout.write(_(
            "./scripts/serve also runs the demo PKI's services (timestamps, OCSP, CRLs) at "
            "%(url)s, so that signatures can be made and validated from the web interface. To "
            "sign with a PKCS#12 file, upload %(dir)s/<username>.p12 (password %(password)s); "
            "the remote signing keys of %(users)s open with the PIN %(pin)s."
        ) % {"url": self.pki_url, "dir": self.p12_dir, "password": DEMO_PKCS12_PASSWORD,
             "users": ", ".join(demo_data.REMOTE_SIGNING_USERS),
             "pin": DEMO_USER_PIN})  # fmt: skip

    def register(self, agreement, staff):
        from django.urls import reverse

        from registry import services as registry_services
        from registry.models import Register
        from registry.receipt import render_receipt
        from registry.segnatura import verify_segnatura

        self.say(_("The administrator opens the registers (each with its own yearly numbering)."))
        for code, name, kind in demo_data.REGISTERS:
            register = Register.objects.filter(code=code).first()
            if register is None:
                register = registry_services.register_create(
                    actor=staff["administrator"],
                    code=code,
                    name=name,
                    kind=kind,
                    administration_code=demo_data.ADMINISTRATION_CODE,
                    aoo_code=demo_data.AOO_CODE,
                )
            self.ok(f"{register.code}: {register.name}")
        repertorio = Register.objects.get(code=demo_data.REGISTERS[0][0])

        registrar = staff["registrar"]
        self.say(
            _("The registrar %(name)s registers the signed Patto in the %(register)s.")
            % {"name": registrar.get_full_name(), "register": repertorio.name}
        )
        registration = registry_services.registration_register(
            actor=registrar,
            agreement=agreement,
            register=repertorio,
            classification=demo_data.PATTO_CLASSIFICATION,
            assigned_to=demo_data.PATTO_ASSIGNMENT,
            public_document=True,
        )
        agreement.refresh_from_db()
        local = timezone.localtime(registration.registered_at)
        self.ok(_("Number %(label)s of %(when)s; state: %(state)s")
                % {"label": registration.label, "when": local.strftime("%d/%m/%Y %H:%M:%S"),
                   "state": agreement.get_state_display()})  # fmt: skip
        self.ok(_("Impronta (SHA-256) of the signed PDF: %(hex)s = %(b64)s (base64)")
                % {"hex": registration.document_sha256,
                   "b64": registration.document_sha256_base64})  # fmt: skip
        check = verify_segnatura(registration.segnatura, registration=registration)
        self.ok(_("Segnatura XML (AgID v3.0), sealed by %(signer)s: %(result)s")
                % {"signer": check.signer,
                   "result": _("valid") if check.valid else "; ".join(check.problems)})  # fmt: skip
        folder = settings.DATA_DIR / "demo"
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{registration.register.code}-{registration.formatted_number}-{registration.year}"
        receipt = folder / f"ricevuta-{stem}.pdf"
        receipt.write_bytes(render_receipt(registration))
        segnatura = folder / f"segnatura-{stem}.xml"
        segnatura.write_text(registration.segnatura, encoding="utf-8")
        self.ok(_("Receipt with its QR code: %(path)s") % {"path": receipt})
        self.ok(_("Segnatura: %(path)s") % {"path": segnatura})
        public = reverse(
            "registry_public:registration",
            kwargs={
                "code": registration.register.code,
                "year": registration.year,
                "number": registration.number,
            },
        )
        self.ok(_("Public page (no login): %(url)s")
                % {"url": settings.STIPULA_BASE_URL + public})  # fmt: skip

    def audit_bundle(self, agreement):
        from audit.bundle import bundle_write
        from audit.verify_bundle import verify

        self.say(_("The auditor exports the agreement's audit bundle and checks it offline."))
        folder = settings.DATA_DIR / "demo"
        path = folder / f"audit-bundle-agreement-{agreement.pk}.zip"
        with open(path, "wb") as handle:
            result = bundle_write(handle, actor=None, agreement_id=agreement.pk)
        self.ok(_("%(events)d events, under checkpoint #%(checkpoint)d of %(size)d events: "
                  "%(path)s") % {"events": result.events, "checkpoint": result.checkpoint,
                                 "size": result.tree_size, "path": path})  # fmt: skip
        self.ok(verify(path))
        self.ok(_("Check it yourself, without Stipula's database: "
                  "python -m audit.verify_bundle %(path)s") % {"path": path})  # fmt: skip

    def sign(self, agreement, pki):
        signatories = list(
            Signatory.objects.filter(party__agreement=agreement, required=True)
            .select_related("party__organisation", "user")
            .order_by("party__position", "position", "pk")
        )
        self.say(_(
            "The demo PKI: a root CA, a qualified signature CA issuing one certificate per "
            "signatory (fiscal code in the subject as TINIT-<codice fiscale>), a timestamp "
            "authority, an OCSP responder and CRLs."
        ))  # fmt: skip
        root = pki.write_trust_root(settings.STIPULA_TRUST_ROOTS_DIR)
        self.ok(_("Trusted root: %(path)s") % {"path": root})
        self.p12_dir = pki.export_pkcs12(
            [signer.label for signer in pki.extra_signers], DEMO_PKCS12_PASSWORD
        )
        self.ok(_("PKCS#12 file of every signatory in %(dir)s, password %(password)s")
                % {"dir": self.p12_dir, "password": DEMO_PKCS12_PASSWORD})  # fmt: skip
        self.remote_signing_keys(pki)

        self.say(_(
            "The %(n)d signatories sign in party order: %(a)d with their remote signing key, "
            "%(b)d with a PKCS#12 file, %(c)d with their own signing tool. Each signature is "
            "validated at once, with every earlier one (timestamp, OCSP)."
        ) % {"n": len(signatories),
             "a": demo_data.SIGNING_WAYS.count(Signature.Method.PKCS11),
             "b": demo_data.SIGNING_WAYS.count(Signature.Method.PKCS12),
             "c": demo_data.SIGNING_WAYS.count(Signature.Method.EXTERNAL)})  # fmt: skip
        for number, (signatory, way) in enumerate(
            zip(signatories, demo_data.SIGNING_WAYS, strict=True), start=1
        ):
            start = time.monotonic()
            signature = self.apply(way, agreement, signatory, pki)
            passed = signature.indication == Signature.Indication.PASSED
            (self.ok if passed else self.warn)(_(
                "%(number)2d. %(name)s (%(party)s), %(way)s: %(indication)s, %(level)s "
                "[%(seconds).1f s]"
            ) % {"number": number, "name": signatory.full_name,
                 "party": signatory.party.organisation.name, "way": METHOD_LABELS[way],
                 "indication": signature.get_indication_display(),
                 "level": signature.report.get("level"),
                 "seconds": time.monotonic() - start})  # fmt: skip

        agreement.refresh_from_db()
        document = signing_document(agreement)
        data = read_bytes(document.current_pdf.name)
        self.say(_("The signed agreement:"))
        self.ok(_("State: %(state)s") % {"state": agreement.get_state_display()})
        path = default_storage.path(document.current_pdf.name)
        self.ok(_("Signed PDF: %(path)s") % {"path": path})
        self.ok(_("SHA-256 %(hash)s, level %(level)s")
                % {"hash": hashlib.sha256(data).hexdigest(),
                   "level": document.level or "-"})  # fmt: skip
        if agreement.state != AgreementState.SIGNED:
            raise CommandError(
                _("The agreement was not signed by everyone: see the signatures above.")
            )

    def remote_signing_keys(self, pki):
        """The tokens (SoftHSM2, standing in for the HSM) of the remote signatories, each
        registered as that person's remote signing key."""
        softhsm_dir = default_softhsm_dir()
        # This process's PKCS#11 module reads the tokens made in the demo's SoftHSM2 directory.
        use_softhsm_dir(softhsm_dir)
        ensure_tokens(
            pki, demo_data.REMOTE_SIGNING_USERS, softhsm_dir=softhsm_dir, replace_stale=True
        )
        User = get_user_model()
        for username in demo_data.REMOTE_SIGNING_USERS:
            RemoteSigningKey.objects.update_or_create(
                user=User.objects.get(username=username),
                defaults={"token_label": username, "key_label": ""},
            )
        self.ok(_("Remote signing keys (PKCS#11 tokens in %(dir)s) of %(users)s, PIN %(pin)s")
                % {"dir": softhsm_dir, "users": ", ".join(demo_data.REMOTE_SIGNING_USERS),
                   "pin": DEMO_USER_PIN})  # fmt: skip

    def apply(self, way, agreement, signatory, pki):
        """Sign as ``signatory`` the way the demo assigns them, through the signing services.

        The services validate against the configured trust roots (signing.trust reads the
        folder the demo root was written into), as they do for the web interface.
        """
        common = {
            "actor": signatory.user,
            "agreement": agreement,
            "signatory": signatory,
            "timestamper_url": pki.tsa_url,
        }
        if way == Signature.Method.PKCS11:
            return signature_apply_pkcs11(pin=DEMO_USER_PIN, **common)
        pkcs12 = (self.p12_dir / f"{signatory.user.username}.p12").read_bytes()
        if way == Signature.Method.PKCS12:
            return signature_apply_pkcs12(pkcs12=pkcs12, password=DEMO_PKCS12_PASSWORD, **common)
        # The signatory's own signing tool: it signs the PDF they download, in their field, and
        # they upload the result.
        document = signing_document(agreement)
        signed = pades.sign_pkcs12(
            read_bytes(document.current_pdf.name),
            field_name=document.field_for(signatory),
            pkcs12=pkcs12,
            password=DEMO_PKCS12_PASSWORD,
            timestamper_url=pki.tsa_url,
            party=signatory.party.organisation.name,
            trust_roots=[pki.root_der],
        )
        return signature_apply_external(uploaded=signed, **common)

    def report_changes(self, old, new, what):
        changes = compare(read_bytes(old.docx.name), read_bytes(new.docx.name)).summary
        self.ok(
            _("%(what)s: version %(n)d, %(ins)d words inserted and %(del)d deleted since version "
              "%(old)d; PDF SHA-256 %(hash)s")
            % {"what": what, "n": new.number, "ins": changes.words_inserted,
               "del": changes.words_deleted, "old": old.number, "hash": new.pdf_sha256}
        )  # fmt: skip

    def transition(self, service, actor, agreement, **kwargs):
        from agreements.transitions import TRANSITIONS

        name = service.__name__.removeprefix("agreement_")
        self.say(_("%(actor)s: %(action)s") % {"actor": actor.get_full_name(),
                                                "action": TRANSITIONS[name].label})  # fmt: skip
        result = service(actor=actor, agreement=agreement, **kwargs)
        extra = (" - " + _("reason: %s") % kwargs["reason"]) if kwargs.get("reason") else ""
        self.ok(_("State: %(state)s") % {"state": result.get_state_display()} + extra)
        # One line per subject: the 15 task e-mails of an approval are one line, not fifteen.
        recipients = {}
        for message in mail.outbox:
            recipients[message.subject] = recipients.get(message.subject, 0) + len(message.to)
        for subject, count in recipients.items():
            self.ok(ngettext("E-mail «%(subject)s» to %(n)d recipient",
                             "E-mail «%(subject)s» to %(n)d recipients", count)
                    % {"subject": subject, "n": count})  # fmt: skip
        mail.outbox = []

    @transaction.atomic
    def _user(self, username, first_name, last_name, role):
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first_name,
                "last_name": last_name,
                "email": f"{username}@demo.stipula.invalid",
                "is_staff": role == "administrator",
                "is_superuser": role == "administrator",
            },
        )
        if created:
            user.set_password(demo_data.DEMO_PASSWORD)
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        return user

    def ensure_staff(self):
        self.say(_("Demo users: legal officer, reviewer, registrar, auditor, administrator."))
        staff = {}
        for username, first, last, role in demo_data.STAFF:
            staff[role] = self._user(username, first, last, role)
            self.ok(f"{username} ({first} {last})")
        return staff

    def ensure_parties(self):
        self.say(
            _(
                "The parties of the Patto per l'Inclusione Sociale, each with the person who "
                "signs for it."
            )
        )
        result = []
        for row in demo_data.PARTIES:
            name, kind, fiscal_code, vat, username, first, last, title, _act = row
            signatory = self._user(username, first, last, "signatory")
            organisation = Organisation.objects.filter(name=name).first()
            if organisation is None:
                organisation = services.organisation_create(
                    actor=None, name=name, kind=kind, fiscal_code=fiscal_code, vat_number=vat
                )
                services.organisation_add_member(
                    actor=None, organisation=organisation, user=signatory, title=title
                )
            result.append((organisation, signatory, row))
        self.ok(
            ngettext("%(n)d party ready", "%(n)d parties ready", len(result)) % {"n": len(result)}
        )
        return result
