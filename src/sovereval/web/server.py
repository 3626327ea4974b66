"""uvicorn glue for ``sovereval serve`` (imported only when serving)."""

from __future__ import annotations

import socket

import uvicorn


class NoDelayConfig(uvicorn.Config):
    """uvicorn's Config with a listening socket that keeps TCP_NODELAY on accepted connections.

    With several workers uvicorn binds the socket itself as ``socket(family)`` (protocol 0), so
    asyncio never sets TCP_NODELAY on the accepted connections; with the pure-Python h11 parser,
    which writes headers and body separately, Nagle's algorithm then meets the client's delayed
    ACK and every response waits ~40 ms. Re-wrapping the socket as IPPROTO_TCP (and setting
    TCP_NODELAY on it) restores the single-worker behaviour. Module level: workers unpickle it.
    """

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return sock
        tcp = socket.socket(sock.family, socket.SOCK_STREAM, socket.IPPROTO_TCP, sock.detach())
        tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tcp.set_inheritable(True)
        return tcp
