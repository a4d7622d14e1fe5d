"""Facts for the demo, copied from the seed text on the Patto per l'Inclusione Sociale (Versilia).

The parties are those the seed names; people, fiscal codes, VAT numbers and authorising acts are
fictitious demo values.
"""

PATTO_SUBJECT = "Patto territoriale per l'inclusione sociale della Versilia"

PREMISES = [
    "L'Unità Funzionale ha promosso la costituzione di un Patto territoriale per l'inclusione "
    "sociale proponendo alla Conferenza dei Sindaci della Versilia l'attivazione di un tavolo con "
    "gli attori sociali del territorio.",
    "Numerose sono le realtà, sia istituzionali che di volontariato, che operano nel settore "
    "sociale, a cui corrisponde una frammentazione degli interventi con conseguente dispersione di "
    "risorse ed energie.",
    "Nelle strategie di impresa comincia ad affermarsi la sensibilità verso la responsabilità "
    "sociale d'impresa, che prevede anche un impegno verso la riduzione del disagio o "
    "dell'esclusione sociale.",
    "Diventa quindi imprescindibile rafforzare la scelta di rete, di collegamento delle varie "
    "realtà ed opportunità del territorio, per promuovere e attivare un processo sinergico di "
    "risposta ai bisogni di inclusione sociale ed esercizio di cittadinanza reale.",
]

OBJECTIVES = [
    "ricondurre l'esercizio dei diritti delle persone in stato di svantaggio all'interno delle "
    "politiche di mainstreaming individuate dall'Unione Europea;",
    "identificare le condizioni sociali, economiche, amministrative ed organizzative in cui le "
    "politiche e le buone prassi per l'inclusione sociale possano aumentare a livello locale la "
    "loro efficacia;",
    "creare i presupposti operativi per evitare che l'esclusione sociale diventi la condizione "
    "permanente di vita dei cittadini in stato di disagio.",
]

ACTIONS = [
    "istituzione di un Forum permanente per l'inclusione sociale;",
    "definizione di una comune strategia culturale di prevenzione dell'esclusione sociale;",
    "elaborazione di risposte condivise tra tutti gli attori sociali interessati per specifiche "
    "aree: inserimento lavorativo, alloggio, trasporti, microcredito, formazione, cultura, vita "
    "di relazione;",
    "stipula di convenzioni e protocolli;",
    "verifica e controllo delle procedure;",
    "diffusione dei risultati.",
]

# (party name, kind, fiscal code, VAT number, signatory username, first name, last name, title,
#  authorising act). The Conference of Mayors signs last, by its chair.
PARTIES = [
    ("Azienda USL 12 di Viareggio", "public_body", "01234560467", "", "direttore.usl12",
     "Anna", "Galli", "Direttore generale", "Delibera del Direttore generale n. 412/2026"),
    ("Provincia di Lucca", "public_body", "80001230462", "", "presidente.provincia",
     "Marco", "Lenzi", "Presidente della Provincia", "Decreto presidenziale n. 58/2026"),
    ("Camera di Commercio di Lucca", "public_body", "80004560461", "", "presidente.cciaa",
     "Elena", "Pardini", "Presidente", "Delibera di Giunta camerale n. 97/2026"),
    ("Associazione Industriali della Provincia di Lucca", "private_entity", "80007890463",
     "", "presidente.industriali", "Giorgio", "Tognetti", "Presidente",
     "Delibera del Consiglio direttivo del 14/10/2026"),
    ("CNA Lucca", "private_entity", "91002340465", "01234567890", "presidente.cna", "Silvia",
     "Barsotti", "Presidente provinciale", "Delibera della Presidenza del 20/10/2026"),
    ("Confartigianato Lucca", "private_entity", "80012340466", "", "presidente.confartigianato",
     "Luca", "Del Carlo", "Presidente", "Delibera della Giunta esecutiva n. 12/2026"),
    ("Confcommercio Versilia", "private_entity", "91005670464", "", "presidente.confcommercio",
     "Paola", "Giannecchini", "Presidente", "Delibera del Consiglio del 22/10/2026"),
    ("Istituti di credito del territorio", "private_entity", "", "02345678901",
     "delegato.credito", "Roberto", "Martinelli", "Delegato degli istituti di credito aderenti",
     "Procura speciale del 05/10/2026"),
    ("Lazzi S.p.A.", "private_entity", "", "03456789012", "ad.lazzi", "Francesca", "Lazzeri",
     "Amministratore delegato", "Delibera del CdA del 30/09/2026"),
    ("CLAP S.p.A.", "private_entity", "", "04567890123", "ad.clap", "Stefano", "Puccinelli",
     "Amministratore delegato", "Delibera del CdA del 01/10/2026"),
    ("Gruppi immobiliari aderenti", "private_entity", "", "05678901234", "delegato.immobiliari",
     "Chiara", "Rossetti", "Delegata dei gruppi immobiliari", "Procura speciale del 08/10/2026"),
    ("Organizzazioni sindacali confederali", "private_entity", "91008900467", "",
     "segretario.sindacati", "Andrea", "Bertolucci", "Segretario territoriale",
     "Mandato unitario del 10/10/2026"),
    ("Consorzio delle cooperative sociali", "private_entity", "91011230468", "06789012345",
     "presidente.cooperative", "Martina", "Ghilarducci", "Presidente",
     "Delibera dell'Assemblea dei soci del 15/10/2026"),
    ("Coordinamento delle associazioni di volontariato", "private_entity", "91014560469", "",
     "portavoce.volontariato", "Giovanni", "Dinelli", "Portavoce",
     "Delibera dell'Assemblea del 18/10/2026"),
    ("Conferenza dei Sindaci della Versilia", "public_body", "91017890460", "",
     "presidente.conferenza", "Alessandro", "Mei", "Presidente della Conferenza dei Sindaci",
     "Deliberazione della Conferenza dei Sindaci n. 7/2026"),
]  # fmt: skip

# Each signatory's codice fiscale (fictitious, but well formed: surname, name, date of birth, sex,
# municipality of birth and check character as the Agenzia delle Entrate computes them). It is on
# the Signatory and in the subject serialNumber of their demo certificate as TINIT-<codice
# fiscale> (RULES.md S8), which is how a signature is matched to its signatory.
SIGNATORY_FISCAL_CODES = {
    "direttore.usl12": "GLLNNA68D63L833Q",  # 23/04/1968, Viareggio
    "presidente.provincia": "LNZMRC72P05E715C",  # 05/09/1972, Lucca
    "presidente.cciaa": "PRDLNE70S57E715S",  # 17/11/1970, Lucca
    "presidente.industriali": "TGNGRG61C08G628M",  # 08/03/1961, Pietrasanta
    "presidente.cna": "BRSSLV75H70B455R",  # 30/06/1975, Camaiore
    "presidente.confartigianato": "DLCLCU66A14E715W",  # 14/01/1966, Lucca
    "presidente.confcommercio": "GNNPLA69L42L833O",  # 02/07/1969, Viareggio
    "delegato.credito": "MRTRRT63T09G702S",  # 09/12/1963, Pisa
    "ad.lazzi": "LZZFNC74E61D612J",  # 21/05/1974, Firenze
    "ad.clap": "PCCSFN67R27E715I",  # 27/10/1967, Lucca
    "delegato.immobiliari": "RSSCHR78B51D730Y",  # 11/02/1978, Forte dei Marmi
    "segretario.sindacati": "BRTNDR71M16F035M",  # 16/08/1971, Massarosa
    "presidente.cooperative": "GHLMTN80C44I622C",  # 04/03/1980, Seravezza
    "portavoce.volontariato": "DNLGNN58R01L833C",  # 01/10/1958, Viareggio
    "presidente.conferenza": "MEILSN65L19G628J",  # 19/07/1965, Pietrasanta
}

# How the demo's signatories sign, in party order: the first five with a remote signing key
# (a PKCS#11 token on the server), the next five with a PKCS#12 file, the last five with their
# own signing tool (a signed PDF uploaded).
SIGNING_WAYS = ("pkcs11",) * 5 + ("pkcs12",) * 5 + ("external",) * 5
REMOTE_SIGNING_USERS = tuple(
    row[4] for row, way in zip(PARTIES, SIGNING_WAYS, strict=True) if way == "pkcs11"
)


def pki_signers() -> tuple[tuple[str, str, str, str, str], ...]:
    """The signatories' demo certificates, as ``signing.pki.Signer`` fields: (label = username,
    common name, given name, surname, codice fiscale)."""
    return tuple(
        (username, f"{first} {last}", first, last, SIGNATORY_FISCAL_CODES[username])
        for _name, _kind, _cf, _vat, username, first, last, _title, _act in PARTIES
    )


# (username, first name, last name, role)
STAFF = [
    ("laura.bianchi", "Laura", "Bianchi", "legal_officer"),
    ("marco.rossi", "Marco", "Rossi", "reviewer"),
    ("giulia.neri", "Giulia", "Neri", "registrar"),
    ("paolo.conti", "Paolo", "Conti", "auditor"),
    ("admin", "Amministratore", "Stipula", "administrator"),
]

DEMO_PASSWORD = "stipula-demo"  # noqa: S105 - demo accounts on a local database only

# The registers of the demo administration (the Conferenza dei Sindaci's office): its IPA code,
# its organisational area (AOO), and (code, name, kind) per register.
ADMINISTRATION_CODE = "cdsvers"
AOO_CODE = "AOO-UDP"
REGISTERS = [
    ("REP-CONV", "Repertorio delle convenzioni e degli accordi", "repertorio"),
    ("PG", "Protocollo generale", "protocol"),
]
PATTO_CLASSIFICATION = "7.1 - Servizi sociali: programmazione"
PATTO_ASSIGNMENT = "Ufficio di Piano"
