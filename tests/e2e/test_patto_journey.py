"""The Patto per l'Inclusione Sociale walked through the web interface, as each role in turn, in
a real browser: from the shipped template to «registered» and the auditor's verification report.

Each person logs in through the login form in a browser context of their own, in Italian (the
default language); the auditor finally switches the report to English. The three signatories
sign the three ways the demo uses (remote key with PIN, PKCS#12 file, their own signing tool:
the PDF downloaded from the page, signed with pyHanko outside Stipula, uploaded). Every step
asserts what the person sees; the database is only read at the very end.

Screenshots: see tests/e2e/conftest.py (on failure in test-results/; for the user guide with
STIPULA_DOCS_SCREENSHOTS=docs/images).
"""

import io
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from agreements import demo_data
from tests.e2e.conftest import E2E_SIGNERS, EXTERNAL_SIGNER, PKCS12_SIGNER, REMOTE_SIGNER

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SUBJECT = "Patto per l'Inclusione Sociale"
TEMPLATE = "Patto territoriale per l'inclusione sociale"
# Signing, approving and registering validate signatures and call the TSA: seconds, not ms.
SLOW = 120_000

# party name, signatory username, first name, last name, title, authorising act (demo data)
PARTY_ROWS = {row[4]: row for row in demo_data.PARTIES}
PARTIES = [
    (row[0], row[4], row[5], row[6], row[7], row[8])
    for row in (PARTY_ROWS[username] for username in E2E_SIGNERS)
]


# What a person does in the browser ----------------------------------------------------------


def log_in(new_context, world, username, *, screens=None, shot=None, keyboard=False):
    """A new browser (context) for ``username``, logged in through the login form; with
    ``keyboard``, as someone who uses no mouse: type, Tab to the password, Enter."""
    page = new_context().new_page()
    page.set_default_timeout(15_000)
    page.goto(world.base_url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    if keyboard:
        page.get_by_label("Nome utente").focus()
        page.keyboard.type(username)
        page.keyboard.press("Tab")
        expect(page.get_by_label("Password")).to_be_focused()
        page.keyboard.type(world.password)
        page.keyboard.press("Enter")
        expect(page.get_by_text(re.compile(r"^Gentile "))).to_be_visible()
        return page
    page.get_by_label("Nome utente").fill(username)
    page.get_by_label("Password").fill(world.password)
    if shot:
        screens.take(page, shot)
    page.get_by_role("button", name="Accedi").click()
    expect(page.get_by_text(re.compile(r"^Gentile "))).to_be_visible()
    return page


def choose(scope, label: str, option: str) -> None:
    """Pick ``option`` in the Material select labelled ``label`` (viewflow's vf-field-select)."""
    scope.get_by_role("button", name=re.compile("^" + re.escape(label))).click()
    scope.get_by_role("option", name=option, exact=True).click()


def says(page, text: str, *, timeout: float = 10_000) -> None:
    """The page's message area says ``text``."""
    expect(page.locator("#messages")).to_contain_text(text, timeout=timeout)


def expect_state(page, label: str) -> None:
    """The lifecycle bar marks ``label`` as the current state."""
    expect(page.locator("#lifecycle [aria-current=step]")).to_have_text(label)


def open_menu(page, entry: str) -> None:
    page.get_by_role("link", name=entry, exact=True).first.click()


def download(page, link) -> bytes:
    with page.expect_download() as info:
        link.click()
    return Path(info.value.path()).read_bytes()


def sign_outside_stipula(pdf: bytes, *, field: str, pkcs12: Path, password: str, pki) -> bytes:
    """What a signatory's own signing tool does with the PDF downloaded from Stipula: a PAdES
    signature in their field, timestamped, with the validation data (B-LT), made by pyHanko
    alone. (In a thread: pyHanko runs its own event loop, the test thread has Playwright's.)"""
    from asn1crypto import x509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers, timestamps
    from pyhanko_certvalidator import ValidationContext

    def work() -> bytes:
        signer = signers.SimpleSigner.load_pkcs12(str(pkcs12), passphrase=password.encode())
        meta = signers.PdfSignatureMetadata(
            field_name=field,
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            embed_validation_info=True,
            validation_context=ValidationContext(
                trust_roots=[x509.Certificate.load(pki.root_der)], allow_fetching=True
            ),
        )
        output = io.BytesIO()
        signers.PdfSigner(
            meta, signer=signer, timestamper=timestamps.HTTPTimeStamper(pki.tsa_url)
        ).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), output=output)
        return output.getvalue()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


# The journey ---------------------------------------------------------------------------------


def test_the_patto_from_template_to_registered_and_verified(
    new_context, patto_world, screens, tmp_path
):
    world = patto_world
    year = timezone.localdate().year
    officer, agreement_url = legal_officer_drafts_and_negotiates(new_context, world, screens)
    agreement_no = int(re.search(r"/agreements/(\d+)/$", agreement_url).group(1))

    representative = party_comments_and_proposes(new_context, world, screens, agreement_no)
    legal_officer_accepts_and_sends_to_review(officer, screens, agreement_url)
    reviewer_approves(new_context, world, screens, agreement_no)
    signatories_sign(new_context, world, screens, representative, agreement_url, tmp_path)
    label = registrar_registers(new_context, world, screens, agreement_url, year)
    auditor_verifies(new_context, world, screens, agreement_no, label)

    # What the pages said is what was recorded.
    from agreements.models import Agreement, AgreementState
    from signing.models import Signature

    agreement = Agreement.objects.get(pk=agreement_no)
    assert agreement.state == AgreementState.REGISTERED
    assert agreement.registration.label == label
    signatures = Signature.objects.filter(signatory__party__agreement=agreement).order_by(
        "signatory__party__position"
    )
    assert [(s.signatory.user.username, s.method, s.indication) for s in signatures] == [
        (REMOTE_SIGNER, Signature.Method.PKCS11, Signature.Indication.PASSED),
        (PKCS12_SIGNER, Signature.Method.PKCS12, Signature.Indication.PASSED),
        (EXTERNAL_SIGNER, Signature.Method.EXTERNAL, Signature.Indication.PASSED),
    ]
    assert [v.source for v in agreement.versions.order_by("number")] == ["template", "proposal"]


def legal_officer_drafts_and_negotiates(new_context, world, screens):
    page = log_in(
        new_context, world, "laura.bianchi", screens=screens, shot="legal-officer-01-log-in"
    )
    expect(page.get_by_text("Gentile Laura Bianchi")).to_be_visible()
    expect(page.get_by_text("Ruoli assegnati: Funzionario dell'ufficio legale")).to_be_visible()
    screens.take(page, "legal-officer-02-home")

    # A new agreement.
    page.get_by_role("link", name="Nuovo accordo").click()
    form = page.locator("#agreement-create-form")
    form.get_by_label("Oggetto").fill(SUBJECT)
    choose(form, "Tipologia", "Patto territoriale")
    form.get_by_label("Inizio validità").fill("01/01/2027")
    form.get_by_label("Fine validità").fill("31/12/2029")
    form.get_by_label("Fine validità").blur()  # as a person leaves the field: label floats
    screens.take(page, "legal-officer-03-new-agreement")
    form.get_by_role("button", name="Crea accordo").click()
    says(page, "Accordo creato in stato di bozza.")
    expect_state(page, "Bozza")
    expect(page).to_have_url(re.compile(r"/agreements/\d+/$"))
    agreement_url = page.url
    expect(page.locator("#subject")).to_have_text(SUBJECT)
    # Nothing can move yet, and the page says why.
    expect(page.locator("[data-blocked-transition=submit_for_review]")).to_contain_text(
        "Aggiungere almeno due parti, ciascuna con almeno un firmatario."
    )

    # The parties, in signing order, each with its signatory (demo data, fiscal codes included).
    for name, *_rest in PARTIES:
        form = page.locator("#party-form")
        choose(form, "Ente", name)
        form.get_by_label("Ruolo nell'accordo").fill("Parte aderente")
        form.get_by_role("button", name="Aggiungi parte").click()
        says(page, "Parte aggiunta.")
    for position, (name, username, first, last, title, act) in enumerate(PARTIES, start=1):
        form = page.locator("#signatory-form")
        choose(form, "Parte", f"{position}. {name}")
        choose(form, "Persona", f"{first} {last} ({username})")
        form.get_by_label("Qualifica").fill(title)
        form.get_by_label("Atto autorizzativo").fill(act)
        form.get_by_label("Codice fiscale").fill(demo_data.SIGNATORY_FISCAL_CODES[username])
        form.get_by_role("button", name="Aggiungi firmatario").click()
        says(page, "Firmatario aggiunto.")
    parties = page.locator("#parties ol.stipula-parties > li")
    expect(parties).to_have_count(3)
    for index, (name, _username, first, last, title, _act) in enumerate(PARTIES):
        expect(parties.nth(index)).to_contain_text(name)
        expect(parties.nth(index)).to_contain_text(f"{first} {last}, {title}")
    screens.take(page, "legal-officer-04-parties", focus=page.locator("#parties"))

    # The text, from the shipped template.
    form = page.locator("#template-choice-form")
    expect(form.get_by_role("button", name=re.compile("^Modello"))).to_contain_text(TEMPLATE)
    form.get_by_role("button", name="Continua").click()
    form = page.locator("#template-data-form")
    form.get_by_label("Ulteriori premesse").fill(
        "La Conferenza dei Sindaci della Versilia ha approvato il percorso di costituzione del "
        "Patto nella seduta del 7 ottobre 2026."
    )
    form.get_by_label("Includi la clausola di recesso").check()
    form.get_by_label("Includi la clausola sul trattamento dei dati").check()
    form.get_by_label("Foro competente").fill("Lucca")
    form.get_by_label("Nota").fill("Prima stesura")
    screens.take(page, "legal-officer-05-draft-from-template")
    form.get_by_role("button", name="Redigi il testo").click()
    says(page, f"Versione 1 redatta da «{TEMPLATE}", timeout=SLOW)
    expect(page.get_by_role("heading", name="Versione 1", exact=True)).to_be_visible()
    screens.take(page, "legal-officer-06-version-1")

    # Negotiation: open it, then a round inviting every party's representative.
    page.get_by_role("link", name=re.compile(r"Accordo n\. \d+$")).click()
    page.locator("#actions").get_by_role("button", name="Apri la negoziazione").click()
    says(page, "«Apri la negoziazione»")
    expect_state(page, "Negoziazione")
    form = page.locator("#round-form")
    for _name, username, first, last, *_rest in PARTIES:
        expect(form.get_by_label(f"{first} {last} ({username})")).to_be_checked()
    form.get_by_label("Nota").fill("Osservazioni e proposte entro venerdì.")
    screens.take(page, "legal-officer-07-open-round", focus=page.locator("#negotiation"))
    form.get_by_role("button", name="Apri il turno").click()
    says(page, "Turno 1 aperto")
    expect(page.locator("#invitees li")).to_have_count(3)
    return page, agreement_url


def party_comments_and_proposes(new_context, world, screens, agreement_no):
    # The Conference of Mayors' chair acts for his party in the negotiation (and signs last).
    page = log_in(new_context, world, EXTERNAL_SIGNER)
    invitations = page.locator("#section-invitations")
    expect(invitations).to_contain_text(f"{agreement_no}. {SUBJECT}")
    screens.take(page, "party-01-invitation")
    invitations.get_by_role("link", name="Turno 1 sulla versione 1").click()
    expect(page.get_by_role("heading", name="Turno di negoziazione 1")).to_be_visible()

    form = page.locator("#comment-form")
    form.get_by_label("Commento").fill("Occorre indicare la copertura finanziaria delle azioni.")
    form.get_by_label("Articolo o comma").fill("Art. 4")
    form.get_by_role("button", name="Invia").click()
    says(page, "Commento aggiunto.")

    # His markup: the DOCX of version 1, downloaded, one paragraph added, proposed back.
    original = download(page, page.locator("#round-version").get_by_role("link", name="DOCX"))
    document = docx.Document(io.BytesIO(original))
    document.add_paragraph(
        "Il Forum permanente per l'inclusione sociale si riunisce almeno due volte l'anno."
    )
    revised = io.BytesIO()
    document.save(revised)
    form = page.locator("#proposal-form")
    # viewflow's file field lays the real <input type=file> over a text box that carries the
    # label; the page names the input itself too (stipula/base.html), for screen readers.
    expect(form.locator("input[type=file]")).to_have_attribute("aria-label", re.compile(r"DOCX"))
    form.locator("input[type=file]").set_input_files(
        files=[
            {
                "name": "patto-forum.docx",
                "mimeType": "application/vnd.openxmlformats-officedocument."
                "wordprocessingml.document",
                "buffer": revised.getvalue(),
            }
        ]
    )
    form.get_by_label("Nota").fill("Periodicità delle riunioni del Forum")
    form.get_by_role("button", name="Invia la proposta").click()
    says(page, "La Sua proposta è stata inviata", timeout=SLOW)
    proposal = page.locator(".stipula-proposal").first
    expect(proposal).to_contain_text("Conferenza dei Sindaci della Versilia")
    expect(proposal).to_contain_text("In attesa")
    expect(page.locator(".stipula-comment")).to_contain_text("Art. 4")
    screens.take(page, "party-02-comment-and-proposal", focus=page.locator("#comments"))
    return page


def legal_officer_accepts_and_sends_to_review(page, screens, agreement_url):
    page.goto(agreement_url)
    page.locator("#round-table").get_by_role("link", name="Turno 1").click()
    comment = page.locator(".stipula-comment").first
    expect(comment).to_contain_text("Occorre indicare la copertura finanziaria")
    comment.get_by_text("Rispondi").click()
    comment.get_by_label("La Sua risposta").fill("Inserita nella prossima versione.")
    comment.get_by_role("button", name="Invia la risposta").click()
    says(page, "Commento aggiunto.")

    proposal = page.locator(".stipula-proposal").first
    proposal.get_by_role("link", name="Modifiche alla versione 1").click()
    inserted = page.locator("ins", has_text="Forum permanente")
    expect(inserted.first).to_be_visible()
    screens.take(page, "legal-officer-08-proposed-changes", focus=inserted, block="center")
    page.go_back()
    proposal = page.locator(".stipula-proposal").first
    proposal.get_by_text("Accetta…").click()
    proposal.get_by_label("Nota (facoltativa)").fill("Accolta")
    screens.take(page, "legal-officer-09-accept-proposal", focus=proposal)
    proposal.get_by_role("button", name="Conferma: accetta").click()
    says(page, "Proposta accettata: ora è la versione 2, il testo corrente.", timeout=SLOW)

    page.goto(agreement_url)
    page.locator("#round-table").get_by_role("link", name="Turno 1").click()
    page.get_by_role("button", name="Chiudi il turno").click()
    says(page, "Turno 1 chiuso.")

    # Who reviews, and in which order the parties sign.
    page.goto(agreement_url)
    page.get_by_role("link", name="Apri l'iter").click()
    page.locator("#process-actions").get_by_role("link", name="Revisori").click()
    form = page.locator("#reviewer-form")
    form.get_by_label("Revisore").select_option(label="Marco Rossi")
    form.get_by_role("button", name="Nomina revisore").click()
    says(page, "Marco Rossi è ora revisore di questo accordo.")
    screens.take(page, "legal-officer-10-reviewer")
    page.goto(agreement_url)
    page.get_by_role("link", name="Apri l'iter").click()
    page.locator("#process-actions").get_by_role("link", name="Ordine di firma").click()
    form = page.locator("#signing-order-form")
    form.get_by_label("Uno dopo l'altro, nell'ordine delle parti").check()
    screens.take(page, "legal-officer-11-signing-order")
    form.get_by_role("button", name="Salva l'ordine di firma").click()
    says(page, "L'ordine di firma è stato salvato.")

    page.goto(agreement_url)
    expect(page.locator("#versions")).to_contain_text("versione 2")
    page.locator("#actions").get_by_role("button", name="Invia alla revisione legale").click()
    says(page, "«Invia alla revisione legale»")
    expect_state(page, "Revisione legale")
    screens.take(page, "legal-officer-12-sent-to-review")


def reviewer_approves(new_context, world, screens, agreement_no):
    page = log_in(new_context, world, "marco.rossi")
    waiting = page.locator("#section-to_review")
    expect(waiting).to_contain_text("In attesa della Sua revisione legale")
    expect(waiting.get_by_role("link", name=SUBJECT)).to_be_visible()
    page.get_by_role("link", name="Apri le mie attività").click()
    task = page.locator("#inbox tr", has_text=f"{agreement_no}. {SUBJECT}")
    expect(task).to_contain_text("Revisione legale")
    screens.take(page, "reviewer-01-my-tasks")
    task.get_by_role("link", name="Revisione legale").click()

    form = page.locator("#review-form")
    items = form.locator("fieldset[data-item]")
    # Competence of each of the 3 parties, legal basis, financial coverage, data protection,
    # duration and withdrawal.
    expect(items).to_have_count(7)
    for index in range(7):
        items.nth(index).get_by_label("Conforme", exact=True).check()
    legal_basis = form.get_by_role("group", name="Base giuridica")
    legal_basis.get_by_label("Nota").fill("Art. 15 L. 241/1990 e art. 34 D.Lgs. 267/2000.")
    form.get_by_role("group", name="Decisione").get_by_label("Approva").check()
    form.get_by_label(re.compile("^Motivazioni")).fill("Testo conforme; copertura indicata.")
    screens.take(page, "reviewer-02-checklist", focus=form.get_by_role("group", name="Decisione"))
    form.get_by_role("button", name="Invia la revisione").click()
    says(page, "La Sua revisione è stata registrata: ha approvato l'accordo.", timeout=SLOW)
    expect(page.locator("#process")).to_contain_text("Firma")
    expect(page.locator("#reports")).to_contain_text("Marco Rossi")
    screens.take(page, "reviewer-03-approved")


def open_sign_page_from_tasks(page, agreement_url):
    page.get_by_role("link", name="Le mie attività", exact=True).first.click()
    task = page.locator("#inbox tr", has_text=SUBJECT)
    task.get_by_role("link", name="Firma dell'accordo").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Firma dell'accordo n\."))).to_be_visible()


def signatories_sign(new_context, world, screens, representative, agreement_url, tmp_path):
    from signing.pki import DEMO_PKCS12_PASSWORD

    # 1. The health authority's director, with her remote signing key (a PKCS#11 token) and PIN.
    page = log_in(new_context, world, REMOTE_SIGNER)
    mine = page.locator("#section-to_sign")
    expect(mine).to_contain_text("Accordi in cui Lei è tra i firmatari")
    mine.get_by_role("link", name=SUBJECT).click()
    page.get_by_role("link", name="Vai alle firme").click()
    expect(page.locator("#progress")).to_contain_text("0 su 3")
    screens.take(page, "signatory-01-signatures")
    page.locator("#your-signature").get_by_role("link", name="Firma", exact=True).click()
    expect(page.locator("#signatory")).to_contain_text("Anna Galli, Direttore generale")
    way = page.locator("#way-pkcs11")
    if way.get_attribute("open") is None:
        way.locator("summary").click()
    way.get_by_label("PIN della Sua chiave di firma").fill(world.pin)
    screens.take(page, "signatory-02-remote-key", focus=way)
    way.get_by_role("button", name="Firma", exact=True).click()
    says(page, "Firma apposta. La Sua firma ha superato la validazione.", timeout=SLOW)
    expect(page.locator("#progress")).to_contain_text("1 su 3")

    # 2. Confcommercio's chair, with her PKCS#12 file and its password.
    page = log_in(new_context, world, PKCS12_SIGNER)
    open_sign_page_from_tasks(page, agreement_url)
    way = page.locator("#way-pkcs12")
    if way.get_attribute("open") is None:
        way.locator("summary").click()
    way.get_by_label("Il Suo certificato di firma").set_input_files(
        world.pkcs12_dir / f"{PKCS12_SIGNER}.p12"
    )
    way.get_by_label("Password del file").fill(DEMO_PKCS12_PASSWORD)
    screens.take(page, "signatory-03-pkcs12-file", focus=way)
    way.get_by_role("button", name="Firma", exact=True).click()
    says(page, "Firma apposta. La Sua firma ha superato la validazione.", timeout=SLOW)
    expect(page.locator("#progress")).to_contain_text("2 su 3")

    # 3. The Conference of Mayors' chair, last, with his own signing tool: he downloads the PDF,
    # signs it in his field outside Stipula and uploads it.
    page = representative
    open_sign_page_from_tasks(page, agreement_url)
    field = page.get_by_role("row", name=re.compile("Il Suo campo firma")).locator("td")
    field_name = field.inner_text().strip()
    assert field_name.startswith("Firma_3_")
    way = page.locator("#way-external")
    if way.get_attribute("open") is None:
        way.locator("summary").click()
    expect(way).to_contain_text(f"«{field_name}»")
    to_sign = download(page, way.get_by_role("link", name="Scarica il PDF da firmare"))
    assert to_sign.startswith(b"%PDF-")
    signed = tmp_path / "patto-firmato.pdf"
    signed.write_bytes(
        sign_outside_stipula(
            to_sign,
            field=field_name,
            pkcs12=world.pkcs12_dir / f"{EXTERNAL_SIGNER}.p12",
            password=DEMO_PKCS12_PASSWORD,
            pki=world.pki,
        )
    )
    way.get_by_label("Il PDF firmato").set_input_files(signed)
    screens.take(page, "signatory-04-own-signing-tool", focus=way)
    way.get_by_role("button", name="Carica e verifica la firma").click()
    says(page, "Firma apposta. La Sua firma ha superato la validazione.", timeout=SLOW)
    expect(page.locator("#progress")).to_contain_text("3 su 3")
    expect(page.locator("[data-document-level]")).to_have_text("B-LTA")
    rows = page.locator("#signatory-table tbody tr")
    expect(rows).to_have_count(3)
    for index in range(3):
        expect(rows.nth(index)).to_have_attribute("data-indication", "PASSED")
    screens.take(page, "signatory-05-all-signed")
    page.goto(agreement_url)
    expect_state(page, "Firmato")


def registrar_registers(new_context, world, screens, agreement_url, year):
    page = log_in(new_context, world, "giulia.neri")
    waiting = page.locator("#section-signed")
    expect(waiting).to_contain_text("Firmati, in attesa di registrazione")
    expect(waiting.get_by_role("link", name=SUBJECT)).to_be_visible()
    screens.take(page, "registrar-01-home")
    waiting.get_by_role("link", name=SUBJECT).click()
    expect(page.locator("#registration-card")).to_contain_text(
        "L'accordo è firmato: è in attesa del numero di registrazione."
    )
    page.get_by_role("link", name="Registra questo accordo").click()

    form = page.locator("#register-form")
    register = form.get_by_label("Registro")
    code, name, _kind = demo_data.REGISTERS[0]
    register.select_option(label=f"{code} · {name}")
    form.get_by_label("Classificazione").fill(demo_data.PATTO_CLASSIFICATION)
    form.get_by_label("Assegnazione interna").fill(demo_data.PATTO_ASSIGNMENT)
    form.get_by_label("Pubblica il PDF firmato sulla pagina pubblica").check()
    screens.take(page, "registrar-02-register")
    form.get_by_role("button", name="Registra: attribuisci il numero successivo").click()
    label = f"REP-CONV 0000001/{year}"
    says(page, f"Registrato come {label}", timeout=SLOW)
    expect(page.locator("#label")).to_have_text(label)
    expect(page.locator("#number")).to_have_text(f"0000001/{year}")
    screens.take(page, "registrar-03-registration")
    receipt = download(
        page, page.get_by_role("link", name="Scarica la ricevuta di registrazione (PDF)")
    )
    assert receipt.startswith(b"%PDF-")
    page.goto(agreement_url)
    expect_state(page, "Registrato")
    expect(page.locator("#registration-card")).to_contain_text(label)
    return label


def auditor_verifies(new_context, world, screens, agreement_no, label):
    page = log_in(new_context, world, "paolo.conti", keyboard=True)
    open_menu(page, "Registro di audit")
    page.get_by_label("Numero dell'accordo").fill(str(agreement_no))
    page.get_by_role("button", name="Filtra").click()
    page.get_by_role("link", name="Cronologia di questo accordo").click()
    heading = page.get_by_role("heading", name=f"Cronologia dell'accordo n. {agreement_no}")
    expect(heading).to_be_visible()
    expect_state(page, "Registrato")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Accordo creato")
    expect(timeline).to_contain_text("Proposta accolta")
    screens.take(page, "auditor-01-timeline")

    page.get_by_role("link", name="Rapporto di verifica del procedimento").first.click()
    expect(page.locator("#report-status")).to_have_text("SUPERATO", timeout=SLOW)
    expect(page.locator("#report-chain")).to_contain_text("Catena di audit: verificata")
    section = page.locator(f"section#agreement-{agreement_no}")
    expect(section).to_contain_text(label)
    checks = section.locator(".audit-check")
    expect(checks.first).to_be_visible()
    statuses = checks.evaluate_all("nodes => nodes.map(n => n.dataset.status)")
    assert statuses and set(statuses) == {"PASS"}, statuses
    screens.take(page, "auditor-02-procedure-report")

    # The same report in English, from the language menu.
    page.locator("form.stipula-lang").get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Procedure verification report")).to_be_visible()
    expect(page.locator("#report-status")).to_have_text("PASS")
    expect(page.locator("#report-chain")).to_contain_text("Audit chain: verified")
    checks = page.locator(f"section#agreement-{agreement_no} .audit-check")
    expect(checks.first.locator(".audit-badge")).to_have_text("PASS")
    screens.take(page, "auditor-03-report-in-english")
