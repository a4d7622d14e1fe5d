"""RFC 3161 for checkpoints (audit.rfc3161, audit.der): requests as asn1crypto reads them, and
tokens of the local PKI's real timestamp server checked, or refused, by the offline code."""

import hashlib

import pytest
from asn1crypto import tsp

from audit import der, rfc3161
from tests.signing.conftest import tsa_no_eku_url


def test_a_request_is_what_asn1crypto_reads():
    digest = hashlib.sha256(b"albero").digest()
    request = tsp.TimeStampReq.load(rfc3161.build_request(digest, nonce=2**62 + 5))
    assert request["version"].native == "v1"
    assert request["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"
    assert request["message_imprint"]["hashed_message"].native == digest
    assert request["nonce"].native == 2**62 + 5
    assert request["cert_req"].native is True


def test_der_values_round_trip():
    for dotted in ("1.2.840.113549.1.9.16.1.4", "2.16.840.1.101.3.4.2.1", "1.3.101.112"):
        assert der.oid(der.parse(der.encode_oid(dotted))) == dotted
    for value in (0, 1, 127, 128, 255, 256, -1, -129, 2**70):
        assert der.integer(der.parse(der.encode_integer(value))) == value
    long = der.encode_octets(b"x" * 300)
    assert der.octets(der.parse(long)) == b"x" * 300
    moment = der.time(der.parse(der.encode(der.GENERALIZED_TIME, b"20261125103000.123Z")))
    assert (moment.hour, moment.microsecond, moment.utcoffset().total_seconds()) == (10, 123000, 0)
    with pytest.raises(der.DerError, match="follow the element"):
        der.parse(long + b"\x00")
    with pytest.raises(der.DerError, match="truncated"):
        der.parse(long[:-1])


def test_a_refusal_of_the_tsa_is_reported_with_its_text():
    status = der.encode_sequence(
        der.encode_integer(2),
        der.encode_sequence(der.encode(der.UTF8_STRING, b"policy not accepted")),
    )
    with pytest.raises(rfc3161.TimestampError, match="refused the request: policy not accepted"):
        rfc3161.parse_response(der.encode_sequence(status))


def test_a_real_token_is_checked_and_what_it_does_not_cover_is_refused(pki):
    token, info = rfc3161.request_token(pki.tsa_url, b"testa dell'albero")
    assert info.hash_name == "sha256"
    assert info.imprint == hashlib.sha256(b"testa dell'albero").digest()
    assert "Time Stamping Authority" in info.tsa_certificate.subject.rfc4514_string()
    assert rfc3161.verify_token(token, b"testa dell'albero").serial_number == info.serial_number
    with pytest.raises(rfc3161.TimestampError, match="message imprint does not match"):
        rfc3161.verify_token(token, b"un'altra testa")


def test_a_token_signed_without_the_timestamping_usage_is_refused(pki):
    with pytest.raises(rfc3161.TimestampError, match="is not for timestamping"):
        rfc3161.request_token(tsa_no_eku_url(pki), b"testa")


def test_a_tsa_that_does_not_answer_is_said_so(pki):
    with pki.offline("tsa"), pytest.raises(rfc3161.TimestampError, match="did not answer"):
        rfc3161.request_token(pki.tsa_url, b"testa", timeout=5)
