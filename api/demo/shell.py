"""SSH connections to the bastion: administrators' long interactive sessions, and password guessing.

The two look different on the wire on purpose, as they do in life: an administrator opens a few
connections that last many minutes and carry hundreds of 36-byte keystroke packets; a guessing tool
opens one short connection after another, each a key exchange, three passwords and a disconnect.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from api.demo import ssh
from api.demo.capture import Scene
from api.demo.network import BASTION, MS, SECOND, Host, dmz_host
from api.demo.tcp import TcpConnection, Turn

_PTY_READ = 4096  # sshd forwards what it reads from the pty, at most this much at a time
_PROMPT = len("it.ops@bastion:~$ ") + 12  # with its colour escapes
_PAM_FAIL_DELAY_US = 2 * SECOND  # pam_unix's delay after a wrong password


@dataclass(frozen=True)
class SshClient:
    software: str
    offer: ssh.KexOffer
    share: int
    server_share: int


OPENSSH = SshClient(
    "OpenSSH_9.6", ssh.OPENSSH_CLIENT_OFFER, ssh.SNTRUP761_CLIENT_SHARE, ssh.SNTRUP761_SERVER_SHARE
)
OPENSSH_WINDOWS = SshClient(
    "OpenSSH_for_Windows_9.5",
    ssh.OPENSSH_CLIENT_OFFER,
    ssh.SNTRUP761_CLIENT_SHARE,
    ssh.SNTRUP761_SERVER_SHARE,
)
LIBSSH = SshClient(
    "libssh_0.10.6", ssh.LIBSSH_CLIENT_OFFER, ssh.CURVE25519_SHARE, ssh.CURVE25519_SHARE
)

#: Commands an administrator types (only their lengths reach the wire) and their output sizes.
COMMANDS: list[tuple[str, int]] = [
    ("uptime", 70),
    ("df -h", 640),
    ("free -m", 230),
    ("sudo systemctl status nginx", 1350),
    ("sudo tail -n 40 /var/log/nginx/error.log", 5200),
    ("ls -la /etc/nginx/sites-enabled/", 310),
    ("sudo nginx -t", 130),
    ("who", 120),
    ("sudo journalctl -u ssh --since today | tail -20", 2900),
    ("ps aux --sort=-%mem | head", 1500),
    ("sudo apt list --upgradable", 2100),
    ("cat /etc/os-release", 390),
    ("ss -tlnp", 900),
    ("sudo systemctl reload nginx", 0),
    ("cd /var/www/portal && git log --oneline -5", 330),
    ("ls", 160),
]


def _handshake(
    conn: TcpConnection, rng: random.Random, client: SshClient, host_key: bytes, at: int
) -> int:
    """Identification strings, KEXINITs, the ECDH exchange, NEWKEYS and the ssh-userauth service."""
    t = conn.open(at)
    t = conn.send(False, ssh.identification(ssh.OPENSSH_SERVER), t + 2 * MS)
    kexinit = ssh.binary_packet(client.offer.payload(rng), rng)
    t = conn.send(True, ssh.identification(client.software) + kexinit, t + 1 * MS)
    t = conn.send(False, ssh.binary_packet(ssh.OPENSSH_SERVER_OFFER.payload(rng), rng), t + 200)
    t = conn.send(True, ssh.ecdh_init(rng, client.share), t + 500)
    reply = ssh.ecdh_reply_and_newkeys(rng, host_key, client.server_share)
    t = conn.send(False, reply, t + 2 * MS)
    # NEWKEYS and SERVICE_REQUEST "ssh-userauth"; then EXT_INFO (RFC 8308) and SERVICE_ACCEPT.
    t = conn.send(True, ssh.newkeys(rng) + ssh.encrypted(rng, 17), t + 1 * MS)
    return conn.send(False, ssh.encrypted(rng, 262, 17), t + 200)


def admin_session(
    scene: Scene,
    admin: Host,
    *,
    client: SshClient,
    host_key: bytes,
    at: int,
    commands: int,
    think_s: tuple[int, int],
) -> int:
    """Public-key login, an interactive shell, ``commands`` commands typed key by key, then exit."""
    rng = scene.rng
    conn = TcpConnection.start(
        scene, admin, dmz_host(BASTION), 22, label="benign", service="ssh", rtt_us=450
    )
    t = _handshake(conn, rng, client, host_key, at)
    # Public-key query, PK_OK, signed request, success; then session channel, pty, shell, MOTD.
    t = conn.converse(
        [
            Turn(True, ssh.encrypted(rng, 118), 1 * MS),
            Turn(False, ssh.encrypted(rng, 60), 3 * MS),
            Turn(True, ssh.encrypted(rng, 190), 25 * MS),
            Turn(False, ssh.encrypted(rng, 1), 4 * MS),
            Turn(True, ssh.encrypted(rng, 24, 95, 30, 20), 1 * MS),
            Turn(False, ssh.encrypted(rng, 17, 9, 1, 870, 60), 40 * MS),
        ],
        t,
    )
    for _ in range(commands):
        command, output = rng.choice(COMMANDS)
        t = _type(conn, rng, command + "\r", t + rng.randint(*think_s) * SECOND)
        pieces = [min(_PTY_READ, output - i) for i in range(0, output, _PTY_READ)] + [_PROMPT]
        packets = ssh.encrypted(rng, *(ssh.CHANNEL_DATA_HEADER + n for n in pieces))
        t = conn.send(False, packets, t + 40 * MS)
    t = _type(conn, rng, "exit\r", t + rng.randint(*think_s) * SECOND)
    # "logout", exit-status, EOF and CLOSE from sshd; the client's CLOSE; then the client hangs up.
    t = conn.send(False, ssh.encrypted(rng, 17, 25, 5, 5), t + 5 * MS)
    t = conn.send(True, ssh.encrypted(rng, 5), t + 1 * MS)
    return conn.close(True, t + 1 * MS)


def _type(conn: TcpConnection, rng: random.Random, text: str, at: int) -> int:
    """One packet per key and sshd's echo of it (the pty echoes; the ACK comes with the echo)."""
    t = at
    for _ in text:
        t = conn.send(True, ssh.encrypted(rng, ssh.KEYSTROKE), t + rng.randint(90, 260) * MS)
        t = conn.send(False, ssh.encrypted(rng, ssh.KEYSTROKE), t + 60)
    return t


def password_guesses(
    scene: Scene,
    attacker: Host,
    *,
    host_key: bytes,
    at: int,
    label: str,
    rtt_us: int,
) -> int:
    """One connection of a guessing tool: three passwords, then sshd hangs up (MaxAuthTries 3)."""
    rng = scene.rng
    conn = TcpConnection.start(
        scene, attacker, dmz_host(BASTION), 22, label=label, service="ssh", rtt_us=rtt_us
    )
    t = _handshake(conn, rng, LIBSSH, host_key, at)
    for attempt in range(3):
        # USERAUTH_REQUEST "root" / "ssh-connection" / "password" with a guess of 6 to 14 bytes.
        t = conn.send(True, ssh.encrypted(rng, 52 + rng.randint(6, 14)), t + 300)
        delay = _PAM_FAIL_DELAY_US + rng.randrange(200 * MS)
        if attempt < 2:  # USERAUTH_FAILURE "publickey,password"
            t = conn.send(False, ssh.encrypted(rng, 24), t + delay)
        else:  # DISCONNECT "Too many authentication failures", and the server closes
            conn.send(False, ssh.encrypted(rng, 46), t + delay)
    return conn.close(False, conn.last_at + 80)
