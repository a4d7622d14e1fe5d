import pytest
from django.db import connection

from audit.testing import drop_triggers, ensure_triggers


@pytest.fixture(autouse=True)
def _append_only_triggers(request):
    """Keep the audit table append-only in every test, yet let transactional tests be flushed.

    A transactional test ends with Django emptying every table, which the triggers refuse; so the
    triggers are dropped after such a test and put back before the next test that uses the
    database (inside its transaction when it has one, so they are there for the whole test).
    """
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    if not marker and not names & {"db", "transactional_db"}:
        yield
        return
    transactional = "transactional_db" in names or bool(marker and marker.kwargs.get("transaction"))
    request.getfixturevalue("transactional_db" if transactional else "db")
    ensure_triggers()
    yield
    if transactional:
        drop_triggers()


@pytest.fixture
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL (SQLite has no TRUNCATE and no row locks between connections)"
        )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("postgresql"):
            item.fixturenames.insert(0, "postgresql_only")
    # The browser tests last: pytest-playwright's sync API keeps an asyncio loop running in the
    # main thread until the session ends, and pyHanko's asyncio.run() cannot run beside it.
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


@pytest.fixture(scope="session")
def warm_converter():
    """One real LibreOffice for the whole run, as in production (`manage.py converter`)."""
    from templates_docx.conversion import WarmConverter

    with WarmConverter() as converter:
        yield converter


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path, warm_converter):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STIPULA_CONVERTER = "warm"
    settings.STIPULA_CONVERTER_SOCKET = str(warm_converter.socket_path)
    # Hashing test passwords with PBKDF2 would be most of the suite's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def officer(db):
    from tests.factories import make_user

    return make_user("officer", "legal_officer", first_name="Laura", last_name="Bianchi")


@pytest.fixture
def reviewer(db):
    from tests.factories import make_user

    return make_user("reviewer", "reviewer", first_name="Rita", last_name="Verdi")


@pytest.fixture
def registrar(db):
    from tests.factories import make_user

    return make_user("registrar", "registrar")


@pytest.fixture(autouse=True)
def _english(request):
    """Tests read messages in English unless they ask for Italian (the users' default) with the
    `italian` fixture."""
    from django.utils import translation

    language = "it" if "italian" in request.fixturenames else "en"
    with translation.override(language):
        yield


@pytest.fixture
def italian():
    """Run the test in Italian, the default language of the interface."""
