"""The warm DOCX to PDF converter: one LibreOffice kept running and driven over UNO.

Run by `manage.py converter` (in production under a supervisor such as systemd) and by
`templates_docx.conversion.WarmConverter` (tests, benchmarks) as

    /usr/bin/python3 -I templates_docx/uno_worker.py --socket var/converter.sock

(-I keeps this folder off sys.path: the app's selectors.py would shadow the standard library's.)

It must run under Debian's /usr/bin/python3, the only interpreter with the `uno` module
(python3-uno), so everything above the UNO section uses the standard library only, and the Django
side imports this module for the wire protocol without importing `uno`.

Why a worker of our own rather than the unoserver package: unoserver needs a second virtualenv
built on the system Python (python3-venv, pip, network access at set-up time) and, when
LibreOffice dies, it exits and leaves the restart to a supervisor. This worker is about three
hundred lines of standard library plus `uno`, and it owns exactly the failure handling the issue
asks for: the document is loaded with the DOCX import filter forced (so a text file or random
bytes are refused instead of being "converted"), with macros and link updates disabled; each
conversion has a deadline enforced by a watchdog that kills LibreOffice, which is then restarted
with a fresh profile; a LibreOffice that dies during a conversion is restarted and the conversion
retried once.

One conversion runs at a time (LibreOffice's document model is not safely concurrent), so the
server is a single-threaded accept loop: concurrent clients wait in the listen backlog. That also
keeps LibreOffice a child of the main thread, which matters because it is started with a parent
death signal (setpriv --pdeathsig), and Linux delivers that when the *thread* that started the
child ends.

The wire protocol, on a Unix socket (only the owner may connect: mode 0600):
  request:  REQUEST header (operation, deadline, payload length), then the payload;
  response: RESPONSE header (status, payload length), then the payload, which is the PDF for OK
            and a UTF-8 explanation otherwise.
The deadline is a `time.monotonic()` value of the client; CLOCK_MONOTONIC is system-wide on
Linux, so both processes read the same clock, and a request whose client has already given up
is not converted.
"""

import argparse
import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REQUEST = struct.Struct(">4sdQ")
RESPONSE = struct.Struct(">BQ")
OP_CONVERT = b"CONV"
OP_STATUS = b"STAT"
OK, FAILED, TIMED_OUT, UNAVAILABLE = 0, 1, 2, 3
MAX_PAYLOAD = 256 * 1024 * 1024
# Linux's sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107

logger = logging.getLogger("stipula.converter")


class ProtocolError(Exception):
    pass


def recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(min(remaining, 1024 * 1024))
        if not chunk:
            raise ProtocolError(f"connection closed after {size - remaining} of {size} bytes")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def check_socket_path(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise ValueError(
            f"the converter socket path {path} is longer than {MAX_SOCKET_PATH} bytes, "
            "the limit of Unix sockets: choose a shorter one"
        )


def office_pipe_paths(pipe_name: str, profile_url: str) -> list[Path]:
    """The Unix sockets LibreOffice creates for an instance, which it leaves behind when killed.

    LibreOffice puts them in /tmp whatever TMPDIR says (sal/osl/unx/pipe.cxx): the one named in
    --accept and the single-instance one, named after the MD5 of the UTF-16 profile URL written
    as unpadded hex (desktop/source/app/officeipcthread.cxx).
    """
    digest = hashlib.md5(profile_url.encode("utf-16-le"), usedforsecurity=False).digest()
    ipc = "SingleOfficeIPC_" + "".join(format(byte, "x") for byte in digest)
    prefix = f"OSL_PIPE_{os.getuid()}_"
    names = [prefix + ipc] + ([prefix + pipe_name] if pipe_name else [])
    return [Path("/tmp", name) for name in names]  # noqa: S108 - fixed by LibreOffice


def remove_office_pipes(pipe_name: str, profile_url: str) -> None:
    for path in office_pipe_paths(pipe_name, profile_url):
        path.unlink(missing_ok=True)


def office_binary(soffice: str) -> str:
    """soffice.bin itself: the `soffice` launcher is a shell script running oosplash, which
    would put two processes between us and the one to watch and kill."""
    found = shutil.which(soffice)
    if found is None:
        raise FileNotFoundError(
            f"LibreOffice ({soffice}) not found: install libreoffice-writer-nogui (scripts/setup)"
        )
    real = Path(found).resolve()
    binary = real.with_name("soffice.bin")
    return str(binary if binary.exists() else real)


# --- UNO: everything below runs only under a Python that has the uno module. ---


class OfficeUnavailable(Exception):
    pass


class DocumentFailed(Exception):
    pass


class Office:
    """One soffice.bin with a private profile, connected over a UNO pipe."""

    RESTART_EXIT_CODE = 81  # a fresh profile makes soffice.bin ask to be started again
    START_ATTEMPTS = 3

    def __init__(self, soffice: str, state_dir: Path, start_timeout: float) -> None:
        import uno

        self.uno = uno
        self.binary = office_binary(soffice)
        self.state_dir = state_dir
        self.start_timeout = start_timeout
        self.profile_url = (state_dir / "profile").as_uri()
        self.pipe = ""
        self.process: subprocess.Popen | None = None
        self.desktop = None
        self.starts = 0
        self.conversions = 0
        self.timed_out = False
        self._lock = threading.Lock()
        local = uno.getComponentContext()
        self.resolver = local.ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", local
        )
        self.load_properties = self._properties(
            Hidden=True,
            ReadOnly=True,
            FilterName="MS Word 2007 XML",
            # The values of MacroExecutionMode.NEVER_EXECUTE and UpdateDocMode.NO_UPDATE: our
            # side of the bridge has only the core types, not the office constants, to look up.
            MacroExecutionMode=0,
            UpdateDocMode=0,
        )
        self.store_properties = self._properties(FilterName="writer_pdf_Export")

    def _properties(self, **values) -> tuple:
        properties = []
        for name, value in values.items():
            prop = self.uno.createUnoStruct("com.sun.star.beans.PropertyValue")
            prop.Name, prop.Value = name, value
            properties.append(prop)
        return tuple(properties)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and bool(self.desktop)

    def status(self) -> dict:
        return {
            "office_pid": self.process.pid if self.alive else None,
            "starts": self.starts,
            "conversions": self.conversions,
            "binary": self.binary,
            "state_dir": str(self.state_dir),
            "pipe": self.pipe,
            "profile_url": self.profile_url,
        }

    def _spawn(self) -> subprocess.Popen:
        command = [
            self.binary,
            "--headless",
            "--invisible",
            "--nocrashreport",
            "--nodefault",
            "--nologo",
            "--norestore",
            "--nolockcheck",
            f"-env:UserInstallation={self.profile_url}",
            f"--accept=pipe,name={self.pipe};urp;StarOffice.ComponentContext",
        ]
        setpriv = shutil.which("setpriv")
        if setpriv:
            # Killed with us even if we are killed with SIGKILL.
            command = [setpriv, "--pdeathsig", "KILL", "--", *command]
        environment = dict(os.environ, TMPDIR=str(self.state_dir / "tmp"))
        return subprocess.Popen(  # noqa: S603 - our own argument list, no shell
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=environment
        )

    def start(self) -> None:
        self.stop()
        for name in ("profile", "tmp"):
            shutil.rmtree(self.state_dir / name, ignore_errors=True)
        (self.state_dir / "tmp").mkdir(parents=True)
        self.starts += 1
        self.pipe = f"stipula-converter-{os.getpid()}-{self.starts}"
        url = f"uno:pipe,name={self.pipe};urp;StarOffice.ComponentContext"
        from com.sun.star.connection import NoConnectException

        started = time.monotonic()
        self.process = self._spawn()
        attempts = 1
        while True:
            code = self.process.poll()
            if code == self.RESTART_EXIT_CODE and attempts < self.START_ATTEMPTS:
                attempts += 1
                self.process = self._spawn()
                continue
            if code is not None:
                self.stop()
                raise OfficeUnavailable(f"LibreOffice exited with status {code} while starting")
            try:
                context = self.resolver.resolve(url)
                break
            except NoConnectException:
                if time.monotonic() - started > self.start_timeout:
                    self.stop()
                    raise OfficeUnavailable(
                        f"LibreOffice did not accept connections within {self.start_timeout:g} s"
                    ) from None
                time.sleep(0.05)
        self.desktop = context.ServiceManager.createInstanceWithContext(
            "com.sun.star.frame.Desktop", context
        )
        logger.info(
            "LibreOffice started (pid %d) in %.1f s",
            self.process.pid,
            time.monotonic() - started,
        )

    def stop(self) -> None:
        self.desktop = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
        remove_office_pipes(self.pipe, self.profile_url)

    def _kill_on_deadline(self) -> None:
        with self._lock:
            self.timed_out = True
            if self.process is not None and self.process.poll() is None:
                logger.warning("conversion past its deadline: killing LibreOffice")
                self.process.kill()

    def _healthy(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            return False
        try:
            self.desktop.getFrames()  # a round trip: fails once the bridge is gone
        except Exception:
            return False
        return True

    def _document_failed(self, what: str, error: Exception) -> Exception:
        # A LibreOffice that is dying makes calls fail with all sorts of errors, not only
        # DisposedException: blame the document only if LibreOffice is demonstrably fine.
        if not self._healthy():
            return error
        return DocumentFailed(f"{what}: {error}")

    def _convert_file(self, source: Path, target: Path) -> None:
        from com.sun.star.uno import Exception as UnoException

        try:
            document = self.desktop.loadComponentFromURL(
                source.as_uri(), "_blank", 0, self.load_properties
            )
        except UnoException as error:
            raise self._document_failed("LibreOffice could not open the document", error) from None
        if document is None:
            raise self._document_failed(
                "LibreOffice could not open the document", Exception("not a readable DOCX")
            )
        try:
            document.storeToURL(target.as_uri(), self.store_properties)
        except UnoException as error:
            raise self._document_failed("LibreOffice could not export the PDF", error) from None
        finally:
            with contextlib.suppress(Exception):
                document.close(True)

    def convert(self, data: bytes, deadline: float) -> tuple[int, bytes]:
        job = self.state_dir / "job"
        shutil.rmtree(job, ignore_errors=True)
        job.mkdir()
        source, target = job / "in.docx", job / "out.pdf"
        source.write_bytes(data)
        try:
            for attempt in (1, 2):
                if not self.alive:
                    try:
                        self.start()
                    except OfficeUnavailable as error:
                        return UNAVAILABLE, str(error).encode()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return TIMED_OUT, b"the deadline passed before the conversion started"
                self.timed_out = False
                watchdog = threading.Timer(remaining, self._kill_on_deadline)
                watchdog.start()
                try:
                    self._convert_file(source, target)
                except DocumentFailed as error:
                    return FAILED, str(error).encode()
                except Exception as error:
                    # The bridge broke: LibreOffice died, or was killed by the watchdog.
                    if self.timed_out:
                        return TIMED_OUT, b"the conversion did not finish before the deadline"
                    logger.warning("LibreOffice failed during conversion %d: %r", attempt, error)
                    self.stop()
                    continue
                finally:
                    watchdog.cancel()
                    with self._lock:
                        timed_out = self.timed_out
                if timed_out:
                    return TIMED_OUT, b"the conversion did not finish before the deadline"
                self.conversions += 1
                if not target.exists():
                    return FAILED, b"LibreOffice wrote no PDF"
                return OK, target.read_bytes()
            return FAILED, b"LibreOffice crashed twice while converting the document"
        finally:
            shutil.rmtree(job, ignore_errors=True)


def handle(connection: socket.socket, office: Office) -> None:
    connection.settimeout(30)
    try:
        header = connection.recv(REQUEST.size, socket.MSG_WAITALL)
        if not header:
            return  # a probe: someone checking that we are here
        header += recv_exact(connection, REQUEST.size - len(header))
        operation, deadline, size = REQUEST.unpack(header)
        if size > MAX_PAYLOAD:
            raise ProtocolError(f"payload of {size} bytes is over the limit")
        payload = recv_exact(connection, size)
    except (OSError, ProtocolError, struct.error) as error:
        logger.warning("bad request: %s", error)
        return
    if operation == OP_STATUS:
        status, body = OK, json.dumps(office.status()).encode()
    elif operation == OP_CONVERT:
        started = time.monotonic()
        status, body = office.convert(payload, deadline)
        logger.info(
            "conversion: status %d, %d -> %d bytes in %.3f s",
            status,
            size,
            len(body),
            time.monotonic() - started,
        )
    else:
        status, body = FAILED, b"unknown operation"
    try:
        connection.sendall(RESPONSE.pack(status, len(body)) + body)
    except OSError as error:
        logger.info("client went away before the answer: %s", error)


def claim(path: Path) -> None:
    """Refuse to start next to a running converter; remove the socket of a dead one."""
    check_socket_path(path)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except FileNotFoundError:
        pass
    except ConnectionRefusedError:
        path.unlink()
    else:
        raise SystemExit(f"a converter is already listening on {path}")
    finally:
        probe.close()


def listen(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_umask)
    listener.listen(64)
    return listener


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True, type=Path, help="Unix socket to listen on")
    parser.add_argument("--soffice", default="soffice", help="LibreOffice executable")
    parser.add_argument("--start-timeout", type=float, default=60.0)
    parser.add_argument("--verbose", action="store_true", help="log every conversion")
    options = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if options.verbose else logging.WARNING,
        format="%(asctime)s stipula converter: %(message)s",
    )
    logger.setLevel(logging.INFO)
    try:
        import uno  # noqa: F401
    except ImportError:
        print(
            f"{sys.executable} has no uno module: run this under Debian's /usr/bin/python3 with "
            "python3-uno installed (scripts/setup)",
            file=sys.stderr,
        )
        return 1

    def terminate(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, terminate)
    state_dir = Path(tempfile.mkdtemp(prefix="stipula-converter-"))
    listener = None
    office = None
    try:
        claim(options.socket)
        office = Office(options.soffice, state_dir, options.start_timeout)
        office.start()
        listener = listen(options.socket)
        logger.info("ready on %s (LibreOffice pid %d)", options.socket, office.process.pid)
        if not options.verbose:
            logger.setLevel(logging.WARNING)
        while True:
            connection, _ = listener.accept()
            with connection:
                handle(connection, office)
            if not office.alive:
                # Restart now rather than on the next request, which would wait for it.
                try:
                    office.start()
                except OfficeUnavailable as error:
                    logger.error("%s", error)
    except OfficeUnavailable as error:
        logger.error("%s", error)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if listener is not None:
            listener.close()
            options.socket.unlink(missing_ok=True)
        if office is not None:
            office.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
