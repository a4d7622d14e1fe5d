"""Signing time: our PAdES B-T signature vs a bare pyHanko ``sign_pdf`` on the same file.

Targets (from the issue): one signature through ``signing.pades.sign_pkcs12`` within 1.3x of a
bare pyHanko call; signing in sequence with 5, 10, 20 signatories and validating every signature
after each, within 1.5x of the same sequence done with bare pyHanko calls. Both sides use the same
local PKI (certomancer TSA, OCSP and CRLs on loopback, in a temporary directory) and the same
10-page PDF prepared with one empty field per signatory. No database is used.

    .venv/bin/python bench/signing.py [--runs 10] [--sizes 5,10,20]
"""

import argparse
import io
import os
import statistics
import tempfile
import time

import _setup

SINGLE_TARGET = 1.3
SEQUENCE_TARGET = 1.5
PASSWORD = "bench"  # noqa: S105 - throwaway PKCS#12 files of a temporary test PKI


def make_pdf(pages: int = 10) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for number in range(1, pages + 1):
        text = c.beginText(72, 780)
        text.textLine(f"Articolo {number}")
        for line in range(40):
            text.textLine(f"Comma {line + 1}: le parti si impegnano a collaborare lealmente.")
        c.drawText(text)
        c.showPage()
    c.save()
    return buf.getvalue()


def bare_sign(pdf, field_name, p12, tsa_url):
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers, timestamps

    signer = signers.SimpleSigner.load_pkcs12_data(p12, (), passphrase=PASSWORD.encode())
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
    )
    pdf_signer = signers.PdfSigner(
        meta, signer=signer, timestamper=timestamps.HTTPTimeStamper(tsa_url)
    )
    return pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf))).getvalue()


def bare_validate(pdf, roots):
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(pdf))
    results = []
    for embedded in reader.embedded_signatures:
        vc = ValidationContext(trust_roots=roots, allow_fetching=True, revocation_mode="hard-fail")
        ts_vc = ValidationContext(
            trust_roots=roots, allow_fetching=True, revocation_mode="hard-fail"
        )
        status = validate_pdf_signature(
            embedded, signer_validation_context=vc, ts_validation_context=ts_vc
        )
        results.append(status.bottom_line)
    return results


def ours_sign(pdf, field_name, p12, tsa_url):
    from signing.pades import sign_pkcs12

    return sign_pkcs12(
        pdf, field_name=field_name, pkcs12=p12, password=PASSWORD, timestamper_url=tsa_url
    )


def median_time(fn, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--sizes", default="5,10,20")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stipula.settings")
    import django

    django.setup()
    from asn1crypto import x509

    from signing.pades import SignatoryField, field_name_for, prepare_for_signing, validate
    from signing.pki import GOOD_SIGNERS, running_pki

    print(f"machine: {_setup.machine()}")
    with tempfile.TemporaryDirectory() as tmp, running_pki(tmp) as pki:
        p12s = {label: pki.pkcs12(label, PASSWORD) for label in GOOD_SIGNERS}
        roots = [pki.root_der]
        approved = make_pdf()

        def signatories(n):
            return [SignatoryField(f"Firmatario {i}", "Delegato", f"Ente {i}") for i in range(n)]

        prepared = prepare_for_signing(approved, signatories(1))
        field = field_name_for(1, signatories(1)[0])
        p12 = p12s["rossi"]
        # warm-up: imports, first TLS-less HTTP connections, certomancer caches
        bare_sign(prepared, field, p12, pki.tsa_url)
        ours_sign(prepared, field, p12, pki.tsa_url)
        bare = median_time(lambda: bare_sign(prepared, field, p12, pki.tsa_url), args.runs)
        ours = median_time(lambda: ours_sign(prepared, field, p12, pki.tsa_url), args.runs)
        ratio = ours / bare
        verdict = "ok" if ratio <= SINGLE_TARGET else "OVER TARGET"
        print(
            f"one B-T signature, 10-page PDF (median of {args.runs}): bare pyHanko {bare:.3f} s, "
            f"ours {ours:.3f} s, ratio {ratio:.2f} (target {SINGLE_TARGET}) {verdict}"
        )

        print("sequence: sign each field in turn, validate all signatures after each")
        print(f"{'signatories':>11} {'bare (s)':>9} {'ours (s)':>9} {'ratio':>6}")
        trust = [x509.Certificate.load(der) for der in roots]
        for n in sizes:
            people = signatories(n)
            doc = prepare_for_signing(approved, people)
            labels = [GOOD_SIGNERS[i % len(GOOD_SIGNERS)] for i in range(n)]

            start = time.perf_counter()
            pdf = doc
            for i, (person, label) in enumerate(zip(people, labels, strict=True), 1):
                pdf = bare_sign(pdf, field_name_for(i, person), p12s[label], pki.tsa_url)
                assert all(bare_validate(pdf, trust))
            bare_seq = time.perf_counter() - start

            start = time.perf_counter()
            pdf = doc
            for i, (person, label) in enumerate(zip(people, labels, strict=True), 1):
                pdf = ours_sign(pdf, field_name_for(i, person), p12s[label], pki.tsa_url)
                assert all(r.passed for r in validate(pdf, trust_roots=roots))
            ours_seq = time.perf_counter() - start
            ratio = ours_seq / bare_seq
            verdict = "ok" if ratio <= SEQUENCE_TARGET else "OVER TARGET"
            print(f"{n:>11} {bare_seq:>9.2f} {ours_seq:>9.2f} {ratio:>6.2f} {verdict}")


if __name__ == "__main__":
    main()
