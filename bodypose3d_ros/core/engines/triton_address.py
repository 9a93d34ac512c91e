"""Where a Triton Inference Server runs: the ``triton_url`` setting parsed, and whether it is local.

Kept apart from the engine so settings can be validated (node parameters, CLI flags) without the
``tritonclient`` package, and so the shared-memory decision has one well-tested rule.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Final

DEFAULT_GRPC_PORT: Final = 8001
URL_HINT: Final = "write it as grpc://HOST:PORT or HOST:PORT (Triton's gRPC port, 8001 by default)"


@dataclass(frozen=True)
class TritonAddress:
    """A gRPC endpoint of a Triton server."""

    host: str
    port: int

    @property
    def target(self) -> str:
        """``host:port`` as the gRPC client wants it (IPv6 literals in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"grpc://{self.target}"


def parse_triton_url(url: str) -> TritonAddress:
    """``grpc://host:port``, ``host:port`` or ``host`` (port 8001) -> address; ValueError if not.

    HTTP URLs are refused with a hint: the engine speaks gRPC, and Triton's HTTP port (8000)
    would only answer with a protocol error on the first request.
    """
    text = url.strip()
    if not text:
        raise ValueError(f"triton_url is empty; {URL_HINT}")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "grpc", text
    if scheme.lower() != "grpc":
        raise ValueError(
            f"triton_url {url!r} uses {scheme}://, but the engine speaks gRPC; {URL_HINT}"
        )
    rest = rest.rstrip("/")
    if not rest or "/" in rest:
        raise ValueError(f"triton_url {url!r} is not a server address; {URL_HINT}")
    if rest.startswith("["):  # [IPv6]:port
        host, _, after = rest[1:].partition("]")
        port_text = after[1:] if after.startswith(":") else ""
        if after and not after.startswith(":"):
            raise ValueError(f"triton_url {url!r} is not a server address; {URL_HINT}")
    elif rest.count(":") > 1:  # a bare IPv6 literal without a port
        host, port_text = rest, ""
    else:
        host, _, port_text = rest.partition(":")
    if not host:
        raise ValueError(f"triton_url {url!r} has no host; {URL_HINT}")
    port = DEFAULT_GRPC_PORT
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"triton_url {url!r} has an invalid port {port_text!r}; {URL_HINT}")
        port = int(port_text)
    return TritonAddress(host, port)


def is_local_host(host: str) -> bool:
    """True when ``host`` is this machine (loopback, or one of its own addresses).

    System shared memory only works when client and server share one kernel; a name that does
    not resolve counts as remote.
    """
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return False
    own: set[str] = set()
    for name in (socket.gethostname(), socket.getfqdn()):
        try:
            own |= {str(info[4][0]) for info in socket.getaddrinfo(name, None)}
        except (OSError, UnicodeError):
            continue
    for address in addresses:
        text = str(address).split("%", 1)[0]
        try:
            if ipaddress.ip_address(text).is_loopback:
                return True
        except ValueError:
            continue
        if text in own:
            return True
    return False
