"""Browser tests: Playwright (pytest-playwright) drives Debian's chromium against Django's live
server, people logging in through the real login form, each in a browser context of their own.

Everything behind the pages is real, as in tests/signing and tests/registry: the database, the
warm LibreOffice converter (tests/conftest.py), a local PKI with its timestamp authority, OCSP
responder and CRLs on loopback, a SoftHSM2 token for remote signing, the system seal.

- The browser is ``/usr/bin/chromium`` (``scripts/setup --dev`` installs Debian's package;
  ``STIPULA_E2E_CHROMIUM`` names another): Playwright's own browser download is not used.
- Every step takes a screenshot into the test's temporary folder. When the test fails they are
  copied, with a full-page screenshot and the HTML of every page still open, into
  ``test-results/<test>/`` (pytest-playwright's ``--output``).
- With ``STIPULA_DOCS_SCREENSHOTS=<folder>`` the screenshots named for the user guide (docs/)
  are also written there: ``STIPULA_DOCS_SCREENSHOTS=docs/images .venv/bin/pytest tests/e2e``.
"""

import io
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

# Playwright's sync API runs an asyncio event loop in the test thread, where Django then refuses
# synchronous ORM calls (the fixtures' data and the final checks); nothing here is async.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("STIPULA_E2E_CHROMIUM", "/usr/bin/chromium")
DOCS_SCREENSHOTS = os.environ.get("STIPULA_DOCS_SCREENSHOTS", "")
VIEWPORT = {"width": 1280, "height": 800}

# The three signatories of the journey, one per way of signing, as the demo assigns them
# (agreements/demo_data.py SIGNING_WAYS: remote key, PKCS#12 file, own signing tool).
REMOTE_SIGNER = "direttore.usl12"
PKCS12_SIGNER = "presidente.confcommercio"
EXTERNAL_SIGNER = "presidente.conferenza"
E2E_SIGNERS = (REMOTE_SIGNER, PKCS12_SIGNER, EXTERNAL_SIGNER)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"e2e_report_{report.when}", report)


# The browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian package chromium: scripts/setup --dev)")
    args = ["--disable-dev-shm-usage"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # chromium refuses to run its sandbox as root
    return {
        "headless": True,
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [*browser_type_launch_args.get("args", []), *args],
        # The browser's own controls (the file button, date pickers) in Italian too: on Linux
        # chromium takes its interface language from LANGUAGE (Debian's chromium-l10n).
        "env": {**os.environ, "LANGUAGE": "it"},
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # An Italian browser: the interface's default language, negotiated from Accept-Language.
    return {
        **browser_context_args,
        "viewport": VIEWPORT,
        "locale": "it-IT",
        "timezone_id": "Europe/Rome",
        "accept_downloads": True,
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:80] or "page"


class Screens:
    """One screenshot per step of a journey; the user guide's ones also to DOCS_SCREENSHOTS."""

    def __init__(self, folder: Path, docs: Path | None):
        self.folder = folder
        self.docs = docs
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)
        if docs is not None:
            docs.mkdir(parents=True, exist_ok=True)

    def take(self, page, name: str, *, focus=None, block="start", docs: bool = True) -> None:
        """Screenshot the viewport of ``page`` as step ``name``; ``focus`` (a locator) is
        scrolled to the ``block`` (start, center) of the viewport first. ``docs``: a picture
        for the user guide."""
        if focus is not None:
            focus.first.evaluate("(element, block) => element.scrollIntoView({block})", block)
        if self.docs is not None and docs:
            # The guide's pictures show the page as a person sees it: page previews loaded.
            try:
                page.wait_for_load_state("networkidle", timeout=5_000)
            except Exception:  # noqa: BLE001, S110 - a picture taken a little early is fine
                pass
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=path)
        if self.docs is not None and docs:
            shutil.copyfile(path, self.docs / f"{name}.png")


@pytest.fixture
def screens(request, browser, new_context, tmp_path, output_path):
    """The step screenshots; on failure, those and every open page go to ``output_path``.

    It depends on ``new_context`` so that its teardown runs while the pages are still open.
    """
    docs = Path(DOCS_SCREENSHOTS).absolute() if DOCS_SCREENSHOTS else None
    recorder = Screens(tmp_path / "steps", docs)
    yield recorder
    failed = any(
        getattr(getattr(request.node, f"e2e_report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )
    if not failed:
        return
    target = Path(output_path)
    shutil.copytree(recorder.folder, target / "steps", dirs_exist_ok=True)
    for c, context in enumerate(browser.contexts, start=1):
        for p, page in enumerate(context.pages, start=1):
            stem = target / f"failure-{c}.{p}-{_slug(page.url)}"
            try:
                page.screenshot(path=f"{stem}.png", full_page=True)
                Path(f"{stem}.html").write_text(page.content(), encoding="utf-8")
            except Exception as error:  # noqa: BLE001 - keep what can be kept
                Path(f"{stem}.txt").write_text(f"{page.url}\n{error}\n", encoding="utf-8")


# The world behind the pages -----------------------------------------------------------------


@pytest.fixture(scope="session")
def e2e_pki(tmp_path_factory):
    """The local PKI with a certificate for each signatory of the journey, issued as the demo
    issues them (name, TINIT-<codice fiscale>), its services running on loopback."""
    from agreements import demo_data
    from signing.pki import running_pki

    signers = [signer for signer in demo_data.pki_signers() if signer[0] in E2E_SIGNERS]
    with running_pki(tmp_path_factory.mktemp("e2e-pki"), extra_signers=signers) as pki:
        yield pki


@pytest.fixture
def e2e_settings(settings, tmp_path, e2e_pki, live_server, monkeypatch):
    """The settings of a server running with the local PKI: its TSA, its root as the only trust
    root, its seal as the system seal, a SoftHSM2 token store of this test's own."""
    import pkcs11

    from registry import seal as registry_seal
    from signing.pkcs11 import DEFAULT_MODULE, use_softhsm_dir

    if shutil.which("softhsm2-util") is None:
        pytest.skip("SoftHSM2 (Debian package softhsm2) is missing")
    settings.DATA_DIR = tmp_path / "data"
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "stipula-demo-root.pem").write_bytes(e2e_pki.cert_pem("root"))
    settings.STIPULA_TRUST_ROOTS_DIR = str(trust)
    settings.STIPULA_TSA_URL = e2e_pki.tsa_url
    seal = tmp_path / "sigillo.p12"
    seal.write_bytes(e2e_pki.pkcs12("seal", "sigillo-e2e"))
    settings.STIPULA_SEAL_PKCS12 = str(seal)
    settings.STIPULA_SEAL_PASSWORD = "sigillo-e2e"
    registry_seal.clear_cache()
    settings.STIPULA_BASE_URL = live_server.url
    softhsm_dir = tmp_path / "softhsm"
    settings.STIPULA_SOFTHSM_DIR = str(softhsm_dir)
    # The PKCS#11 module reads SOFTHSM2_CONF when it is loaded: load it afresh for our tokens.
    pkcs11.unload(DEFAULT_MODULE)
    monkeypatch.delenv("SOFTHSM2_CONF", raising=False)  # restored after the test
    use_softhsm_dir(softhsm_dir)
    yield settings
    pkcs11.unload(DEFAULT_MODULE)
    registry_seal.clear_cache()


@dataclass(frozen=True)
class World:
    base_url: str
    pki: object
    password: str  # of every account, as in the demo
    pkcs12_dir: Path  # <username>.p12, password signing.pki.DEMO_PKCS12_PASSWORD
    pin: str  # of the remote signing key


@pytest.fixture
def patto_world(e2e_settings, e2e_pki, live_server, tmp_path):
    """The people and organisations of the demo (agreements/demo_data.py), made by the demo's
    own code; the shipped templates; the registers; the signatories' PKCS#12 files and one
    remote signing key (a SoftHSM2 token), as `manage.py demo` makes them."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction

    from agreements import demo_data
    from agreements.management.commands.demo import Command as DemoCommand
    from registry import services as registry_services
    from signing.management.commands.init_tokens import DEMO_USER_PIN, ensure_tokens
    from signing.models import RemoteSigningKey
    from signing.pki import DEMO_PKCS12_PASSWORD

    demo = DemoCommand(stdout=io.StringIO())
    demo.step = 0
    staff = demo.ensure_staff()
    demo.ensure_parties()
    call_command("load_templates", stdout=io.StringIO())
    for code, name, kind in demo_data.REGISTERS:
        registry_services.register_create(
            actor=staff["administrator"],
            code=code,
            name=name,
            kind=kind,
            administration_code=demo_data.ADMINISTRATION_CODE,
            aoo_code=demo_data.AOO_CODE,
        )

    pkcs12_dir = tmp_path / "pkcs12"
    pkcs12_dir.mkdir()
    for username in E2E_SIGNERS:
        data = e2e_pki.pkcs12(username, DEMO_PKCS12_PASSWORD)
        (pkcs12_dir / f"{username}.p12").write_bytes(data)

    ensure_tokens(e2e_pki, [REMOTE_SIGNER], softhsm_dir=Path(e2e_settings.STIPULA_SOFTHSM_DIR))
    with transaction.atomic():
        RemoteSigningKey.objects.create(
            user=get_user_model().objects.get(username=REMOTE_SIGNER),
            token_label=REMOTE_SIGNER,
            key_label="",
        )
    return World(
        base_url=live_server.url,
        pki=e2e_pki,
        password=demo_data.DEMO_PASSWORD,
        pkcs12_dir=pkcs12_dir,
        pin=DEMO_USER_PIN,
    )
