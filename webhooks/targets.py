"""Which URLs a subscription may point at.

The server makes the requests, so a target must not be a way to reach the server itself or the
cloud's metadata service: loopback, link-local, multicast, unspecified and reserved addresses
are refused, both when the subscription is made (for an address written as such) and before
each delivery (for whatever the host name resolves to then). Private networks stay allowed: a
public body's systems often live on its intranet. ``STIPULA_WEBHOOK_ALLOW_LOCAL = True`` allows
local addresses too (development, tests).
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from stipula.errors import ValidationFailed

MAX_URL_LENGTH = 500


def _allow_local() -> bool:
    return bool(getattr(settings, "STIPULA_WEBHOOK_ALLOW_LOCAL", False))


def _is_local(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved
    )


def _invalid(message) -> ValidationFailed:
    return ValidationFailed(message, field="url")


def validate_target_url(url) -> str:
    """The URL, stripped, if a subscription may point at it; otherwise ValidationFailed."""
    if not isinstance(url, str) or not url.strip():
        raise _invalid(_("Give the URL the deliveries are sent to."))
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(_("The URL is too long (at most %(n)d characters).") % {"n": MAX_URL_LENGTH})
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _invalid(_("This is not a valid URL.")) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(_("The URL must start with https:// (or http://) and name a host."))
    if parts.username is not None or parts.password is not None:
        raise _invalid(
            _("Do not put credentials in the URL: deliveries are signed with the secret instead.")
        )
    if port == 0 or any(ord(c) < 33 for c in url):
        raise _invalid(_("This is not a valid URL."))
    try:
        literal = ipaddress.ip_address(parts.hostname.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None and _is_local(str(literal)) and not _allow_local():
        raise _invalid(_("Deliveries cannot go to a local or reserved address."))
    if literal is None and parts.hostname.lower().rstrip(".") == "localhost":
        if not _allow_local():
            raise _invalid(_("Deliveries cannot go to a local or reserved address."))
    return url


def check_resolved(url: str) -> None:
    """Before a delivery: refuse a host that now resolves to a local address (OSError)."""
    if _allow_local():
        return
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for *_rest, sockaddr in socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP):
        if _is_local(sockaddr[0]):
            raise OSError(f"{parts.hostname} resolves to a local address ({sockaddr[0]}): refused")
