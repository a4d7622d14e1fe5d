"""DOCX to PDF with the real LibreOffice, cold (one soffice per call) and warm (one kept running).

No mocks: every test runs soffice. The warm converter is started once for the module.
"""

import io
import os
import shutil
import signal
import socket
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from docx import Document
from docx.enum.text import WD_BREAK
from pypdf import PdfReader

from templates_docx import uno_worker
from templates_docx.conversion import (
    ConversionFailed,
    ConverterUnavailable,
    WarmConverter,
    check_pdf,
    docx_to_pdf,
)

ITALIAN = "Perché la Città di Viareggio è già lì: più qualità, così com'è"
AMPERSAND = "Cassa di Risparmio A & B S.p.A."
PARTIES = [("Comune di Lucca", "ente capofila"), ("Azienda USL Toscana nord ovest", "partner")]


def make_docx(*paragraphs: str, table: list[tuple[str, str]] = (), pages: int = 1) -> bytes:
    document = Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=2)
        for row, cells in zip(grid.rows, table, strict=True):
            for cell, text in zip(row.cells, cells, strict=True):
                cell.text = text
    for page in range(2, pages + 1):
        document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        document.add_paragraph(f"Pagina {page}: " + "testo dell'accordo. " * 40)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def stale_office_pipes() -> set[Path]:
    """LibreOffice's sockets in /tmp that nobody listens on any more (left by a killed soffice)."""
    stale = set()
    for path in Path("/tmp").glob(f"OSL_PIPE_{os.getuid()}_*"):  # noqa: S108 - LibreOffice's
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(path))
            except ConnectionRefusedError:
                stale.add(path)
            except OSError:
                pass
    return stale


@pytest.fixture(scope="module")
def warm():
    with WarmConverter() as converter:
        yield converter


@pytest.fixture(params=["cold", "warm"])
def convert(request):
    """docx_to_pdf in one mode; the warm converter is the module's."""
    if request.param == "cold":
        return lambda data, **options: docx_to_pdf(data, mode="cold", **options)
    converter = request.getfixturevalue("warm")
    return converter.convert


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Temporary files of this process go here, so that a test can see none is left behind."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def test_the_pdf_has_the_text_the_table_and_the_pages(convert, private_tmp):
    data = make_docx(ITALIAN, AMPERSAND, table=PARTIES, pages=3)

    pdf = convert(data)

    text = pdf_text(pdf)
    assert ITALIAN in text
    assert AMPERSAND in text
    for name, role in PARTIES:
        assert name in text
        assert role in text
    assert "Pagina 3: testo dell'accordo." in text
    assert page_count(pdf) == 3
    assert list(private_tmp.iterdir()) == []


def test_the_warm_converter_leaves_no_work_files(warm):
    warm.convert(make_docx(ITALIAN))

    state_dir = Path(warm.status()["state_dir"])
    assert sorted(p.name for p in state_dir.iterdir()) == ["profile", "tmp"]


def broken_docx() -> bytes:
    """A ZIP that looks like a DOCX but whose body is not XML: only LibreOffice can tell."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(make_docx(ITALIAN))) as source,
        zipfile.ZipFile(buffer, "w") as target,
    ):
        for name in source.namelist():
            body = b"<w:document>not XML" if name == "word/document.xml" else source.read(name)
            target.writestr(name, body)
    return buffer.getvalue()


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("accordo.txt", ITALIAN)
    return buffer.getvalue()


GARBAGE = {
    "text file named .docx": (ITALIAN + "\n").encode() * 20,
    "random bytes": os.urandom(8192),
    "zip that is not a docx": plain_zip(),
    "empty file": b"",
    "docx with a broken body": broken_docx(),
}


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_is_refused_with_a_clear_message_and_no_leftovers(convert, private_tmp, garbage):
    with pytest.raises(ConversionFailed) as refused:
        convert(garbage)

    assert refused.value.code == "conversion_failed"
    assert "could not be converted to PDF" in str(refused.value)
    assert "save it again as a Word document (.docx)" in str(refused.value)
    assert refused.value.details["reason"]
    assert list(private_tmp.iterdir()) == []


def test_libreoffice_exiting_0_without_output_is_a_failure(private_tmp):
    with pytest.raises(ConversionFailed) as refused:
        docx_to_pdf(broken_docx(), mode="cold")

    assert "LibreOffice wrote no PDF" in refused.value.details["reason"]


def test_a_truncated_or_foreign_output_is_not_a_pdf(warm):
    pdf = warm.convert(make_docx(ITALIAN))
    check_pdf(pdf)

    for output in (pdf[: len(pdf) // 2], b"<html>error</html>", b""):
        with pytest.raises(ConversionFailed):
            check_pdf(output)


def test_a_cold_conversion_past_its_timeout_is_killed_without_leftovers(private_tmp):
    pipes_before = stale_office_pipes()

    with pytest.raises(ConversionFailed) as refused:
        # soffice takes the best part of a second just to start.
        docx_to_pdf(make_docx(ITALIAN), mode="cold", timeout=0.2)

    assert "timeout" in refused.value.details["reason"]
    assert list(private_tmp.iterdir()) == []
    assert stale_office_pipes() - pipes_before == set()


@pytest.mark.parametrize("timeout", [0.001, 0.05])
def test_a_warm_conversion_past_its_timeout_fails_and_the_next_one_works(warm, timeout):
    with pytest.raises(ConversionFailed) as refused:
        warm.convert(make_docx(ITALIAN, pages=20), timeout=timeout)
    assert "timed out" in refused.value.details["reason"]

    assert ITALIAN in pdf_text(warm.convert(make_docx(ITALIAN)))


def test_concurrent_conversions_each_get_their_own_pdf(convert):
    documents = [make_docx(f"Accordo numero {n}", ITALIAN, pages=n) for n in (1, 2, 3)]

    with ThreadPoolExecutor(max_workers=3) as pool:
        pdfs = list(pool.map(convert, documents))

    for n, pdf in zip((1, 2, 3), pdfs, strict=True):
        text = pdf_text(pdf)
        assert f"Accordo numero {n}" in text
        assert {f"Accordo numero {m}" in text for m in {1, 2, 3} - {n}} == {False}
        assert page_count(pdf) == n


def test_libreoffice_killed_during_a_conversion_is_restarted_and_the_conversion_retried(warm):
    before = warm.status()
    # The converter's work file exists only while it converts.
    work_file = Path(before["state_dir"]) / "job" / "in.docx"
    with ThreadPoolExecutor(max_workers=1) as pool:
        conversion = pool.submit(warm.convert, make_docx(ITALIAN, pages=200))
        deadline = time.monotonic() + 10
        while not work_file.exists() and time.monotonic() < deadline:
            time.sleep(0.001)
        os.kill(before["office_pid"], signal.SIGKILL)
        pdf = conversion.result()

    assert page_count(pdf) == 200
    assert ITALIAN in pdf_text(warm.convert(make_docx(ITALIAN)))
    after = warm.status()
    assert after["starts"] > before["starts"]
    assert after["office_pid"] != before["office_pid"]


def test_auto_uses_the_warm_converter_when_it_answers(warm):
    before = warm.status()["conversions"]

    pdf = docx_to_pdf(make_docx(ITALIAN), mode="auto", socket_path=warm.socket_path)

    assert ITALIAN in pdf_text(pdf)
    assert warm.status()["conversions"] == before + 1


def test_auto_converts_cold_when_no_converter_runs(tmp_path):
    nowhere = tmp_path / "converter.sock"

    pdf = docx_to_pdf(make_docx(ITALIAN), mode="auto", socket_path=nowhere)

    assert ITALIAN in pdf_text(pdf)
    with pytest.raises(ConverterUnavailable) as unavailable:
        docx_to_pdf(make_docx(ITALIAN), mode="warm", socket_path=nowhere)
    assert "PDF converter is not available" in str(unavailable.value)


def test_a_killed_converter_falls_back_to_cold_and_takes_libreoffice_with_it():
    with WarmConverter() as converter:
        status = converter.status()
        os.kill(converter.process.pid, signal.SIGKILL)
        converter.process.wait()
        try:
            pdf = docx_to_pdf(make_docx(ITALIAN), mode="auto", socket_path=converter.socket_path)
            assert ITALIAN in pdf_text(pdf)
            with pytest.raises(ConverterUnavailable):
                converter.convert(make_docx(ITALIAN))
            # LibreOffice dies with its parent (setpriv --pdeathsig), not only at stop().
            deadline = time.monotonic() + 5
            while running(status["office_pid"]) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not running(status["office_pid"])
        finally:
            # What a SIGKILL-ed converter could not clean up itself.
            uno_worker.remove_office_pipes(status["pipe"], status["profile_url"])
            shutil.rmtree(status["state_dir"], ignore_errors=True)


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie is dead, only not yet reaped
