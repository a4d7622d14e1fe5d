"""Audit bundles and the offline verifier (RULES.md A4): a real log written by the services,
checkpoints signed by the PKI's seal and timestamped by its TSA, the verifier run as a
subprocess (`python -m audit.verify_bundle`), and bundles broken in every way it must name."""

import base64
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.db import transaction

from agreements import services as agreement_services
from audit.bundle import bundle_write
from audit.checkpoints import checkpoint_make
from audit.models import AuditAction, AuditEvent
from audit.services import record_event
from stipula.errors import PermissionDenied
from tests.audit.conftest import write_events
from tests.factories import make_ready_agreement, make_user

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def run_verifier(path, *trust_roots) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "audit.verify_bundle", str(path)]
    for root in trust_roots:
        args += ["--trust-root", str(root)]
    return subprocess.run(  # noqa: S603 - the verifier under test
        args, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )


def last_line(result) -> str:
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def trust_root(sealed, tmp_path):
    path = tmp_path / "root.pem"
    path.write_bytes(sealed.cert_pem("root"))
    return path


@pytest.fixture
def log(sealed, officer):
    """Two agreements through the services, with checkpoints in between, and events after the
    last checkpoint (the bundle makes one more). Returns the agreements."""
    first = make_ready_agreement(officer)
    checkpoint_make(reason="daily")
    agreement_services.agreement_submit_for_review(actor=officer, agreement=first)
    second = make_ready_agreement(officer)
    checkpoint_make(reason="registration")
    write_events(3)  # a system job's events, with non-ASCII text and escapes
    with transaction.atomic():
        record_event(
            actor=officer,
            action=AuditAction.AGREEMENT_UPDATED,
            obj=second,
            agreement_id=second.pk,
            payload={"subject": "Città di Forlì — «Patto» 🤝", "control": "\x01\t\u2028"},
            reason='riga 1\nriga 2 "citata" \\ barra',
        )
    return first, second


def export(tmp_path, name="bundle.zip", **kwargs):
    path = tmp_path / name
    with path.open("wb") as file:
        result = bundle_write(file, **kwargs)
    return path, result


def rewrite(source: Path, target: Path, *, events=None, manifest=None) -> Path:
    """Copy a bundle, passing its event lines (list of dicts) and its manifest through edits."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    lines = [json.loads(line) for line in members["events.jsonl"].split(b"\n")[:-1]]
    data = json.loads(members["manifest.json"])
    if events is not None:
        lines = events(lines)
    if manifest is not None:
        manifest(data)
    members["events.jsonl"] = "".join(
        json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines
    ).encode()
    members["manifest.json"] = json.dumps(data).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return target


def test_a_full_bundle_verifies_offline_and_its_export_is_recorded(log, tmp_path, trust_root):
    path, result = export(tmp_path)
    assert result.kind == "full" and result.checkpoint == 3
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["README.txt", "events.jsonl", "manifest.json"]
        manifest = json.loads(archive.read("manifest.json"))
        # Split on newlines only: a payload may hold U+2028, which splitlines() also splits on.
        lines = archive.read("events.jsonl").decode().split("\n")[:-1]
    assert [entry["number"] for entry in manifest["checkpoints"]] == [1, 2, 3]
    assert len(lines) == result.events == result.tree_size
    assert json.loads(lines[0])["seq"] == 1

    verified = run_verifier(path, trust_root)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert last_line(verified).startswith(f"PASS: all {result.events} events of the log up to ")
    assert "Sigillo elettronico di Stipula" in last_line(verified)
    assert "timestamped" in last_line(verified)

    event = AuditEvent.objects.order_by("-seq").first()
    assert event.action == AuditAction.AUDIT_BUNDLE_EXPORTED
    import hashlib

    assert event.payload_data["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert event.payload_data["events"] == result.events
    assert event.payload_data["scope"] == {"kind": "full"}


def test_without_a_trust_root_the_verifier_passes_but_says_what_it_did_not_check(log, tmp_path):
    path, _result = export(tmp_path)
    verified = run_verifier(path)
    assert verified.returncode == 0
    assert "note: the seal and timestamp certificates were not checked against a trust root" in (
        verified.stdout
    )


def test_a_seal_from_another_authority_fails_against_the_trust_root(log, tmp_path, sealed):
    path, _result = export(tmp_path)
    rogue = tmp_path / "rogue.pem"
    rogue.write_bytes(sealed.cert_pem("rogue-root"))
    verified = run_verifier(path, rogue)
    assert verified.returncode == 1
    assert last_line(verified).startswith("FAIL: checkpoint #1: seal: the certificate ")
    assert "does not chain to a trust root" in last_line(verified)


def test_the_verifier_needs_neither_django_nor_the_database(log, tmp_path, trust_root):
    path, _result = export(tmp_path)
    program = (
        "import sys, runpy\n"
        "class NoDjango:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'django', 'psycopg', 'asn1crypto', 'pyhanko'}:\n"
        "            raise ImportError('refused: ' + name)\n"
        "sys.meta_path.insert(0, NoDjango())\n"
        f"sys.argv = ['verify_bundle', {str(path)!r}, '--trust-root', {str(trust_root)!r}]\n"
        "try:\n"
        "    runpy.run_module('audit.verify_bundle', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert not [m for m in sys.modules if m.startswith('django')]\n"
        "    raise\n"
    )
    result = subprocess.run(  # noqa: S603 - the verifier under test
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert last_line(result).startswith("PASS: ")


def edit_payload(seq):
    def edit(lines):
        for line in lines:
            if line["seq"] == seq:
                line["payload"] = line["payload"].replace("}", ',"aggiunto":1}', 1)
        return lines

    return edit


def rewrite_chain_from(seq):
    """Edit an event and recompute its hash and every hash after it, as a forger would."""
    from datetime import datetime

    from audit.chain import canonical_bytes, event_hash

    def edit(lines):
        edit_payload(seq)(lines)
        prev = lines[seq - 2]["hash"]
        for line in lines[seq - 1 :]:
            line["prev_hash"] = prev
            row = [line[name] for name in (
                "seq", "created_at", "actor_id", "actor_username", "actor_role", "action",
                "object_type", "object_id", "agreement_id", "payload", "documents", "reason",
                "request_id",
            )]  # fmt: skip
            row[1] = datetime.fromisoformat(row[1])
            line["hash"] = prev = event_hash(prev, canonical_bytes(*row))
        return lines

    return edit


def swap(i, j):
    def edit(lines):
        lines[i], lines[j] = lines[j], lines[i]
        return lines

    return edit


def flip_base64(entry, key, position):
    data = bytearray(base64.b64decode(entry[key]))
    data[position] ^= 0x01
    entry[key] = base64.b64encode(bytes(data)).decode()


def alter_token_time(data):
    """Change the TSA's time inside checkpoint #2's token (its TSTInfo), nothing else."""
    from audit import der

    entry = data["checkpoints"][1]
    token = base64.b64decode(entry["timestamp_token"])
    signed_data = der.parse(token).children()[1].children()[0].children()
    tst_octets = signed_data[2].children()[1].children()[0]
    gen_time = der.parse(tst_octets.content).children()[4]
    assert gen_time.is_(der.GENERALIZED_TIME)
    position = tst_octets.content_start + gen_time.content_start + 3  # the year's last digit
    altered = bytearray(token)
    altered[position] ^= 0x01
    entry["timestamp_token"] = base64.b64encode(bytes(altered)).decode()


def swap_tokens(data):
    first, second = data["checkpoints"][0], data["checkpoints"][1]
    first["timestamp_token"], second["timestamp_token"] = (
        second["timestamp_token"],
        first["timestamp_token"],
    )


def swap_checkpoints(data):
    data["checkpoints"][0], data["checkpoints"][1] = data["checkpoints"][1], data["checkpoints"][0]


def tree_head_of_another(data):
    data["checkpoints"][1]["tree_head"] = data["checkpoints"][2]["tree_head"]


def drop_checkpoint(data):
    del data["checkpoints"][1]


@pytest.mark.parametrize(
    ("name", "events", "manifest", "expected"),
    [
        ("edit an event", edit_payload(5), None, "FAIL: event 5: stored hash "),
        (
            "edit an event and rewrite the chain after it",
            rewrite_chain_from(5),
            None,
            "FAIL: checkpoint #1: the Merkle root of events 1-",
        ),
        ("delete one", lambda lines: lines[:6] + lines[7:], None, "FAIL: event 7 is missing"),
        (
            "reorder",
            swap(6, 7),
            None,
            "FAIL: event 7 is out of order: it comes after event 8",
        ),
        (
            "insert one",
            lambda lines: lines[:7] + [dict(lines[6])] + lines[7:],
            None,
            "FAIL: event 7 appears twice: an event was inserted or repeated",
        ),
        ("truncate the tail", lambda lines: lines[:-3], None, "(the bundle was truncated)"),
        (
            "swap a checkpoint",
            None,
            swap_checkpoints,
            "FAIL: checkpoint entry 1 is checkpoint #2 where checkpoint #1 was expected",
        ),
        (
            "remove a checkpoint",
            None,
            drop_checkpoint,
            "FAIL: checkpoint entry 2 is checkpoint #3 where checkpoint #2 was expected",
        ),
        (
            "alter a signature",
            None,
            lambda data: flip_base64(data["checkpoints"][1], "signature", 10),
            "FAIL: checkpoint #2: the seal's signature over the tree head does not verify",
        ),
        (
            "another checkpoint's tree head",
            None,
            tree_head_of_another,
            "FAIL: checkpoint entry 2 is checkpoint #3 where checkpoint #2 was expected",
        ),
        (
            "alter a timestamp token",
            None,
            alter_token_time,
            "FAIL: checkpoint #2: timestamp token: the TSA's signed message digest does not match",
        ),
        (
            "swap timestamp tokens",
            None,
            swap_tokens,
            "FAIL: checkpoint #1: timestamp token: the token's message imprint does not match",
        ),
    ],
)
def test_the_verifier_names_what_was_broken(
    log, tmp_path, trust_root, name, events, manifest, expected
):
    path, _result = export(tmp_path)
    broken = rewrite(path, tmp_path / "broken.zip", events=events, manifest=manifest)
    verified = run_verifier(broken, trust_root)
    assert verified.returncode == 1, (name, verified.stdout)
    assert expected in last_line(verified), (name, last_line(verified))


def test_an_agreement_bundle_proves_each_event_is_in_the_signed_log(log, tmp_path, trust_root):
    first, _second = log
    path, result = export(tmp_path, agreement_id=first.pk)
    expected = list(
        AuditEvent.objects.filter(agreement_id=first.pk, seq__lte=result.tree_size)
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    with zipfile.ZipFile(path) as archive:
        lines = [json.loads(line) for line in archive.read("events.jsonl").split(b"\n")[:-1]]
    assert [line["seq"] for line in lines] == expected and all(line["proof"] for line in lines)
    verified = run_verifier(path, trust_root)
    assert verified.returncode == 0, verified.stdout
    assert last_line(verified).startswith(f"PASS: {len(expected)} events (agreement), each ")
    assert "not that no event of the selection was left out" in verified.stdout

    target = expected[2]
    broken = rewrite(path, tmp_path / "edited.zip", events=edit_payload(target))
    assert f"FAIL: event {target}: stored hash" in last_line(run_verifier(broken, trust_root))
    removed = rewrite(path, tmp_path / "removed.zip", events=lambda lines: lines[1:])
    assert "the manifest lists" in last_line(run_verifier(removed, trust_root))


def test_an_agreement_bundle_with_an_event_the_checkpoint_did_not_sign_fails(
    log, tmp_path, trust_root
):
    """A forged event with a correct hash of its own still has no place in the signed tree."""
    first, _second = log
    path, _result = export(tmp_path, agreement_id=first.pk)

    def edit(lines):
        # Rewrite the second line's event alone, as if its hash had been recomputed.
        from datetime import datetime

        from audit.chain import canonical_bytes, event_hash

        line = lines[1]
        line["reason"] = "aggiunto"
        row = [line[name] for name in (
            "seq", "created_at", "actor_id", "actor_username", "actor_role", "action",
            "object_type", "object_id", "agreement_id", "payload", "documents", "reason",
            "request_id",
        )]  # fmt: skip
        row[1] = datetime.fromisoformat(row[1])
        line["hash"] = event_hash(line["prev_hash"], canonical_bytes(*row))
        return lines

    broken = rewrite(path, tmp_path / "forged.zip", events=edit)
    failure = last_line(run_verifier(broken, trust_root))
    assert failure.startswith("FAIL: event ")
    assert "is not in checkpoint #3's tree" in failure


def test_a_date_range_bundle_is_contiguous_and_bounded(log, tmp_path, trust_root):
    from django.utils import timezone

    events = list(AuditEvent.objects.order_by("seq"))
    start, end = events[9].created_at, events[20].created_at
    path, result = export(tmp_path, date_from=start, date_to=end)
    assert result.kind == "range"
    with zipfile.ZipFile(path) as archive:
        lines = [json.loads(line) for line in archive.read("events.jsonl").split(b"\n")[:-1]]
        manifest = json.loads(archive.read("manifest.json"))
    seqs = [line["seq"] for line in lines]
    assert seqs == list(range(seqs[0], seqs[-1] + 1))
    assert manifest["boundaries"]["before"]["seq"] == seqs[0] - 1
    assert manifest["boundaries"]["after"]["seq"] == seqs[-1] + 1
    assert timezone.is_aware(start)
    verified = run_verifier(path, trust_root)
    assert verified.returncode == 0, verified.stdout
    assert "(range)" in last_line(verified)

    def recount(data):  # a forger who also fixes the manifest's count
        data["events"]["count"] -= 1

    cut_tail = rewrite(
        path, tmp_path / "tail.zip", events=lambda lines: lines[:-1], manifest=recount
    )
    assert "events at its end are missing" in last_line(run_verifier(cut_tail, trust_root))
    cut_head = rewrite(
        path, tmp_path / "head.zip", events=lambda lines: lines[1:], manifest=recount
    )
    assert "events at its start are missing" in last_line(run_verifier(cut_head, trust_root))
    gap = rewrite(path, tmp_path / "gap.zip", events=lambda lines: lines[:3] + lines[4:])
    assert f"event {seqs[3]} is missing" in last_line(run_verifier(gap, trust_root))


def test_only_auditors_and_administrators_export_bundles(log, tmp_path, officer):
    with pytest.raises(PermissionDenied):
        bundle_write(io.BytesIO(), actor=officer)
    auditor = make_user("revisore", "auditor")
    result = bundle_write(io.BytesIO(), actor=auditor)
    event = AuditEvent.objects.get(seq=result.event_seq)
    assert event.actor_username == "revisore"


def test_the_management_command_writes_a_bundle(log, tmp_path, trust_root, capsys):
    from django.core.management import call_command

    path = tmp_path / "cli.zip"
    call_command("audit_bundle", output=str(path))
    out = capsys.readouterr()
    assert f"Audit bundle {path}:" in out.out
    assert run_verifier(path, trust_root).returncode == 0
