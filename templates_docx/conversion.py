"""DOCX to PDF with LibreOffice, cold (one soffice per call) or warm (a converter kept running).

`docx_to_pdf` is the one entry point. LibreOffice exits with status 0 even when it wrote nothing,
and happily "converts" a text file or random bytes into a PDF of garbage, so the input is checked
to be a DOCX (a ZIP with word/document.xml), the DOCX import filter is forced, and the output is
checked to be a complete PDF. Every failure raises `ConversionFailed` (with the technical reason in
`details["reason"]`); nothing is returned half-done and no temporary file is left behind.

Modes, from settings.STIPULA_CONVERTER (or the `mode` argument):
  "cold"  run `soffice --headless --convert-to pdf` with a fresh profile in a temporary directory
          for each call: safe to run concurrently, about a second or more per call;
  "warm"  ask the converter started by `manage.py converter` (templates_docx/uno_worker.py: one
          LibreOffice kept running, conversions one at a time) over its Unix socket;
  "auto"  (default) warm when the converter is reachable, otherwise cold.
"""

import io
import json
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from stipula.errors import DocumentRejected
from templates_docx import uno_worker

logger = logging.getLogger(__name__)

MODES = ("cold", "warm", "auto")
WORKER = Path(uno_worker.__file__).resolve()
DOCX_FILTER = "MS Word 2007 XML"
# A PDF ends with %%EOF, possibly followed by a line end or some junk; look in the last bytes.
PDF_TAIL = 1024


class ConversionFailed(DocumentRejected):
    code = "conversion_failed"
    default_message = _(
        "The document could not be converted to PDF. Open it in Word or LibreOffice, save it "
        "again as a Word document (.docx) and upload it again."
    )


class ConverterUnavailable(ConversionFailed):
    """The warm converter could not be reached or could not start LibreOffice."""

    code = "converter_unavailable"
    default_message = _(
        "The PDF converter is not available at the moment. Try again in a few minutes; if it "
        "keeps failing, tell the administrator."
    )


def docx_to_pdf(
    data: bytes,
    *,
    timeout: float = 60,
    mode: str | None = None,
    socket_path: str | Path | None = None,
) -> bytes:
    """The PDF of a DOCX, or ConversionFailed. `timeout` bounds the whole call, in seconds."""
    deadline = time.monotonic() + timeout
    check_docx(data)
    mode = mode or getattr(settings, "STIPULA_CONVERTER", "auto")
    if mode not in MODES:
        raise ImproperlyConfigured(f"STIPULA_CONVERTER must be one of {MODES}, not {mode!r}")
    if mode == "cold":
        pdf = _convert_cold(data, deadline)
    else:
        path = Path(socket_path) if socket_path else converter_socket_path()
        try:
            pdf = _convert_warm(data, deadline, path)
        except ConverterUnavailable as error:
            if mode == "warm":
                raise
            # Quiet when no converter was ever started here; loud when one should be there.
            log = logger.info if not path.exists() else logger.warning
            log("warm converter unavailable (%s): converting cold", error.details.get("reason"))
            pdf = _convert_cold(data, deadline)
    check_pdf(pdf)
    return pdf


def check_docx(data: bytes) -> None:
    if not data:
        raise ConversionFailed(reason="the file is empty")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise ConversionFailed(reason="not a DOCX file: not a ZIP archive") from None
    missing = {"[Content_Types].xml", "word/document.xml"} - names
    if missing:
        raise ConversionFailed(
            reason=f"not a DOCX file: the archive has no {', '.join(sorted(missing))}"
        )


def check_pdf(pdf: bytes) -> None:
    if not pdf:
        raise ConversionFailed(reason="LibreOffice wrote an empty file")
    if not pdf.startswith(b"%PDF-"):
        raise ConversionFailed(reason="LibreOffice wrote something that is not a PDF")
    if b"%%EOF" not in pdf[-PDF_TAIL:]:
        raise ConversionFailed(reason="LibreOffice wrote a truncated PDF (no %%EOF at the end)")


def converter_socket_path() -> Path:
    configured = getattr(settings, "STIPULA_CONVERTER_SOCKET", None)
    return Path(configured) if configured else Path(settings.DATA_DIR) / "converter.sock"


def worker_command(socket_path: str | Path, *, verbose: bool = False) -> list[str]:
    """The command line that runs the warm converter (in the foreground)."""
    python = getattr(settings, "STIPULA_UNO_PYTHON", "/usr/bin/python3")
    soffice = getattr(settings, "STIPULA_SOFFICE", "soffice")
    # -I: isolated, above all without the script's own folder on sys.path, where this app's
    # modules (selectors.py, ...) would shadow the standard library's.
    command = [python, "-I", str(WORKER), "--socket", str(socket_path), "--soffice", soffice]
    return command + (["--verbose"] if verbose else [])


def converter_status(socket_path: str | Path | None = None, *, timeout: float = 5) -> dict:
    """What the running warm converter says of itself (LibreOffice's pid, starts, conversions)."""
    path = Path(socket_path) if socket_path else converter_socket_path()
    status, body = _ask(path, uno_worker.OP_STATUS, b"", time.monotonic() + timeout)
    if status != uno_worker.OK:
        raise ConverterUnavailable(reason=body.decode(errors="replace"))
    return json.loads(body)


def _remaining(deadline: float, timeout_reason: str) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ConversionFailed(reason=timeout_reason)
    return remaining


def _convert_cold(data: bytes, deadline: float) -> bytes:
    soffice = getattr(settings, "STIPULA_SOFFICE", "soffice")
    with tempfile.TemporaryDirectory(prefix="stipula-convert-") as tmp:
        work = Path(tmp)
        source, outdir, private_tmp = work / "in.docx", work / "out", work / "tmp"
        source.write_bytes(data)
        private_tmp.mkdir()
        profile_url = (work / "profile").as_uri()
        command = [
            soffice,
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--nologo",
            "--nodefault",
            f"--infilter={DOCX_FILTER}",
            "--convert-to",
            "pdf:writer_pdf_Export",
            "--outdir",
            str(outdir),
            f"-env:UserInstallation={profile_url}",
            str(source),
        ]
        remaining = _remaining(deadline, "timed out before LibreOffice was started")
        try:
            process = subprocess.Popen(  # noqa: S603 - our own argument list, no shell
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=work,
                env=dict(os.environ, TMPDIR=str(private_tmp)),
                # Its own process group: the launcher runs oosplash, which runs soffice.bin.
                start_new_session=True,
            )
        except FileNotFoundError:
            raise ConverterUnavailable(
                reason=f"LibreOffice ({soffice}) is not installed (scripts/setup installs it)"
            ) from None
        try:
            output, _ = process.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            process.communicate()
            raise ConversionFailed(reason="LibreOffice did not finish before the timeout") from None
        finally:
            _kill_group(process)
            # Left in /tmp (not TMPDIR) by a LibreOffice that did not exit by itself.
            uno_worker.remove_office_pipes("", profile_url)
        log = _log_tail(output)
        if process.returncode != 0:
            raise ConversionFailed(
                reason=f"LibreOffice exited with status {process.returncode}: {log}"
            )
        target = outdir / "in.pdf"
        if not target.exists():
            raise ConversionFailed(reason=f"LibreOffice wrote no PDF: {log}")
        return target.read_bytes()


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _log_tail(output: bytes) -> str:
    lines = [
        line
        for line in output.decode(errors="replace").splitlines()
        if line.strip() and "javaldx" not in line
    ]
    return " / ".join(lines)[-500:] or "no message"


def _convert_warm(data: bytes, deadline: float, path: Path) -> bytes:
    status, body = _ask(path, uno_worker.OP_CONVERT, data, deadline)
    if status == uno_worker.OK:
        return body
    reason = body.decode(errors="replace")
    if status == uno_worker.UNAVAILABLE:
        raise ConverterUnavailable(reason=reason)
    raise ConversionFailed(reason=reason)


def _ask(path: Path, operation: bytes, payload: bytes, deadline: float) -> tuple[int, bytes]:
    """One request to the warm converter: ConverterUnavailable if it cannot be reached or dies
    before answering, ConversionFailed if the deadline passes first."""
    try:
        uno_worker.check_socket_path(path)
    except ValueError as error:
        raise ImproperlyConfigured(str(error)) from None
    timeout_reason = "timed out waiting for the warm converter"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        try:
            connection.settimeout(_remaining(deadline, timeout_reason))
            connection.connect(str(path))
            header = uno_worker.REQUEST.pack(operation, deadline, len(payload))
            connection.sendall(header + payload)
            connection.settimeout(_remaining(deadline, timeout_reason))
            status, size = uno_worker.RESPONSE.unpack(
                uno_worker.recv_exact(connection, uno_worker.RESPONSE.size)
            )
            connection.settimeout(_remaining(deadline, timeout_reason))
            body = uno_worker.recv_exact(connection, size)
        except TimeoutError:
            raise ConversionFailed(reason=timeout_reason) from None
        except (FileNotFoundError, ConnectionRefusedError) as error:
            reason = f"no converter listening on {path}: {error}"
            raise ConverterUnavailable(reason=reason) from None
        except (OSError, uno_worker.ProtocolError) as error:
            raise ConverterUnavailable(reason=f"the converter on {path} failed: {error}") from None
    if status == uno_worker.TIMED_OUT:
        raise ConversionFailed(reason=f"the warm converter timed out: {body.decode()}")
    return status, body


class WarmConverter:
    """Run the warm converter for the duration of a `with` block (tests, benchmarks).

    Starts templates_docx/uno_worker.py, waits until it answers, and on exit stops it and the
    LibreOffice it runs (its whole process group). Without `socket_path`, the socket goes in a
    private temporary directory.
    """

    def __init__(self, socket_path: str | Path | None = None, *, start_timeout: float = 60) -> None:
        self._tmp = None
        if socket_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="stipula-warm-")
            socket_path = Path(self._tmp.name) / "converter.sock"
        self.socket_path = Path(socket_path)
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None

    def start(self) -> "WarmConverter":
        self.process = subprocess.Popen(  # noqa: S603 - our own argument list, no shell
            worker_command(self.socket_path), stdin=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.stop()
                raise ConverterUnavailable(reason=f"the converter exited with status {code}")
            try:
                self.status()
                return self
            except ConversionFailed:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ConverterUnavailable(
                        reason=f"the converter was not ready within {self.start_timeout:g} s"
                    ) from None
                time.sleep(0.05)

    def status(self) -> dict:
        return converter_status(self.socket_path)

    def convert(self, data: bytes, *, timeout: float = 60) -> bytes:
        return docx_to_pdf(data, timeout=timeout, mode="warm", socket_path=self.socket_path)

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(15)
                except subprocess.TimeoutExpired:
                    pass
            # Whatever is left of the group (LibreOffice, if the worker could not stop it).
            _kill_group(self.process)
            self.process.wait()
            self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "WarmConverter":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
