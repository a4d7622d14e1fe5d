"""Independent check with poppler's pdfsig (Debian poppler-utils).

Only the signatures' cryptographic validity is checked here (``-nocert``): poppler's certificate
check of the test PKI's chain still reports a generic error, also on a signature poppler makes
itself with the same certificate, while NSS's own ``vfychain`` accepts that chain.
"""

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("pdfsig") is None, reason="pdfsig not installed")


def test_pdfsig_finds_every_signature_valid(signed_in_sequence, tmp_path):
    pdf = tmp_path / "firmato.pdf"
    pdf.write_bytes(signed_in_sequence[0][-1])
    result = subprocess.run(  # noqa: S603 - fixed arguments, a file we wrote
        ["pdfsig", "-nocert", str(pdf)],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    out = result.stdout
    assert out.count("Signature Validation: Signature is Valid.") == 3
    assert out.count("Signature Type: ETSI.CAdES.detached") == 3
    for name in ("Firma_1_mario-rossi", "Firma_2_luigi-verdi", "Firma_3_giulia-bianchi"):
        assert f"Signature Field Name: {name}" in out
    assert "serialNumber=TINIT-RSSMRA80A01H501U" in out
