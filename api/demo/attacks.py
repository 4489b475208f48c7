"""The four planted attacks. Each function puts its traffic in the capture and returns its plan;
the generator counts the plan's connections from the flows labelled with its id."""

from __future__ import annotations

from dataclasses import dataclass

from api.demo import rdp, tls
from api.demo.capture import Scene
from api.demo.certificate import rdp_credential
from api.demo.manifest import AttackKind, MitreTechnique
from api.demo.network import (
    BASTION,
    LINUX,
    MAIL,
    MS,
    PORTAL,
    RDP_SERVER,
    RESOLVER,
    SCANNER,
    Host,
    dmz_host,
    internet_host,
)
from api.demo.shell import password_guesses
from api.demo.tcp import TcpConnection
from api.demo.tcp_profile import MASSCAN_TCP, NMAP_TCP, TcpProfile
from api.demo.web import TlsOffer, tls_handshake

SCAN_TECHNIQUE = MitreTechnique(
    technique_id="T1046", technique="Network Service Discovery", tactic="TA0007 Discovery"
)
GUESS_TECHNIQUE = MitreTechnique(
    technique_id="T1110.001",
    technique="Brute Force: Password Guessing",
    tactic="TA0006 Credential Access",
)
_SSH_SESSIONS_PER_TASK = 33
_RDP_LOGONS = 45


@dataclass(frozen=True)
class AttackPlan:
    id: str
    kind: AttackKind
    description: str
    source: str
    targets: list[str]
    ports: tuple[int, int]
    service_port: int | None
    mitre: MitreTechnique


def vertical_scan(scene: Scene, at: int) -> AttackPlan:
    """nmap -sS -p1-1024 against the portal: ports in random order, one source port throughout."""
    plan = AttackPlan(
        id="vertical_scan",
        kind="port_scan_vertical",
        description="TCP SYN scan of ports 1-1024 of the portal; 22, 25, 80, 443 answer SYN-ACK",
        source="192.0.2.66",
        targets=[PORTAL],
        ports=(1, 1024),
        service_port=None,
        mitre=SCAN_TECHNIQUE,
    )
    scanner, portal = internet_host(plan.source, SCANNER), dmz_host(PORTAL)
    ports = list(range(1, 1025))
    scene.rng.shuffle(ports)
    sport = scene.rng.randint(*SCANNER.ephemeral_ports)
    t = at
    for port in ports:
        conn = _probe(scene, plan, scanner, portal, port, sport, NMAP_TCP, 38 * MS)
        if port in (22, 25, 80, 443):
            conn.half_open(t)
        else:
            conn.refused(t)
        t += scene.rng.randint(2 * MS, 14 * MS)
    return plan


def horizontal_scan(scene: Scene, at: int) -> AttackPlan:
    """masscan -p3389 198.51.100.1-60 at a low rate: absent hosts stay silent, Linux servers refuse,
    and the RDP gateway answers."""
    plan = AttackPlan(
        id="horizontal_scan",
        kind="port_scan_horizontal",
        description="TCP SYN sweep for RDP (3389) across 198.51.100.1-60; .30 answers SYN-ACK",
        source="192.0.2.77",
        targets=[f"198.51.100.{i}" for i in range(1, 61)],
        ports=(3389, 3389),
        service_port=3389,
        mitre=SCAN_TECHNIQUE,
    )
    scanner = internet_host(plan.source, SCANNER)
    sport = scene.rng.randint(*SCANNER.ephemeral_ports)
    order = list(plan.targets)
    scene.rng.shuffle(order)
    t = at
    for ip in order:
        conn = _probe(scene, plan, scanner, dmz_host(ip), 3389, sport, MASSCAN_TCP, 52 * MS)
        if ip == RDP_SERVER:
            conn.half_open(t)
        elif ip in (PORTAL, BASTION, MAIL, RESOLVER):
            conn.refused(t)
        else:
            conn.syn_only(t)
        t += scene.rng.randint(150 * MS, 650 * MS)
    return plan


def ssh_brute_force(scene: Scene, at: int, *, host_key: bytes) -> AttackPlan:
    """hydra -t 2 against the bastion: two tasks, each opening guessing connections one by one."""
    plan = AttackPlan(
        id="ssh_brute_force",
        kind="brute_force_ssh",
        description=f"SSH password guessing against the bastion: {2 * _SSH_SESSIONS_PER_TASK} "
        "short connections, 3 passwords each",
        source="203.0.113.200",
        targets=[BASTION],
        ports=(22, 22),
        service_port=22,
        mitre=GUESS_TECHNIQUE,
    )
    attacker = internet_host(plan.source, LINUX)
    for task in range(2):
        t = at + task * 1_300 * MS
        for _ in range(_SSH_SESSIONS_PER_TASK):
            t = password_guesses(
                scene, attacker, host_key=host_key, at=t, label=plan.id, rtt_us=47 * MS
            )
            t += scene.rng.randint(30 * MS, 400 * MS)
    return plan


def rdp_brute_force(scene: Scene, at: int) -> AttackPlan:
    """A FreeRDP-based guesser against the RDP gateway: NLA logons that fail, one per connection."""
    plan = AttackPlan(
        id="rdp_brute_force",
        kind="brute_force_rdp",
        description=f"RDP (NLA/CredSSP) password guessing against {RDP_SERVER}: "
        f"{_RDP_LOGONS} failed logons",
        source="203.0.113.201",
        targets=[RDP_SERVER],
        ports=(3389, 3389),
        service_port=3389,
        mitre=GUESS_TECHNIQUE,
    )
    attacker = internet_host(plan.source, LINUX)
    t = at
    for _ in range(_RDP_LOGONS):
        t = _rdp_logon(scene, attacker, t, label=plan.id) + scene.rng.randint(800 * MS, 3200 * MS)
    return plan


def _probe(
    scene: Scene,
    plan: AttackPlan,
    scanner: Host,
    target: Host,
    port: int,
    sport: int,
    profile: TcpProfile,
    rtt_us: int,
) -> TcpConnection:
    return TcpConnection.start(
        scene, scanner, target, port, label=plan.id, service=None, rtt_us=rtt_us,
        client_port=sport, client_profile=profile,
    )  # fmt: skip


def _rdp_logon(scene: Scene, attacker: Host, at: int, *, label: str) -> int:
    """X.224 negotiation of CredSSP, TLS, an NTLM exchange inside CredSSP, and the server's reset
    after it reports STATUS_LOGON_FAILURE."""
    rng = scene.rng
    server = dmz_host(RDP_SERVER)
    conn = TcpConnection.start(
        scene, attacker, server, 3389, label=label, service="rdp", rtt_us=61 * MS
    )
    t = conn.open(at)
    protocols = rdp.PROTOCOL_SSL | rdp.PROTOCOL_HYBRID | rdp.PROTOCOL_HYBRID_EX
    t = conn.send(True, rdp.connection_request("administrator", protocols), t + 1 * MS)
    t = conn.send(False, rdp.connection_confirm(rdp.PROTOCOL_HYBRID, rng.getrandbits(16)), t + 400)
    offer = TlsOffer(sni=None, alpn=[], session_id=b"")
    t, to_server, to_client = tls_handshake(conn, rng, offer, rdp_credential(), t)
    data = tls.APPLICATION_DATA
    t = conn.send(True, to_server.seal(data, rdp.CREDSSP_NEGOTIATE), t + 1 * MS)
    t = conn.send(False, to_client.seal(data, rdp.CREDSSP_CHALLENGE), t + 1 * MS)
    t = conn.send(True, to_server.seal(data, rdp.CREDSSP_AUTHENTICATE), t + 2 * MS)
    # The LSA checks the password; the failure report goes out, then the reset.
    conn.send(False, to_client.seal(data, rdp.CREDSSP_LOGON_FAILURE), t + 180 * MS)
    return conn.abort(False, conn.last_at + 1 * MS)
