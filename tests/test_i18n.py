"""The Italian catalogue is complete, compiled, and in step with the source."""

import gettext
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "it" / "LC_MESSAGES" / "django.po"
# English is the language of the source strings: its catalogue says so for each of them, so that
# a string added to the source and not yet looked at shows up here in both languages.
CATALOGUES = [PO, ROOT / "locale" / "en" / "LC_MESSAGES" / "django.po"]


def parse_po(path: Path) -> list[dict]:
    """Entries of a .po file: msgctxt, msgid, msgid_plural, msgstr list, flags (enough for our
    files)."""
    entries, current, key = [], None, None

    def unquote(text):
        return text.encode("latin-1", "backslashreplace").decode("unicode_escape")

    def finish():
        if current and "msgid" in current:
            entries.append(current)

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#,"):
            finish()
            current, key = {"flags": line[2:].split(","), "msgstr": {}}, None
        elif line.startswith("#") or not line:
            continue
        elif line.startswith("msgctxt "):
            if current is None or "msgid" in current:
                finish()
                current = {"flags": [], "msgstr": {}}
            key = "msgctxt"
            current[key] = unquote(line[9:-1])
        elif line.startswith("msgid "):
            if current is None or "msgid" in current:
                finish()
                current = {"flags": [], "msgstr": {}}
            key = "msgid"
            current[key] = unquote(line[7:-1])
        elif line.startswith("msgid_plural "):
            key = "msgid_plural"
            current[key] = unquote(line[14:-1])
        elif line.startswith("msgstr"):
            match = re.match(r"msgstr(?:\[(\d+)\])? \"(.*)\"$", line)
            key = ("msgstr", int(match.group(1) or 0))
            current["msgstr"][key[1]] = unquote(match.group(2))
        elif line.startswith('"'):
            if isinstance(key, tuple):
                current["msgstr"][key[1]] += unquote(line[1:-1])
            else:
                current[key] += unquote(line[1:-1])
    finish()
    return [e for e in entries if e["msgid"]]


@pytest.mark.parametrize("po", CATALOGUES, ids=["it", "en"])
def test_every_string_is_translated(po):
    entries = parse_po(po)
    assert len(entries) > 100
    untranslated = [e["msgid"] for e in entries if not all(e["msgstr"].values())]
    fuzzy = [e["msgid"] for e in entries if any("fuzzy" in f for f in e["flags"])]
    assert untranslated == []
    assert fuzzy == []


@pytest.mark.parametrize("po", CATALOGUES, ids=["it", "en"])
def test_the_compiled_catalogue_matches_the_source_catalogue(po):
    with open(po.with_suffix(".mo"), "rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)
    for entry in parse_po(po):
        if "msgid_plural" in entry:
            assert (
                catalogue.ngettext(entry["msgid"], entry["msgid_plural"], 1) == (entry["msgstr"][0])
            )
        elif "msgctxt" in entry:
            translated = catalogue.pgettext(entry["msgctxt"], entry["msgid"])
            assert translated == entry["msgstr"][0], (entry["msgctxt"], entry["msgid"])
        else:
            assert catalogue.gettext(entry["msgid"]) == entry["msgstr"][0], entry["msgid"]


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs gettext (scripts/setup)")
def test_no_source_string_is_missing_from_the_catalogue(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(".venv", "var", ".git", "__pycache__", "*.mo", "bench"),
    )
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "-l",
            "it",
            "-l",
            "en",
            "-v0",
            "--no-obsolete",
        ],
        cwd=copy,
        check=True,
        env={"DJANGO_SETTINGS_MODULE": "stipula.settings", "PATH": "/usr/bin:/bin"},
    )
    for po in CATALOGUES:
        fresh = {e["msgid"] for e in parse_po(copy / po.relative_to(ROOT))}
        ours = {e["msgid"] for e in parse_po(po)}
        assert sorted(fresh - ours) == [], po
