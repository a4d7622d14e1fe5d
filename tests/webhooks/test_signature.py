"""How a receiver checks a delivery (webhooks.signature, docs/webhooks.md)."""

import hashlib
import hmac

from webhooks import signature

SECRET = "whsec_test-secret"
BODY = b'{"event":"agreement.state_changed","id":"1"}'
NOW = 1_800_000_000


def header(body=BODY, timestamp=NOW, secret=SECRET):
    return signature.sign(secret, timestamp, body)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header() == "sha256=" + expected
    assert signature.verify(SECRET, str(NOW), BODY, header(), now=NOW)
    assert signature.verify(SECRET, NOW, BODY.decode(), header(), now=NOW + 299)


def test_a_tampered_body_is_rejected():
    tampered = BODY.replace(b"state_changed", b"state_changeD")
    assert not signature.verify(SECRET, str(NOW), tampered, header(), now=NOW)


def test_another_secret_timestamp_or_a_malformed_header_is_rejected():
    assert not signature.verify("whsec_other", str(NOW), BODY, header(), now=NOW)
    # The timestamp is signed too: it cannot be moved forward to replay a delivery.
    assert not signature.verify(SECRET, str(NOW + 60), BODY, header(), now=NOW + 60)
    for bad in ["", "md5=abc", header()[len("sha256=") :], "sha256=zz", "sha256=è"]:
        assert not signature.verify(SECRET, str(NOW), BODY, bad, now=NOW)
    assert not signature.verify(SECRET, "yesterday", BODY, header(), now=NOW)


def test_an_old_delivery_is_rejected_unless_the_time_is_not_checked():
    old = header(timestamp=NOW - 3600)
    assert not signature.verify(SECRET, str(NOW - 3600), BODY, old, now=NOW)
    assert signature.verify(SECRET, str(NOW - 3600), BODY, old, now=NOW, tolerance=None)
