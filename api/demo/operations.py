"""Benign traffic of the city's own operations: administrators, mail, ping and NTP."""

from __future__ import annotations

from api.demo.capture import Scene
from api.demo.datagram import dns_question, ntp_request, ntp_response, ping, udp_exchange
from api.demo.mail import Letter, imap_session, smtp_delivery
from api.demo.network import (
    BASTION,
    LINUX,
    MAIL,
    MINUTE,
    MS,
    PORTAL,
    RESOLVER,
    SECOND,
    WINDOWS,
    admin_host,
    dmz_host,
    internet_host,
)
from api.demo.shell import OPENSSH, OPENSSH_WINDOWS, SshClient, admin_session
from api.demo.tcp import TcpConnection

MONITOR = admin_host("10.20.0.5")
ADMINS = [admin_host("10.20.0.11"), admin_host("10.20.0.12"), admin_host("10.20.0.13", WINDOWS)]
#: (admin, client, start, commands, think time range in seconds): few sessions, each long.
_SSH_SESSIONS: list[tuple[int, SshClient, int, int, tuple[int, int]]] = [
    (0, OPENSSH, 2 * MINUTE, 26, (8, 30)),
    (1, OPENSSH, 6 * MINUTE + 40 * SECOND, 14, (10, 40)),
    (2, OPENSSH_WINDOWS, 24 * MINUTE, 6, (5, 20)),
]
_LETTERS = [
    Letter(
        "anna.berg@provider.example",
        "permits@city.example",
        "Parking permit renewal",
        "Hello,\n\nmy permit for Lindenstrasse expires next week. Can I renew it online?\n\n"
        "Kind regards,\nAnna Berg\n",
    ),
    Letter(
        "no-reply@newsletter.example",
        "press@city.example",
        "Regional press digest, 2 March",
        "Today's regional headlines:\n- Spring street cleaning starts\n- New citizen office "
        "opens in the north district\n- Council publishes February minutes\n",
    ),
    Letter(
        "tom.okafor@citizen-mail.example",
        "waste@city.example",
        "Bulky waste collection",
        "Hi,\n\ncould you collect an old sofa and a fridge from Parkweg 12?\nThanks, Tom\n",
    ),
    Letter(
        "it-alerts@vendor.example",
        "it@city.example",
        "Maintenance window notice",
        "Our hosted form service will be unavailable on Saturday from 22:00 to 23:00 UTC.\n",
    ),
]
#: Sending MTAs, each delivering one letter in the given minute.
_MTAS = [
    ("mx1.provider.example", "198.18.25.25", 3),
    ("out.newsletter.example", "198.19.12.9", 9),
    ("smtp.citizen-mail.example", "203.0.113.25", 17),
    ("mta.vendor.example", "198.18.200.7", 26),
]


def play(scene: Scene, start: int, *, host_key: bytes) -> None:
    rng, resolver = scene.rng, dmz_host(RESOLVER)
    # chrony on the resolver asks a pool server for the time, from port 123 (RFC 5905 9.1); this is
    # the capture's first packet.
    request = ntp_request(start)
    reply = ntp_response(request, start + 6 * MS, start + 6 * MS + 40)
    ntp_server = (internet_host("198.18.0.123", LINUX), 123)
    udp_exchange(
        scene, (resolver, 123), ntp_server, request, reply, start, delay_us=12 * MS, service="ntp"
    )

    ping(scene, MONITOR, dmz_host(PORTAL), 4, start + 1 * MINUTE, rtt_us=380)
    ping(scene, MONITOR, dmz_host(BASTION), 4, start + 1 * MINUTE + 6 * SECOND, rtt_us=410)
    citizen = internet_host("203.0.113.45", LINUX)
    ping(scene, citizen, dmz_host(PORTAL), 3, start + 11 * MINUTE + 40 * SECOND, rtt_us=22 * MS)

    for admin, client, offset, commands, think in _SSH_SESSIONS:
        at = start + offset
        dns_question(
            scene, ADMINS[admin], resolver, "bastion.city.example", "A", at, recursion=True
        )
        admin_session(
            scene, ADMINS[admin], client=client, host_key=host_key, at=at + 5 * MS,
            commands=commands, think_s=think,
        )  # fmt: skip

    mail = dmz_host(MAIL)
    for (name, ip, minute), letter in zip(_MTAS, _LETTERS, strict=True):
        at = start + minute * MINUTE + rng.randrange(60 * SECOND)
        rtt = rng.randint(15 * MS, 40 * MS)
        conn = TcpConnection.start(
            scene, internet_host(ip, LINUX), mail, 25, label="benign", service="smtp", rtt_us=rtt
        )
        t = conn.open(at)
        t = conn.converse(smtp_delivery(name, letter, t, f"4F{rng.getrandbits(40):010X}"), t)
        conn.close(True, t + 1 * MS)
    for admin, minute in ((1, 5), (0, 21)):
        conn = TcpConnection.start(
            scene, ADMINS[admin], mail, 143, label="benign", service="imap", rtt_us=450
        )
        t = conn.open(start + minute * MINUTE)
        t = conn.converse(imap_session("it.ops", "Winter-Rota-17", _LETTERS, t), t)
        conn.close(False, t + 1 * MS)
