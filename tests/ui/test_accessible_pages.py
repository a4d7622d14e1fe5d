"""The main pages of every role, as assistive technology reads them: every form control has a
name (a label, an aria-label, or viewflow's labelled field), and no id is used twice on a page
(a label tied to a shared id names the wrong field)."""

from collections import Counter
from html.parser import HTMLParser

import pytest

from tests.ui.test_no_english_in_italian import (  # noqa: F401 - fixtures
    auditor,
    in_negotiation,
    pages,
)

pytestmark = pytest.mark.django_db

CONTROLS = {"input", "select", "textarea"}
UNNAMED_TYPES = {"hidden", "submit", "button", "reset", "image"}


class Controls(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.controls: list[dict] = []
        self._labels = 0  # inside <label> elements

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.append(attrs["id"])
        if tag == "label":
            self._labels += 1
            if attrs.get("for"):
                self.label_for.add(attrs["for"])
        if tag.startswith("vf-field-") and tag != "vf-field-hidden":
            self.controls.append({"tag": tag, **attrs, "wrapped": bool(attrs.get("label"))})
        elif tag in CONTROLS and attrs.get("type", "text") not in UNNAMED_TYPES:
            self.controls.append({"tag": tag, **attrs, "wrapped": self._labels > 0})

    def handle_endtag(self, tag):
        if tag == "label" and self._labels:
            self._labels -= 1


def unnamed(parser: Controls) -> list[str]:
    return [
        f"<{c['tag']} name={c.get('name')!r}>"
        for c in parser.controls
        if not (
            c["wrapped"]
            or c.get("aria-label")
            or c.get("aria-labelledby")
            or c.get("title")
            or (c.get("id") and c["id"] in parser.label_for)
        )
    ]


def test_every_control_has_a_name_and_every_id_is_unique(client_for, client, pages):  # noqa: F811
    problems = {}
    for user, url in pages:
        response = client_for(user, language="it").get(url) if user else client.get(url)
        assert response.status_code == 200, url
        parser = Controls()
        parser.feed(response.content.decode())
        twice = sorted(i for i, n in Counter(parser.ids).items() if n > 1)
        if twice or unnamed(parser):
            problems[url] = {"ids used twice": twice, "controls without a name": unnamed(parser)}
    assert problems == {}


def test_the_check_sees_an_unnamed_control_and_a_shared_id():
    parser = Controls()
    parser.feed('<p id="a"></p><input name="q"><select id="a"></select><label>N <input></label>')
    assert unnamed(parser) == ["<input name='q'>", "<select name=None>"]
    assert [i for i, n in Counter(parser.ids).items() if n > 1] == ["a"]
