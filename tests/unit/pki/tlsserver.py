"""A real TLS server on loopback (``ssl``) that serves a chain and can switch to another one
while running, as a renewed or a swapped certificate would."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.unit.pki.pkikit import Credential


class TlsServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.handshakes = 0
        self._context: ssl.SSLContext | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def use(self, leaf: Credential, chain: list[Credential]) -> None:
        """Serve ``leaf`` and ``chain`` from the next handshake on."""
        cert_file, key_file = self.folder / "server.pem", self.folder / "server.key"
        cert_file.write_bytes(leaf.pem() + b"".join(c.pem() for c in chain))
        key_file.write_bytes(leaf.key_pem())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._context = context

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            context = self._context
            try:
                if context is None:
                    continue
                conn.settimeout(5)
                with context.wrap_socket(conn, server_side=True) as tls:
                    self.handshakes += 1
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.listener.close()


@contextmanager
def tls_server(leaf: Credential, chain: list[Credential], folder: Path) -> Iterator[TlsServer]:
    server = TlsServer(folder)
    server.use(leaf, chain)
    server.start()
    try:
        yield server
    finally:
        server.stop()
