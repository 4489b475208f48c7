"""Traffic for the live-sensor tests, run inside a network namespace as a script:

python traffic.py http-server ADDR PORT          # a small HTTP server
python traffic.py ssh-server ADDR PORT           # sends an SSH banner, reads a line, closes
python traffic.py ssh-logins ADDR PORT COUNT     # COUNT short failed "logins"
python traffic.py scan ADDR FIRST LAST           # a TCP connect scan of ports FIRST..LAST
python traffic.py udp-blast ADDR PORT SECONDS SIZE   # datagrams as fast as Python sends
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import socketserver
import sys
import threading
import time


def http_server(addr: str, port: int) -> None:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer((addr, port), Quiet) as srv:
        srv.serve_forever()


def ssh_server(addr: str, port: int) -> None:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock = self.request
            sock.settimeout(5)
            sock.sendall(b"SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n")
            with contextlib.suppress(OSError):
                sock.recv(4096)
                sock.sendall(b"\x00\x00\x00\x1c\x0a\x14" + b"\x00" * 26)  # a KEXINIT-sized reply
                sock.recv(4096)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer((addr, port), Handler) as srv:
        srv.serve_forever()


def ssh_logins(addr: str, port: int, count: int) -> None:
    for _ in range(count):
        with socket.create_connection((addr, port), timeout=5) as s:
            s.recv(256)
            s.sendall(b"SSH-2.0-libssh2_1.10.0\r\n")
            s.recv(256)
            s.sendall(b"\x00\x00\x00\x2c\x06\x05" + b"x" * 42)  # a "password" attempt
            with contextlib.suppress(OSError):
                s.recv(256)
        time.sleep(0.02)


def scan(addr: str, first: int, last: int) -> None:
    for port in range(first, last + 1):
        with socket.socket() as s:
            s.settimeout(1)
            with contextlib.suppress(OSError):
                s.connect((addr, port))


def udp_blast(addr: str, port: int, seconds: float, size: int) -> None:
    payload = b"\x00" * size
    end = time.monotonic() + seconds
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        while time.monotonic() < end:
            for _ in range(1000):
                with contextlib.suppress(OSError):
                    s.sendto(payload, (addr, port))
                    sent += 1
    print(sent)


def main(argv: list[str]) -> None:
    cmd, addr, *rest = argv
    if cmd == "http-server":
        http_server(addr, int(rest[0]))
    elif cmd == "ssh-server":
        ssh_server(addr, int(rest[0]))
    elif cmd == "ssh-logins":
        ssh_logins(addr, int(rest[0]), int(rest[1]))
    elif cmd == "scan":
        scan(addr, int(rest[0]), int(rest[1]))
    elif cmd == "udp-blast":
        udp_blast(addr, int(rest[0]), float(rest[1]), int(rest[2]))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    threading.current_thread().name = "traffic"
    main(sys.argv[1:])
