"""Signing time: a signature through the signing service vs bare pyHanko calls on the same file.

Targets (from the issue): one signature through ``signing.services.signature_apply_pkcs12`` within
1.3x of a bare pyHanko ``sign_pdf`` (B-T) on the same file; signing in sequence with 5, 10, 20
signatories and validating every signature after each, within 1.5x of the same sequence done with
bare pyHanko calls.

Our side is the real service on a real database: agreements built through the services (users,
organisations, parties, signatories with the fiscal codes of their certificates, a version made
from a DOCX of about ten pages converted by LibreOffice, review, approval, which prepares the PDF
with one empty field per signatory). None of that is timed. Each timed call is what a signatory's
click does: check who may sign, sign with the PKCS#12 key after validating the signer's chain
online (pre-check; the certificates and OCSP/CRL answers are embedded, so the signature is B-LT
when they can be fetched, as they can here), validate every signature of the new revision, and
record it under the agreement's row lock (file, Signature, SignatureValidation, audit event,
workflow); the last signature also makes the document B-LTA (validation data for every signature
and a document timestamp) and moves the agreement to «signed». The network side of a call is one
operation (``signing.pades.Online``): what the pre-check fetched serves the B-LT data and the
validation of that call, and the next call fetches again.

The baseline, in the same run and on the same prepared PDF: pyHanko ``sign_pdf`` with a PKCS#12
key and the same TSA (B-T), and ``validate_pdf_signature`` on each signature (online revocation
checks, hard-fail), nothing else. Both use the same local PKI (certomancer: TSA, OCSP and CRLs on
loopback, in this process, in a temporary directory).

    .venv/bin/python bench/signing.py [--runs 10] [--sizes 5,10,20] [--steps] [--profile]

The database is dropped and recreated (its name must contain "bench"): $DATABASE_URL when its
name contains "bench", otherwise SQLite in var/stipula_bench_signing.sqlite3.
"""

import argparse
import asyncio
import functools
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack

import _setup

SINGLE_TARGET = 1.3
SEQUENCE_TARGET = 1.5
PASSWORD = "bench"  # noqa: S105 - throwaway PKCS#12 files of a temporary test PKI
DEFAULT_SQLITE_URL = f"sqlite:///{_setup.ROOT / 'var' / 'stipula_bench_signing.sqlite3'}"
# Articles of the DOCX: about ten A4 pages once converted (the page count is printed).
ARTICLES = 23
SENTENCES = [
    "Le parti si impegnano a collaborare, ciascuna per le proprie competenze, alla realizzazione "
    "degli interventi previsti dalla presente convenzione, nel rispetto dei principi di "
    "sussidiarietà, adeguatezza e leale collaborazione.",
    "Gli enti sottoscrittori mettono a disposizione personale, sedi e strumenti secondo quanto "
    "stabilito nel piano operativo annuale approvato dal comitato di coordinamento.",
    "Gli oneri derivanti dal presente articolo sono ripartiti tra le parti in proporzione alle "
    "attività svolte, senza nuovi o maggiori oneri a carico della finanza pubblica.",
]


# Bare pyHanko --------------------------------------------------------------------------------


def bare_sign(pdf: bytes, field_name: str, p12: bytes, tsa_url: str, lt_roots=None) -> bytes:
    """pyHanko ``sign_pdf`` in an existing empty field: PKCS#12 key, PAdES, SHA-256, TSA (B-T);
    with ``lt_roots``, also pyHanko's own embedding of validation data (B-LT), for reference."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers, timestamps
    from pyhanko_certvalidator import ValidationContext

    signer = signers.SimpleSigner.load_pkcs12_data(p12, (), passphrase=PASSWORD.encode())
    lt = {}
    if lt_roots is not None:
        lt = {
            "embed_validation_info": True,
            "validation_context": ValidationContext(
                trust_roots=lt_roots, allow_fetching=True, revocation_mode="hard-fail"
            ),
        }
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        **lt,
    )
    pdf_signer = signers.PdfSigner(
        meta, signer=signer, timestamper=timestamps.HTTPTimeStamper(tsa_url)
    )
    return pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf))).getvalue()


def bare_validate(pdf: bytes, roots) -> list[bool]:
    """``validate_pdf_signature`` on every signature, online revocation checks (hard-fail), one
    pair of validation contexts for the document (as ``signing.pades.validate`` does)."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(pdf))
    vc = ValidationContext(trust_roots=roots, allow_fetching=True, revocation_mode="hard-fail")
    ts_vc = ValidationContext(trust_roots=roots, allow_fetching=True, revocation_mode="hard-fail")
    return [
        bool(
            validate_pdf_signature(
                embedded, signer_validation_context=vc, ts_validation_context=ts_vc
            ).bottom_line
        )
        for embedded in reader.embedded_signatures
    ]


# Set-up through the services (not timed) -----------------------------------------------------


def agreement_docx() -> bytes:
    from agreements.docx import compose_docx

    sections = [
        (
            f"Art. {n} - Disposizioni",
            [f"{n}.{k} {SENTENCES[(n + k) % len(SENTENCES)]}" for k in range(1, 6)],
        )
        for n in range(1, ARTICLES + 1)
    ]
    return compose_docx(
        title="Convenzione per la gestione associata dei servizi sociali",
        sections=sections,
        parties=[f"Comune di Prova {n}" for n in range(1, 6)],
    )


def make_user(username: str, role: str, first_name: str, last_name: str):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(
        username=username,
        email=f"{username}@example.org",
        password=None,  # no login here, and PBKDF2 would only slow the set-up down
        first_name=first_name,
        last_name=last_name,
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def extra_signers(count: int):
    """PKI signers beyond the five good certificates of certomancer.yml."""
    from signing.pki import Signer

    return [
        Signer(f"firmatario-{n}", f"Firmatario {n}", "Firmatario", str(n), f"FRMFMT80A{n:02d}H501Z")
        for n in range(1, count + 1)
    ]


def build_people(pki, labels):
    """The legal officer, a reviewer, and per certificate label a signatory user who is the
    member of an organisation of their own, with the certificate's fiscal code."""
    from agreements import services
    from agreements.models import Organisation
    from signing.pades import fiscal_code_of

    officer = make_user("avv.rossi", "legal_officer", "Laura", "Rossi")
    reviewer = make_user("dott.bianchi", "reviewer", "Rita", "Bianchi")
    signers = []
    for n, label in enumerate(labels, start=1):
        cert = pki.cert(label)
        names = cert.subject.native
        user = make_user(
            f"firmatario{n}",
            "signatory",
            names.get("given_name", "Firmatario"),
            names.get("surname", str(n)),
        )
        organisation = services.organisation_create(
            actor=None,
            name=f"Comune di Prova {n}",
            kind=Organisation.Kind.PUBLIC_BODY,
            fiscal_code=f"{80000000000 + n}",
        )
        services.organisation_add_member(
            actor=None, organisation=organisation, user=user, title="Sindaco"
        )
        signers.append(
            {
                "user": user,
                "organisation": organisation,
                "label": label,
                "fiscal_code": fiscal_code_of(cert),
                "p12": pki.pkcs12(label, PASSWORD),
            }
        )
    return officer, reviewer, signers


def build_agreement(number, officer, reviewer, signers, docx):
    """An approved agreement in «signature» with one party and signatory per signer: its PDF is
    prepared with one empty field each by the approval."""
    from agreements import services
    from agreements.models import Agreement, AgreementState

    agreement = services.agreement_create(
        actor=officer,
        subject=f"Convenzione n. {number} per la gestione associata dei servizi sociali",
        kind=Agreement.Kind.CONVENZIONE,
    )
    signatories = []
    for signer in signers:
        party = services.agreement_add_party(
            actor=officer, agreement=agreement, organisation=signer["organisation"]
        )
        signatories.append(
            services.agreement_add_signatory(
                actor=officer,
                agreement=agreement,
                party=party,
                user=signer["user"],
                title="Sindaco",
                authorising_act=f"Delibera di Giunta n. {number}/2026",
                fiscal_code=signer["fiscal_code"],
            )
        )
    services.version_create(actor=officer, agreement=agreement, docx=docx, note="Testo approvato")
    services.agreement_submit_for_review(actor=officer, agreement=agreement)
    services.agreement_approve(actor=reviewer, agreement=agreement)
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNATURE, agreement.state
    return agreement, signatories


def prepared_of(agreement, signatories):
    """The prepared PDF of an agreement and the field of each signatory, in order."""
    from agreements.storage import read_bytes
    from signing.models import SigningDocument

    document = SigningDocument.objects.get(agreement=agreement)
    fields = [document.field_for(s) for s in signatories]
    return read_bytes(document.prepared_pdf.name), fields


# Timing ------------------------------------------------------------------------------------


class Context:
    def __init__(self, pki, signers):
        self.pki = pki
        self.signers = signers
        self.roots = [pki.root_der]
        from asn1crypto import x509

        self.trust = [x509.Certificate.load(der) for der in self.roots]

    def ours(self, agreement, signatory, signer):
        from signing.services import signature_apply_pkcs12

        return signature_apply_pkcs12(
            actor=signer["user"],
            agreement=agreement,
            signatory=signatory,
            pkcs12=signer["p12"],
            password=PASSWORD,
            timestamper_url=self.pki.tsa_url,
            trust_roots=self.roots,
        )


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def single(ctx, agreements, *, warmup: bool):
    """Per run, on the prepared PDF of a fresh agreement: bare sign (B-T) and bare validation of
    the new signature; the same with pyHanko's B-LT embedding, for reference; then the service
    signing the same field of the same agreement."""
    rows = []
    tsa = ctx.pki.tsa_url
    for agreement, signatories in agreements:
        signer = ctx.signers[0]
        prepared, fields = prepared_of(agreement, signatories)
        bare_seconds, signed = timed(bare_sign, prepared, fields[0], signer["p12"], tsa)
        validate_seconds, results = timed(bare_validate, signed, ctx.trust)
        assert results == [True], results
        lt_seconds, signed = timed(
            bare_sign, prepared, fields[0], signer["p12"], tsa, lt_roots=ctx.trust
        )
        lt_validate_seconds, results = timed(bare_validate, signed, ctx.trust)
        assert results == [True], results
        ours_seconds, signature = timed(ctx.ours, agreement, signatories[0], signer)
        assert signature.indication == "PASSED", signature.report
        rows.append(
            {
                "bare": bare_seconds,
                "bare_validate": bare_seconds + validate_seconds,
                "bare_lt": lt_seconds,
                "bare_lt_validate": lt_seconds + lt_validate_seconds,
                "ours": ours_seconds,
                "level": signature.report.get("level", ""),
            }
        )
    return rows if not warmup else []


def sequence(ctx, agreement, signatories):
    """The agreement's signatories sign in turn. Bare: sign_pdf, then validate every signature,
    after each one. Ours: the service calls (each validates every signature); the last one also
    archives (B-LTA) and completes. Returns the seconds of each step."""
    from agreements.models import AgreementState
    from signing.models import Signature, SigningDocument

    prepared, fields = prepared_of(agreement, signatories)
    signers = ctx.signers[: len(signatories)]
    bare_steps = []
    pdf = prepared
    for field, signer in zip(fields, signers, strict=True):

        def step(pdf=pdf, field=field, signer=signer):
            signed = bare_sign(pdf, field, signer["p12"], ctx.pki.tsa_url)
            return signed, bare_validate(signed, ctx.trust)

        seconds, (pdf, results) = timed(step)
        assert all(results) and len(results) == len(bare_steps) + 1, results
        bare_steps.append(seconds)

    ours_steps, levels = [], []
    archive = Stopwatch("signing.services", "_archive")
    with archive:
        for signatory, signer in zip(signatories, signers, strict=True):
            seconds, signature = timed(ctx.ours, agreement, signatory, signer)
            assert signature.indication == "PASSED", signature.report
            ours_steps.append(seconds)
            levels.append(signature.report.get("level", ""))
    agreement.refresh_from_db()
    document = SigningDocument.objects.get(agreement=agreement)
    assert agreement.state == AgreementState.SIGNED, agreement.state
    assert Signature.objects.filter(signatory__in=signatories).count() == len(signatories)
    return {
        "bare": bare_steps,
        "ours": ours_steps,
        "archive": archive.seconds,
        "archive_calls": archive.calls,
        "levels": levels,
        "final_level": document.level,
    }


class Stopwatch:
    """Wall time spent in ``module.name`` (a function called through the module's globals) while
    active: the B-LTA step of the service, measured without changing it."""

    def __init__(self, module: str, name: str):
        import importlib

        self.module = importlib.import_module(module)
        self.name = name
        self.seconds = 0.0
        self.calls = 0

    def __enter__(self):
        original = self.original = getattr(self.module, self.name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        setattr(self.module, self.name, wrapper)
        return self

    def __exit__(self, *exc):
        setattr(self.module, self.name, self.original)


# Attribution (--profile) -------------------------------------------------------------------


class Attribution:
    """Wall-clock time per category: the union of the intervals spent inside the wrapped
    functions (async ones included, from call to return: time waiting on the network counts),
    so concurrent OCSP/CRL fetches are not counted twice. Diagnostic only."""

    def __init__(self):
        self.intervals = defaultdict(list)
        self.stack = ExitStack()

    def add(self, category, started, ended):
        self.intervals[category].append((started, ended))

    def reset(self):
        self.intervals.clear()

    def wrap(self, owner, name, category):
        original = getattr(owner, name)
        recorder = self

        if asyncio.iscoroutinefunction(original):

            @functools.wraps(original)
            async def wrapper(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    recorder.add(category, started, time.perf_counter())

        else:

            @functools.wraps(original)
            def wrapper(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    recorder.add(category, started, time.perf_counter())

        setattr(owner, name, wrapper)
        self.stack.callback(setattr, owner, name, original)

    def __enter__(self):
        from cryptography.hazmat.primitives.serialization import pkcs12
        from django.db import connection
        from pyhanko.sign.signers.pdf_signer import PdfSigner
        from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper
        from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
        from pyhanko_certvalidator.fetchers.aiohttp_fetchers import (
            cert_fetch_client,
            crl_client,
            ocsp_client,
            util,
        )

        import signing.services
        from signing import pades
        from workflow import hooks

        self.wrap(pades, "sign_pkcs12", "sign: pades.sign_pkcs12")
        self.wrap(pades, "_check_chain", "sign: chain pre-check (path + OCSP/CRL)")
        self.wrap(PdfSigner, "async_sign_pdf", "sign: PdfSigner.async_sign_pdf")
        self.wrap(HTTPTimeStamper, "async_request_tsa_response", "net: TSA request")
        self.wrap(ocsp_client, "_grab_ocsp", "net: OCSP requests")
        self.wrap(crl_client, "_grab_crl", "net: CRL requests")
        self.wrap(cert_fetch_client, "_grab_certs", "net: certificate requests")
        self.wrap(pades, "validate", "validate: pades.validate (all signatures)")
        self.wrap(sys.modules[__name__], "bare_validate", "validate: bare (all signatures)")
        self.wrap(sys.modules[__name__], "bare_sign", "sign: bare sign_pdf")
        self.wrap(EmbeddedPdfSignature, "compute_integrity_info", "validate: integrity")
        self.wrap(EmbeddedPdfSignature, "evaluate_modifications", "validate: diff analysis")
        self.wrap(signing.services, "_archive", "B-LTA: archive_timestamp")
        self.wrap(signing.services, "read_bytes", "storage: read PDF")
        self.wrap(signing.services, "store_bytes", "storage: store PDF")
        self.wrap(signing.services, "_record", "record: locked transaction")
        self.wrap(pades.SignatureReport, "to_dict", "record: SignatureReport.to_dict")
        self.wrap(hooks, "signature_recorded", "record: workflow hook")
        self.wrap(signing.services, "_check_can_sign", "checks: _check_can_sign")
        self.wrap(pkcs12, "load_key_and_certificates", "sign: PKCS#12 decryption")
        self.wrap(util, "_default_session", "net: new HTTP session (loads CA bundle)")
        self.wrap(pades.Online, "_open_session", "net: new HTTP session (service, shared CA)")
        self.wrap(pades, "_with_validation_data", "sign: B-LT DSS revision (TSA path + DSS)")

        def database(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                self.add("db: SQL statements", started, time.perf_counter())

        self.stack.enter_context(connection.execute_wrapper(database))
        return self

    def __exit__(self, *exc):
        self.stack.close()

    def report(self, title, total_seconds, calls):
        print(
            f"\n{title}: {calls} calls, {total_seconds:.3f} s wall, {total_seconds / calls:.3f} s "
            "per call"
        )
        print(f"  {'category':<46} {'count':>6} {'s/call':>8} {'share':>6}")
        for category in sorted(self.intervals):
            spans = sorted(self.intervals[category])
            covered, end = 0.0, float("-inf")
            for started, ended in spans:
                if ended <= end:
                    continue
                covered += ended - max(started, end)
                end = ended
            print(
                f"  {category:<46} {len(spans) / calls:>6.1f} {covered / calls:>8.3f} "
                f"{100 * covered / total_seconds:>5.0f}%"
            )
        self.reset()


def profile(ctx, singles, sequences, runs):
    """Diagnostic: where the time goes, per category (wall clock), then a cProfile of the
    service's single signatures (CPU of the main thread; the PKI answers in other threads)."""
    import cProfile
    import pstats

    with Attribution() as attribution:
        batch = singles[:runs]
        started = time.perf_counter()
        for agreement, signatories in batch:
            prepared, fields = prepared_of(agreement, signatories)
            signed = bare_sign(prepared, fields[0], ctx.signers[0]["p12"], ctx.pki.tsa_url)
            bare_validate(signed, ctx.trust)
        bare_seconds = time.perf_counter() - started
        attribution.report("one signature, bare sign_pdf + validation", bare_seconds, len(batch))
        started = time.perf_counter()
        for agreement, signatories in batch:
            ctx.ours(agreement, signatories[0], ctx.signers[0])
        ours_seconds = time.perf_counter() - started
        attribution.report("one signature, service", ours_seconds, len(batch))

        for agreement, signatories in sequences:
            n = len(signatories)
            prepared, fields = prepared_of(agreement, signatories)
            started = time.perf_counter()
            pdf = prepared
            for field, signer in zip(fields, ctx.signers, strict=False):
                pdf = bare_sign(pdf, field, signer["p12"], ctx.pki.tsa_url)
                bare_validate(pdf, ctx.trust)
            attribution.report(
                f"sequence of {n}, bare: sign + validate all, per step",
                time.perf_counter() - started,
                n,
            )
            started = time.perf_counter()
            for signatory, signer in zip(signatories[:-1], ctx.signers, strict=False):
                ctx.ours(agreement, signatory, signer)
            attribution.report(
                f"sequence of {n}, service, steps 1..{n - 1}, per step",
                time.perf_counter() - started,
                n - 1,
            )
            started = time.perf_counter()
            ctx.ours(agreement, signatories[-1], ctx.signers[n - 1])
            attribution.report(
                f"sequence of {n}, service, step {n} (completes: B-LTA)",
                time.perf_counter() - started,
                1,
            )

    batch = singles[runs:]
    profiler = cProfile.Profile()
    profiler.enable()
    for agreement, signatories in batch:
        ctx.ours(agreement, signatories[0], ctx.signers[0])
    profiler.disable()
    print(f"\ncProfile of {len(batch)} service calls (one signature each), main thread:")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


# Main --------------------------------------------------------------------------------------


def database_url(explicit: str | None) -> str:
    if explicit:
        return explicit
    env = os.environ.get("DATABASE_URL", "")
    if env:
        name = str(_setup.database_config(env).get("NAME", ""))
        if "bench" in os.path.basename(name):
            return env
        print(
            f"DATABASE_URL names {name!r}, without 'bench' in it: not touched; using "
            f"{DEFAULT_SQLITE_URL}"
        )
    return DEFAULT_SQLITE_URL


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="single signatures (default 10)")
    parser.add_argument("--sizes", default="5,10,20", help="signatories per sequence")
    parser.add_argument("--steps", action="store_true", help="print the time of every step")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="diagnostic instead of the figures: wall time per category (signing, TSA, "
        "OCSP/CRL, validation, diff analysis, DB, storage), then a cProfile of the service",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="database to drop and recreate, its name containing 'bench' (default: $DATABASE_URL "
        "if its name contains 'bench', else SQLite var/stipula_bench_signing.sqlite3)",
    )
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.sizes.split(",") if n.strip()]
    if args.runs < 1 or not sizes or min(sizes) < 2:
        _setup.fail("--runs must be at least 1 and every size at least 2")
    url = database_url(args.database_url)
    _setup.check_bench_database(url)
    if _setup.vendor_of(url) == "sqlite":
        (_setup.ROOT / "var").mkdir(exist_ok=True)

    data = tempfile.mkdtemp(prefix="stipula-bench-signing-")
    os.environ["STIPULA_DATA_DIR"] = data  # stored PDFs and DOCX files, the PKI keys
    try:
        _setup.fresh_database(url)
        from django.conf import settings

        from templates_docx.conversion import WarmConverter

        with WarmConverter() as converter:
            # version_create converts each DOCX: a warm LibreOffice keeps the set-up short.
            settings.STIPULA_CONVERTER = "warm"
            settings.STIPULA_CONVERTER_SOCKET = str(converter.socket_path)
            return run(args, sizes, data)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def run(args, sizes, data) -> int:
    from pyhanko.pdf_utils.reader import PdfFileReader

    from signing.pki import GOOD_SIGNERS, running_pki

    print(f"machine: {_setup.machine()}, load average {os.getloadavg()[0]:.2f}")
    count = max(max(sizes), 2)
    extras = extra_signers(max(0, count - len(GOOD_SIGNERS)))
    started = time.perf_counter()
    with running_pki(os.path.join(data, "pki"), extra_signers=extras) as pki:
        labels = (list(GOOD_SIGNERS) + [s.label for s in extras])[:count]
        officer, reviewer, signers = build_people(pki, labels)
        ctx = Context(pki, signers)
        docx = agreement_docx()
        number = iter(range(1, 10_000))
        single_count = 1 + args.runs * (2 if args.profile else 1)
        singles = [
            build_agreement(next(number), officer, reviewer, signers[:2], docx)
            for _ in range(single_count)
        ]
        sequences = [
            build_agreement(next(number), officer, reviewer, signers[:n], docx) for n in sizes
        ]
        approved = singles[0][0].approved_version
        from agreements.storage import read_bytes

        approved_pdf = read_bytes(approved.pdf.name)
        pages = int(PdfFileReader(io.BytesIO(approved_pdf)).root["/Pages"]["/Count"])
        print(
            f"set-up: {len(singles) + len(sequences)} approved agreements through the services "
            f"({pages}-page approved PDF, {len(approved_pdf) // 1024} KiB; prepared with the "
            f"signature page(s)), {len(signers)} signer certificates, in "
            f"{time.perf_counter() - started:.1f} s"
        )

        # Warm-up: imports, first connections, certomancer's caches, the service's code paths.
        single(ctx, singles[:1], warmup=True)
        if args.profile:
            profile(ctx, singles[1:], sequences, args.runs)
            return 0

        rows = single(ctx, singles[1:], warmup=False)
        median = {key: statistics.median(r[key] for r in rows) for key in rows[0] if key != "level"}
        levels = "/".join(sorted({r["level"] for r in rows}))
        ours = median["ours"]
        ratio = ours / median["bare"]
        print(f"\none signature, {pages}-page PDF + signature page (median of {args.runs}):")
        for label, key in [
            ("bare pyHanko sign_pdf, B-T", "bare"),
            ("bare sign_pdf B-T + validate_pdf_signature", "bare_validate"),
            ("(reference) bare sign_pdf B-LT", "bare_lt"),
            ("(reference) bare sign_pdf B-LT + validate_pdf_signature", "bare_lt_validate"),
            (f"service signature_apply_pkcs12 ({levels}, validated, recorded)", "ours"),
        ]:
            print(f"  {label:<62} {median[key]:.3f} s")
        print(
            f"  ratio service / bare sign: {ratio:.2f} (target {SINGLE_TARGET}: "
            f"{'met' if ratio <= SINGLE_TARGET else 'NOT met'}); service / bare sign + validate: "
            f"{ours / median['bare_validate']:.2f}; service / bare B-LT sign + validate: "
            f"{ours / median['bare_lt_validate']:.2f}"
        )

        print(
            "\nsequence: each signatory signs in turn and every signature is validated after "
            "each;\nratio over steps 1..N-1 (none completes the agreement); step N separately "
            "(the service's\nlast call also makes the document B-LTA and completes the agreement)"
        )
        header = (
            f"{'N':>3} {'bare 1..N-1':>11} {'ours 1..N-1':>11} {'ratio':>6} {'':>7} "
            f"{'bare N':>7} {'ours N':>7} {'B-LTA':>6} {'bare all':>8} {'ours all':>8}"
        )
        print(header)
        for (agreement, signatories), n in zip(sequences, sizes, strict=True):
            result = sequence(ctx, agreement, signatories)
            bare_head, ours_head = sum(result["bare"][:-1]), sum(result["ours"][:-1])
            seq_ratio = ours_head / bare_head
            verdict = "ok" if seq_ratio <= SEQUENCE_TARGET else "OVER"
            print(
                f"{n:>3} {bare_head:>11.2f} {ours_head:>11.2f} {seq_ratio:>6.2f} {verdict:>7} "
                f"{result['bare'][-1]:>7.2f} {result['ours'][-1]:>7.2f} "
                f"{result['archive']:>6.2f} {sum(result['bare']):>8.2f} "
                f"{sum(result['ours']):>8.2f}"
            )
            if args.steps:
                for k, (b, o, level) in enumerate(
                    zip(result["bare"], result["ours"], result["levels"], strict=True), 1
                ):
                    print(f"      step {k:>2}: bare {b:.3f} s, ours {o:.3f} s ({level})")
            assert result["final_level"] == "B-LTA", result["final_level"]
            assert set(result["levels"]) == {"B-LT"}, result["levels"]
        print(
            f"(seconds; target ratio {SEQUENCE_TARGET}; B-LTA: the service's archive_timestamp "
            "inside the last call; every signature of ours is B-LT, every document ends B-LTA)"
        )
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
