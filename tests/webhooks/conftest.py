"""A real HTTP receiver on 127.0.0.1 (a random port), in a thread, for the webhook tests."""

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.api.conftest import api_for  # noqa: F401 (the API tests' fixture, used here too)


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes


@dataclass
class Receiver:
    """Records every POST; answers with the next status of ``answers`` (then 200)."""

    base_url: str
    requests: list = field(default_factory=list)
    answers: list = field(default_factory=list)

    def url(self, path="/hook") -> str:
        return self.base_url + path

    def bodies(self, path=None) -> list[bytes]:
        return [r.body for r in self.requests if path is None or r.path == path]


@pytest.fixture
def receiver():
    state = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            rec = state["receiver"]
            rec.requests.append(Received(self.path, dict(self.headers.items()), body))
            code = rec.answers.pop(0) if rec.answers else 200
            answer = f"answer {code}".encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host, port = server.server_address
    state["receiver"] = Receiver(base_url=f"http://{host}:{port}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    # The receiver is on 127.0.0.1, which production refuses (webhooks.targets).
    settings.STIPULA_WEBHOOK_ALLOW_LOCAL = True
    settings.STIPULA_WEBHOOK_MAX_ATTEMPTS = 3
    settings.STIPULA_WEBHOOK_BACKOFF_SECONDS = 30
    settings.STIPULA_WEBHOOK_TIMEOUT_SECONDS = 5
