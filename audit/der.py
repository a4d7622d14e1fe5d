"""A minimal DER reader and writer: just what RFC 3161 timestamp tokens need.

Standard library only, for the offline verifier (audit.verify_bundle). It reads BER's
indefinite lengths too, since some timestamp authorities send them, but the parts that are
hashed or signed (TSTInfo, signed attributes) are hashed as the bytes they arrived in.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

UNIVERSAL, APPLICATION, CONTEXT, PRIVATE = 0, 1, 2, 3

BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
UTF8_STRING = 0x0C
SEQUENCE = 0x10
SET = 0x11
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18

_MAX_DEPTH = 64


class DerError(ValueError):
    """The bytes are not the DER structure that was expected."""


@dataclass(frozen=True, slots=True)
class Element:
    """One TLV inside ``data``: the whole element is ``data[start:end]``, its content
    ``data[content_start:content_end]``."""

    data: bytes
    start: int
    content_start: int
    content_end: int
    end: int
    tag_class: int
    constructed: bool
    tag: int

    @property
    def raw(self) -> bytes:
        return self.data[self.start : self.end]

    @property
    def content(self) -> bytes:
        return self.data[self.content_start : self.content_end]

    def is_(self, tag: int, tag_class: int = UNIVERSAL) -> bool:
        return self.tag == tag and self.tag_class == tag_class

    def children(self) -> list["Element"]:
        if not self.constructed:
            raise DerError(f"element with tag {self.tag} is not constructed")
        return list(_iter(self.data, self.content_start, self.content_end))

    def expect(self, tag: int, tag_class: int = UNIVERSAL, what: str = "") -> "Element":
        if not self.is_(tag, tag_class):
            raise DerError(
                f"{what or 'element'}: expected tag {tag} (class {tag_class}), "
                f"found tag {self.tag} (class {self.tag_class})"
            )
        return self


def _header(data: bytes, offset: int, end: int) -> tuple[int, bool, int, int, int | None]:
    """(tag class, constructed, tag number, content start, content length or None)."""
    if offset >= end:
        raise DerError("truncated: an element was expected")
    first = data[offset]
    offset += 1
    tag_class, constructed, tag = first >> 6, bool(first & 0x20), first & 0x1F
    if tag == 0x1F:
        tag = 0
        while True:
            if offset >= end:
                raise DerError("truncated tag")
            byte = data[offset]
            offset += 1
            tag = (tag << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
    if offset >= end:
        raise DerError("truncated length")
    length = data[offset]
    offset += 1
    if length == 0x80:
        if not constructed:
            raise DerError("indefinite length on a primitive element")
        return tag_class, constructed, tag, offset, None
    if length & 0x80:
        count = length & 0x7F
        if count > 8 or offset + count > end:
            raise DerError("bad length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    if offset + length > end:
        raise DerError("truncated: the element is longer than the data")
    return tag_class, constructed, tag, offset, length


def _read(data: bytes, offset: int, end: int, depth: int = 0) -> Element:
    if depth > _MAX_DEPTH:
        raise DerError("nested too deeply")
    tag_class, constructed, tag, content_start, length = _header(data, offset, end)
    if length is not None:
        content_end = content_start + length
        return Element(
            data, offset, content_start, content_end, content_end, tag_class, constructed, tag
        )
    # Indefinite length: children up to the end-of-contents marker (00 00).
    position = content_start
    while True:
        if position + 2 > end:
            raise DerError("truncated: no end-of-contents marker")
        if data[position] == 0 and data[position + 1] == 0:
            return Element(
                data, offset, content_start, position, position + 2, tag_class, constructed, tag
            )
        position = _read(data, position, end, depth + 1).end


def _iter(data: bytes, start: int, end: int):
    position = start
    while position < end:
        element = _read(data, position, end)
        yield element
        position = element.end


def parse(data: bytes) -> Element:
    """The single element that ``data`` holds (nothing may follow it)."""
    data = bytes(data)
    element = _read(data, 0, len(data))
    if element.end != len(data):
        raise DerError(f"{len(data) - element.end} bytes follow the element")
    return element


def parse_all(data: bytes) -> list[Element]:
    """The elements that ``data`` holds one after the other (e.g. DER certificates)."""
    data = bytes(data)
    return list(_iter(data, 0, len(data)))


# Values ------------------------------------------------------------------------------------


def integer(element: Element) -> int:
    element.expect(INTEGER, what="INTEGER")
    if not element.content:
        raise DerError("empty INTEGER")
    return int.from_bytes(element.content, "big", signed=True)


def oid(element: Element) -> str:
    element.expect(OID, what="OBJECT IDENTIFIER")
    content = element.content
    if not content:
        raise DerError("empty OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if content[-1] & 0x80:
        raise DerError("truncated OBJECT IDENTIFIER")
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(arc) for arc in head + arcs[1:])


def octets(element: Element) -> bytes:
    """An OCTET STRING's bytes (a constructed one's chunks joined)."""
    element.expect(OCTET_STRING, what="OCTET STRING")
    if not element.constructed:
        return element.content
    return b"".join(octets(chunk) for chunk in element.children())


def boolean(element: Element) -> bool:
    element.expect(BOOLEAN, what="BOOLEAN")
    return element.content != b"\x00"


def time(element: Element) -> datetime:
    """A GeneralizedTime or UTCTime, as an aware datetime in UTC."""
    text = element.content.decode("ascii")
    if element.is_(GENERALIZED_TIME):
        if not text.endswith("Z"):
            raise DerError(f"GeneralizedTime {text!r} is not in UTC")
        body = text[:-1]
        main, _, fraction = body.partition(".")
        moment = datetime.strptime(main, "%Y%m%d%H%M%S").replace(tzinfo=UTC)  # noqa: DTZ007
        if fraction:
            moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
        return moment
    if element.is_(UTC_TIME):
        if not text.endswith("Z"):
            raise DerError(f"UTCTime {text!r} is not in UTC")
        moment = datetime.strptime(text[:-1], "%y%m%d%H%M%S").replace(tzinfo=UTC)  # noqa: DTZ007
        return moment
    raise DerError(f"expected a time, found tag {element.tag}")


# Writing -----------------------------------------------------------------------------------


def encode(tag_byte: int, content: bytes) -> bytes:
    """One TLV with a definite length; ``tag_byte`` is the whole identifier octet."""
    length = len(content)
    if length < 0x80:
        return bytes([tag_byte, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag_byte, 0x80 | size]) + length.to_bytes(size, "big") + content


def encode_integer(value: int) -> bytes:
    size = (value.bit_length() + 8) // 8  # room for the sign bit
    return encode(INTEGER, value.to_bytes(size, "big", signed=True))


def encode_oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    values = [arcs[0] * 40 + arcs[1], *arcs[2:]]
    content = bytearray()
    for value in values:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        content.extend(reversed(chunk))
    return encode(OID, bytes(content))


def encode_sequence(*parts: bytes) -> bytes:
    return encode(0x30, b"".join(parts))


def encode_octets(value: bytes) -> bytes:
    return encode(OCTET_STRING, value)


def encode_boolean(value: bool) -> bytes:
    return encode(BOOLEAN, b"\xff" if value else b"\x00")


NULL_VALUE = bytes([NULL, 0])
