"""The bounded flow table: packets of a batch are folded into bidirectional flows all at once.

Per batch: canonical keys and a hash for every packet; one stable sort groups each key's packets in
capture order; the table's index (exact key bytes -> slot) is consulted once per key, not per
packet; boundaries cut groups into flows - idle timeouts for every protocol, and for TCP where
Zeek would end a connection (``sensors.flows.state.tcp_segments``: closes, unanswered attempts,
reused ports); per-flow and per-direction counters are reduced with ``ufunc.reduceat`` and merged
into the table's columns. Flows that end are handed out as one ``FlowBatch``.

Cost grows with packets (sorting, O(n log n) but with a tiny constant), with distinct keys per
batch (one dictionary lookup each) and, for keys that reconnect within a batch, with their
connections (a few array passes each, bounded by ``max_tcp_rounds``); per-packet Python work is
zero.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from cityshield.ids import ICMP4_COUNTERPART, ICMP6_COUNTERPART, community_id, record_id
from sensors.decode import DecodedPackets
from sensors.events import FlowRef
from sensors.flows.arrays import FIELDS, NEVER, UNSET, FlowArrays
from sensors.flows.ended import TRANSPORT_NAMES, EndReason, FlowBatch, ip_text
from sensors.flows.key import CanonicalKeys, KeyHasher, canonical, key_bytes
from sensors.flows.lifecycle import END_CLOSED, END_IDLE, TcpCarry, TcpPackets, tcp_segments
from sensors.flows.settings import FlowSettings
from sensors.flows.state import ACK, FIN, RST, SYN
from sensors.sources.batch import PacketBatch

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
U8A = npt.NDArray[np.uint8]

_V4_BROADCAST = np.uint64(0x0000FFFFFFFFFFFF)  # ::ffff:255.255.255.255


@dataclass(frozen=True, slots=True)
class PacketFlows:
    """For each decoded packet of the last update (in decoded order): the slot and serial of its
    flow, and whether it came from endpoint ``a`` of the canonical key. Slots stay readable until
    the next update, even for flows that ended in it."""

    slot: I64
    serial: I64
    from_a: B

    @staticmethod
    def empty() -> PacketFlows:
        z = np.zeros(0, dtype=np.int64)
        return PacketFlows(z, z, np.zeros(0, dtype=bool))


@dataclass(slots=True)
class FlowStats:
    created: int = 0
    ended: Counter[str] = field(default_factory=Counter)
    evicted: int = 0
    collisions: int = 0
    peak: int = 0
    #: TCP keys whose connections were not split further in a batch (``max_tcp_rounds``).
    tcp_budget_exceeded: int = 0


class FlowTable:
    def __init__(
        self, settings: FlowSettings | None = None, *, observer: str = "", seed: int | None = None
    ) -> None:
        self.settings = s = settings or FlowSettings()
        self.observer = observer
        self.arrays = FlowArrays()
        self.index: dict[bytes, int] = {}
        self.slot_key: list[bytes | None] = [None] * self.arrays.capacity
        self.hasher = KeyHasher(seed)
        self.now = int(UNSET)
        self.captures: list[str] = []
        self._capture_ids: dict[str, int] = {}
        self.stats = FlowStats()
        self._assignment = PacketFlows.empty()
        self._next_serial = 1
        self._timeout = np.full(256, int(s.other_idle_timeout * 1e9), dtype=np.int64)
        self._timeout[6] = int(s.tcp_idle_timeout * 1e9)
        self._timeout[17] = int(s.udp_idle_timeout * 1e9)
        self._timeout[1] = self._timeout[58] = int(s.icmp_idle_timeout * 1e9)
        self._udp_port_timeout = np.zeros(65536, dtype=np.int64)
        for port, seconds in s.udp_port_idle_timeouts.items():
            self._udp_port_timeout[port] = int(seconds * 1e9)
        self._close_delay = int(s.tcp_close_delay * 1e9)
        self._attempt = int(s.tcp_attempt_delay * 1e9)
        # TCP state the flow columns do not hold, per slot (see ``sensors.flows.state``): when a
        # closed connection is deleted, and each endpoint's start sequence number and last ACK.
        # The attempt timer and a pending flip are kept too, so that checking them costs one
        # comparison per flow.
        self._delete_at = np.full(self.arrays.capacity, NEVER, dtype=np.int64)
        self._attempt_at = np.full(self.arrays.capacity, NEVER, dtype=np.int64)
        self._flip_pending = np.zeros(self.arrays.capacity, dtype=bool)
        self._start_seq = np.full((self.arrays.capacity, 2), -1, dtype=np.int64)
        self._last_ack = np.full((self.arrays.capacity, 2), -1, dtype=np.int64)
        self._active = int(s.active_timeout * 1e9)
        self._server_port = np.zeros(65536, dtype=bool)
        self._server_port[list(s.likely_server_ports)] = True

    def __len__(self) -> int:
        return self.arrays.count

    @property
    def assignment(self) -> PacketFlows:
        """Which flow (and direction) each packet of the last ``update`` joined."""
        return self._assignment

    # -- public ---------------------------------------------------------------------------------
    def update(self, packets: DecodedPackets, batch: PacketBatch) -> FlowBatch:
        """Fold a decoded batch into the table; returns the flows that ended."""
        parts: list[FlowBatch] = []
        self._assignment = PacketFlows.empty()
        if len(packets):
            self._ingest(packets, batch, parts)
        if len(batch):
            self.now = max(self.now, int(batch.ts_ns.max()))
        parts.append(self._expire())
        if self.arrays.count > self.settings.max_flows:
            parts.append(self._evict(self.arrays.count - self.settings.max_flows))
        self.stats.peak = max(self.stats.peak, self.arrays.count)
        return FlowBatch.concat(parts)

    def flush(self) -> FlowBatch:
        """End every flow (the capture is over)."""
        slots = np.flatnonzero(self.arrays.live)
        # Order the slots by start before gathering: one pass over the columns, not two.
        start = self.arrays.cols["start_ns"][slots]
        slots = slots[np.lexsort((self.arrays.cols["first_frame"][slots], start))]
        return self._export(slots, EndReason.END_OF_CAPTURE)

    # -- ingest ---------------------------------------------------------------------------------
    def _ingest(self, packets: DecodedPackets, batch: PacketBatch, parts: list[FlowBatch]) -> None:
        cols = packets.columns
        n = len(packets)
        keys = canonical(cols)
        order, gstart = self._group(keys)
        ks = keys.take(order)
        row = cols["row"][order]
        ts = batch.ts_ns[row]
        frame = batch.first_frame + row
        flags = cols["tcp_flags"][order]
        sport = cols["sport"][order]
        dport = cols["dport"][order]
        ip_len = cols["ip_len"][order]
        payload = cols["payload_len"][order]
        depth = cols["depth"][order]
        seq = cols["tcp_seq"][order].astype(np.int64)
        ack = cols["tcp_ack"][order].astype(np.int64)

        gid = np.cumsum(gstart) - 1
        gfirst = np.flatnonzero(gstart)
        gend = np.append(gfirst[1:], n)
        gkeys = key_bytes(ks.take(gfirst))
        index = self.index
        gslot = np.fromiter((index.get(k, -1) for k in gkeys), dtype=np.int64, count=len(gkeys))
        a = self.arrays.cols
        g_known = gslot >= 0
        safe_slot = np.where(g_known, gslot, 0)

        # Idle timeouts end flows of every protocol (a known flow idles since its last packet).
        prev = np.empty(n, dtype=np.int64)
        prev[1:] = ts[:-1]
        prev[gfirst] = np.where(g_known, a["last_ns"][safe_slot], ts[gfirst])
        gap = np.maximum(ts - prev, 0)
        t_bound = (gap > self._timeouts(ks.proto, ks.pa, ks.pb)) & (~gstart | g_known[gid])
        seg_start = gstart | t_bound
        why = np.where(t_bound, END_IDLE, 0).astype(np.uint8)
        gs_bound = t_bound[gfirst] & g_known
        fresh_orig = np.zeros(n, dtype=bool)
        decided = np.zeros(n, dtype=bool)  # orientation of a new flow already known
        flip_old = np.zeros(len(gfirst), dtype=bool)
        g_delete = np.full(len(gfirst), NEVER, dtype=np.int64)
        # TCP keys with something that may end or flip a connection follow Zeek's rules.
        tcp_keys = self._tcp_keys(ks, flags, gid, gfirst, gslot)
        if len(tcp_keys):
            lengths = gend[tcp_keys] - gfirst[tcp_keys]
            first_local = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            ev = np.repeat(gfirst[tcp_keys] - first_local, lengths) + np.arange(lengths.sum())
            tp = TcpPackets(ts[ev], flags[ev], seq[ev], ack[ev], payload[ev], ks.src_is_a[ev],
                            t_bound[ev], first_local, first_local + lengths)  # fmt: skip

            def originator(at: I64) -> B:
                return self._originator(ks, ev[at], flags, sport, dport)

            res = tcp_segments(tp, self._tcp_carry(tcp_keys, gslot), originator,
                               attempt_ns=self._attempt, close_ns=self._close_delay,
                               max_rounds=self.settings.max_tcp_rounds)  # fmt: skip
            seg_start[ev] = res.start
            seg_start[gfirst[tcp_keys]] = True
            why[ev] = res.reason
            fresh_orig[ev] = res.orig_is_a
            decided[ev] = res.start
            gs_bound[tcp_keys] = res.cont_ended & g_known[tcp_keys]
            flip_old[tcp_keys] = res.cont_flip
            g_delete[tcp_keys] = res.delete_ns
            self.stats.tcp_budget_exceeded += res.budget_exceeded

        # A known flow cut at its first packet in this batch ends now, before its slot is reused.
        old = gs_bound
        if old.any():
            self._export_why(gslot[old], why[gfirst[old]], parts)

        sfirst = np.flatnonzero(seg_start)
        seg = np.cumsum(seg_start) - 1
        send = np.append(sfirst[1:], n)
        sgroup = gid[sfirst]
        s_cont = gstart[sfirst] & g_known[sgroup] & ~gs_bound[sgroup]
        s_last = np.append(sgroup[1:] != sgroup[:-1], True)

        # Who originated each flow: kept for a continuing flow (flipped by its second packet if
        # it began with an unflipped SYN-ACK), chosen like Zeek for a new one.
        if flip_old.any():
            self._flip(gslot[flip_old])
        undecided = sfirst[~decided[sfirst]]
        fresh_orig[undecided] = self._originator(ks, undecided, flags, sport, dport)
        orig_is_a = fresh_orig[sfirst]
        orig_is_a = np.where(s_cont, a["orig_is_a"][np.where(s_cont, gslot[sgroup], 0)], orig_is_a)
        pdir = (ks.src_is_a != orig_is_a[seg]).astype(np.int64)

        s_slot = np.where(s_cont, gslot[sgroup], -1)
        new = ~s_cont
        if new.any():
            s_slot[new] = self._allocate(int(new.sum()))
            self._init_new(s_slot[new], ks.take(sfirst[new]), orig_is_a[new], ts[sfirst[new]],
                           frame[sfirst[new]], batch.capture)  # fmt: skip
            self.stats.created += int(new.sum())
            a = self.arrays.cols  # allocation may have grown the columns
        self._merge(s_slot, seg, pdir, ts, flags, ip_len, payload, seq, ack)
        slot_of = np.empty(n, dtype=np.int64)
        slot_of[order] = s_slot[seg]
        self._assignment = PacketFlows(slot_of, a["serial"][slot_of], keys.src_is_a)
        last_pkt = send - 1
        # The latest time seen, not the last packet's: captures stitched together or reordered
        # on the way can go back in time, and a flow must not end before it started.
        latest = np.maximum.reduceat(ts, sfirst)
        a["last_ns"][s_slot] = np.where(s_cont, np.maximum(a["last_ns"][s_slot], latest), latest)
        a["last_frame"][s_slot] = frame[last_pkt]
        a["depth"][s_slot] = np.maximum(a["depth"][s_slot], np.maximum.reduceat(depth, sfirst))

        # Flows that ended inside this batch (the key was reused after them).
        ended = ~s_last
        if ended.any():
            nxt_first = sfirst[np.flatnonzero(ended) + 1]
            self._export_why(s_slot[ended], why[nxt_first], parts)
        # The last flow of each key stays in the table under its key.
        last_slots = s_slot[s_last]
        tcp_last = ks.proto[sfirst[s_last]] == 6
        self._delete_at[last_slots] = np.where(tcp_last, g_delete[sgroup[s_last]], NEVER)
        touched = last_slots[tcp_last]
        if len(touched):
            state = self._carry(touched)
            self._attempt_at[touched] = state.attempt_ns
            self._flip_pending[touched] = state.flip_pending
        for gi, slot in zip(
            sgroup[s_last & new].tolist(), s_slot[s_last & new].tolist(), strict=True
        ):
            key = gkeys[gi]
            index[key] = slot
            self.slot_key[slot] = key

    def start_seq(self, slot: int, orig: bool) -> int | None:
        """The initial sequence number of the originator's (or responder's) side, if known: its
        SYN's, else one before its first segment's (Zeek's ``init_endpoint``)."""
        value = int(self._start_seq[slot, 0 if orig else 1])
        return value if value >= 0 else None

    def flow_ref(self, slot: int) -> FlowRef:
        """What content facts of the flow in ``slot`` say about it (see ``FlowRef``)."""
        a = self.arrays.cols
        orig_a = bool(a["orig_is_a"][slot])
        hi = (int(a["a_hi"][slot]), int(a["b_hi"][slot]))
        lo = (int(a["a_lo"][slot]), int(a["b_lo"][slot]))
        ports = (int(a["pa"][slot]), int(a["pb"][slot]))
        o, r = (0, 1) if orig_a else (1, 0)
        v6 = bool(a["v6"][slot])
        proto = int(a["proto"][slot])
        orig_ip, resp_ip = ip_text(hi[o], lo[o], v6), ip_text(hi[r], lo[r], v6)
        one_way = False
        if proto in (1, 58):
            counterpart = ICMP6_COUNTERPART if proto == 58 else ICMP4_COUNTERPART
            one_way = ports[o] not in counterpart
        cid = community_id(orig_ip, resp_ip, proto, ports[o], ports[r], one_way=one_way)
        start, vlan = int(a["start_ns"][slot]), int(a["vlan"][slot])
        return FlowRef(
            flow_id=record_id(self.observer, cid, start, vlan),
            community_id=cid,
            transport=TRANSPORT_NAMES.get(proto, str(proto)),
            orig_ip=orig_ip,
            orig_port=ports[o],
            resp_ip=resp_ip,
            resp_port=ports[r],
            vlan=vlan,
            start_ns=start,
            capture=self.captures[int(a["capture"][slot])],
        )

    def _tcp_keys(self, ks: CanonicalKeys, flags: U8A, gid: I64, gfirst: I64, gslot: I64) -> I64:
        """TCP keys whose packets may end or flip a connection: a SYN, FIN or RST among them, or a
        known connection with a close, an attempt timer or a flip pending."""
        n_g = len(gfirst)
        tcp = ks.proto[gfirst] == 6
        if not tcp.any():
            return np.zeros(0, dtype=np.int64)
        event = (flags & (SYN | FIN | RST)) != 0
        eventful = np.bincount(gid[event], minlength=n_g) > 0
        known = (gslot >= 0) & tcp
        if known.any():
            slots = gslot[known]
            pending = (self._delete_at[slots] < NEVER) | (self._attempt_at[slots] < NEVER)
            eventful[known] |= pending | self._flip_pending[slots]
        return np.flatnonzero(eventful & tcp)

    def _carry(self, slots: I64) -> TcpCarry:
        """The TCP state of known flows, by originator and responder, from their columns."""
        a = self.arrays.cols
        sent = a["pkts"][slots] > 0
        closed = (a["n_fin"][slots] + a["n_rst"][slots]) > 0
        ff = a["first_flags"][slots]
        start = a["start_ns"][slots]
        opened = sent[:, 0] & ((ff[:, 0] & SYN) != 0)
        opened &= np.minimum(a["t_syn"][slots, 0], a["t_synack"][slots, 0]) == start
        resp_active = (a["flags"][slots, 1] & (SYN | FIN | RST)) != 0
        resp_active |= a["payload"][slots, 1] > 0
        by_synack = (ff[:, 0] & ACK) != 0
        silent = np.where(by_synack, ~sent[:, 1], ~resp_active)
        armed = opened & ~closed[:, 0] & silent
        one = (a["pkts"][slots, 0] == 1) & (a["pkts"][slots, 1] == 0)
        flip_pending = one & ((ff[:, 0] & (SYN | ACK)) == (SYN | ACK)) & (a["proto"][slots] == 6)
        return TcpCarry(
            cont=np.ones(len(slots), dtype=bool),
            orig_is_a=a["orig_is_a"][slots],
            start_ns=start,
            sent=sent,
            resp_active=resp_active,
            closed=closed,
            delete_ns=self._delete_at[slots],
            attempt_ns=np.where(armed, start + self._attempt, NEVER),
            attempt_synack=by_synack,
            flip_pending=flip_pending,
            start_seq=self._start_seq[slots],
            last_ack=self._last_ack[slots],
        )

    def _tcp_carry(self, keys: I64, gslot: I64) -> TcpCarry:
        out = TcpCarry.fresh(len(keys))
        known = np.flatnonzero(gslot[keys] >= 0)
        if len(known):
            c = self._carry(gslot[keys[known]])
            for name in TcpCarry.__slots__:
                getattr(out, name)[known] = getattr(c, name)
        return out

    def _flip(self, slots: I64) -> None:
        """Swap originator and responder of flows (Zeek's ``Connection::FlipRoles``)."""
        a = self.arrays.cols
        for name, f in FIELDS.items():
            if f.per_dir:
                a[name][slots] = a[name][slots][:, ::-1]
        a["orig_is_a"][slots] = ~a["orig_is_a"][slots]
        self._start_seq[slots] = self._start_seq[slots][:, ::-1]
        self._last_ack[slots] = self._last_ack[slots][:, ::-1]

    def _export_why(self, slots: I64, why: npt.NDArray[np.uint8], parts: list[FlowBatch]) -> None:
        closed = why == END_CLOSED
        parts.append(self._export(slots[closed], EndReason.TCP_CLOSED))
        parts.append(self._export(slots[~closed], EndReason.IDLE_TIMEOUT))

    def _group(self, keys: CanonicalKeys) -> tuple[I64, B]:
        """A stable order that puts each key's packets together, and where each group starts."""
        h = self.hasher.hash(keys)
        order = np.argsort(h, kind="stable")
        hs = h[order]
        gstart = np.empty(len(h), dtype=bool)
        gstart[0] = True
        gstart[1:] = hs[1:] != hs[:-1]
        gid = np.cumsum(gstart) - 1
        first = order[np.flatnonzero(gstart)][gid]
        same = np.ones(len(h), dtype=bool)
        for col in keys.columns():
            same &= col[order] == col[first]
        if same.all():
            return order, gstart
        # Two keys share a hash: group exactly instead (rare; the hash is seeded per process).
        self.stats.collisions += 1
        cols = keys.columns()
        order = np.lexsort(cols[::-1])
        gstart[0] = True
        diff = np.zeros(len(h) - 1, dtype=bool)
        for col in cols:
            c = col[order]
            diff |= c[1:] != c[:-1]
        gstart[1:] = diff
        return order, gstart

    def _originator(
        self,
        ks: CanonicalKeys,
        first: I64,
        flags: npt.NDArray[np.uint8],
        sport: npt.NDArray[np.uint16],
        dport: npt.NDArray[np.uint16],
    ) -> B:
        """Whether endpoint ``a`` originated each flow that starts at ``first``."""
        f = flags[first]
        proto = ks.proto[first]
        sp, dp = sport[first], dport[first]
        likely_src, likely_dst = self._server_port[sp], self._server_port[dp]
        # Zeek's rule (``TCPAnalyzer::WantConnection``): a TCP flow that does not start with a
        # plain SYN is flipped when its source port looks like a server's and its destination's
        # does not; when both do, only if no SYN was seen and the source port is the lower one.
        # SYN-ACKs alone do not flip (stealth scans send them).
        partial = ((f & SYN) == 0) | ((f & ACK) != 0)
        tcp_flip = partial & likely_src & (~likely_dst | (((f & SYN) == 0) & (sp < dp)))
        udp_flip = likely_src & ~likely_dst
        flip = np.where(proto == 6, tcp_flip, np.where(proto == 17, udp_flip, False))
        # A broadcast or multicast address never originates: Zeek does not flip a datagram to
        # one (a DHCP server's broadcast reply stays the server's, see zeek/zeek#3235).
        src_a = ks.src_is_a[first]
        dst_hi = np.where(src_a, ks.b_hi[first], ks.a_hi[first])
        dst_lo = np.where(src_a, ks.b_lo[first], ks.a_lo[first])
        v4 = (dst_hi == 0) & ((dst_lo >> np.uint64(32)) == 0xFFFF)
        group = np.where(
            v4,
            ((dst_lo >> np.uint64(28)) & np.uint64(0xF) == 0xE) | (dst_lo == _V4_BROADCAST),
            (dst_hi >> np.uint64(56)) == 0xFF,
        )
        return np.asarray(src_a ^ (flip & ~group), dtype=bool)

    def _timeouts(
        self, proto: npt.NDArray[np.uint8], pa: npt.NDArray[np.uint16], pb: npt.NDArray[np.uint16]
    ) -> I64:
        """Idle timeout of each flow: by protocol, or by UDP service port where one is set."""
        base = self._timeout[proto]
        by_port = np.maximum(self._udp_port_timeout[pa], self._udp_port_timeout[pb])
        return np.where((proto == 17) & (by_port > 0), by_port, base)

    def _allocate(self, k: int) -> I64:
        slots = self.arrays.allocate(k)
        cap = self.arrays.capacity
        if len(self.slot_key) < cap:
            self.slot_key.extend([None] * (cap - len(self.slot_key)))
            grow = cap - len(self._delete_at)
            never = np.full(grow, NEVER, dtype=np.int64)
            self._delete_at = np.append(self._delete_at, never)
            self._attempt_at = np.append(self._attempt_at, never)
            self._flip_pending = np.append(self._flip_pending, np.zeros(grow, dtype=bool))
            more = np.full((grow, 2), -1, dtype=np.int64)
            self._start_seq = np.concatenate([self._start_seq, more])
            self._last_ack = np.concatenate([self._last_ack, more])
        self._delete_at[slots] = NEVER
        self._attempt_at[slots] = NEVER
        self._flip_pending[slots] = False
        self._start_seq[slots] = -1
        self._last_ack[slots] = -1
        return slots

    def _capture_id(self, name: str) -> int:
        cid = self._capture_ids.get(name)
        if cid is None:
            cid = self._capture_ids[name] = len(self.captures)
            self.captures.append(name)
        return cid

    def _init_new(
        self, slots: I64, k: CanonicalKeys, orig_is_a: B, start: I64, frame: I64, capture: str
    ) -> None:
        a = self.arrays.cols
        for name in ("vlan", "a_hi", "a_lo", "b_hi", "b_lo", "pa", "pb", "proto"):
            a[name][slots] = getattr(k, name)
        a["v6"][slots] = k.v6
        a["orig_is_a"][slots] = orig_is_a
        a["start_ns"][slots] = start
        a["first_frame"][slots] = frame
        a["capture"][slots] = self._capture_id(capture)
        a["serial"][slots] = np.arange(self._next_serial, self._next_serial + len(slots))
        self._next_serial += len(slots)

    def _merge(
        self, s_slot: I64, seg: I64, pdir: I64, ts: I64, flags: npt.NDArray[np.uint8],
        ip_len: I64, payload: I64, seq: I64, ack: I64,
    ) -> None:  # fmt: skip
        """Reduce packets per (flow, direction) and fold the results into the table's columns."""
        a = self.arrays.cols
        key2 = seg * 2 + pdir
        o2 = np.argsort(key2, kind="stable")
        k2 = key2[o2]
        n = len(k2)
        start = np.empty(n, dtype=bool)
        start[0] = True
        start[1:] = k2[1:] != k2[:-1]
        st = np.flatnonzero(start)
        slot = s_slot[k2[st] >> 1]
        d = k2[st] & 1
        t, f, size, pay = ts[o2], flags[o2], ip_len[o2], payload[o2]
        add = np.add.reduceat

        fresh = a["pkts"][slot, d] == 0
        a["first_flags"][slot, d] = np.where(fresh, f[st], a["first_flags"][slot, d])
        # Each endpoint's start sequence number (Zeek's ``init_endpoint``: a SYN's own, else one
        # before the first segment's) and the last ACK it sent, for ``tcp_segments``.
        first_seq = np.where((f[st] & SYN) != 0, seq[o2][st], (seq[o2][st] - 1) % (1 << 32))
        self._start_seq[slot, d] = np.where(fresh, first_seq, self._start_seq[slot, d])
        acked = np.maximum.reduceat(np.where((f & ACK) != 0, np.arange(n), -1), st)
        self._last_ack[slot, d] = np.where(acked >= 0, ack[o2][acked], self._last_ack[slot, d])
        a["pkts"][slot, d] += np.diff(np.append(st, n))
        a["ip_bytes"][slot, d] += add(size, st)
        a["payload"][slot, d] += add(pay, st)
        a["flags"][slot, d] |= np.bitwise_or.reduceat(f, st)
        tcp_syn = (f & SYN) != 0
        tcp_ack = (f & ACK) != 0
        synack = tcp_syn & tcp_ack
        fin = (f & FIN) != 0
        rst = (f & RST) != 0
        psyn = tcp_syn & ~tcp_ack
        a["n_syn"][slot, d] += add(psyn.astype(np.int64), st)
        a["n_synack"][slot, d] += add(synack.astype(np.int64), st)
        a["n_fin"][slot, d] += add(fin.astype(np.int64), st)
        a["n_rst"][slot, d] += add(rst.astype(np.int64), st)
        pure_ack = tcp_ack & ~tcp_syn & ~fin & ~rst & (pay == 0)
        first_at = np.minimum.reduceat
        for name, m in (("t_syn", psyn), ("t_synack", synack), ("t_ack", pure_ack),
                        ("t_data", pay > 0), ("t_fin", fin), ("t_rst", rst)):  # fmt: skip
            a[name][slot, d] = np.minimum(a[name][slot, d], first_at(np.where(m, t, NEVER), st))
        a["size_min"][slot, d] = np.minimum(a["size_min"][slot, d], first_at(size, st))
        a["size_max"][slot, d] = np.maximum(a["size_max"][slot, d], np.maximum.reduceat(size, st))
        a["size_sum"][slot, d] += add(size, st)
        a["size_sq"][slot, d] += add(size.astype(np.float64) ** 2, st)
        # Inter-arrival times within a direction, including the gap since the previous batch.
        prev = np.empty(n, dtype=np.int64)
        prev[1:] = t[:-1]
        prev[st] = a["last_ts"][slot, d]
        valid = prev != UNSET
        iat = np.where(valid, np.maximum(t - prev, 0), 0)
        a["iat_n"][slot, d] += add(valid.astype(np.int64), st)
        a["iat_min"][slot, d] = np.minimum(
            a["iat_min"][slot, d], first_at(np.where(valid, iat, NEVER), st)
        )
        a["iat_max"][slot, d] = np.maximum(
            a["iat_max"][slot, d], np.maximum.reduceat(np.where(valid, iat, -1), st)
        )
        a["iat_sum"][slot, d] += add(iat, st)
        a["iat_sq"][slot, d] += add(iat.astype(np.float64) ** 2, st)
        a["last_ts"][slot, d] = t[np.append(st[1:], n) - 1]

    # -- ending flows ---------------------------------------------------------------------------
    def _expire(self) -> FlowBatch:
        live = np.flatnonzero(self.arrays.live)
        if len(live) == 0:
            return FlowBatch.empty()
        a = self.arrays.cols
        idle_for = self.now - a["last_ns"][live]
        idle = idle_for > self._timeouts(a["proto"][live], a["pa"][live], a["pb"][live])
        # Zeek's TCP timers fire as time moves on, whichever packet moves it: a closed connection
        # is deleted, an unanswered attempt given up (see ``sensors.flows.state``). Where batches
        # end must not change where flows end, nor why: a deleted flow ends as closed however
        # long it then stayed idle, as ``_ingest`` decides it.
        closed = self.now > self._delete_at[live]
        idle |= self.now > self._attempt_at[live]
        idle &= ~closed
        active = np.zeros(len(live), dtype=bool)
        if self._active:
            active = ~idle & ~closed & (self.now - a["start_ns"][live] > self._active)
        return FlowBatch.concat(
            [
                self._export(live[idle], EndReason.IDLE_TIMEOUT),
                self._export(live[closed], EndReason.TCP_CLOSED),
                self._export(live[active], EndReason.ACTIVE_TIMEOUT),
            ]
        )

    def _evict(self, k: int) -> FlowBatch:
        live = np.flatnonzero(self.arrays.live)
        oldest = live[np.argpartition(self.arrays.cols["last_ns"][live], k - 1)[:k]]
        self.stats.evicted += k
        return self._export(oldest, EndReason.EVICTED)

    def _export(self, slots: I64, reason: EndReason) -> FlowBatch:
        if len(slots) == 0:
            return FlowBatch.empty()
        out = FlowBatch(
            self.arrays.gather(slots),
            np.full(len(slots), reason, dtype=np.uint8),
            self.captures,
            self.observer,
        )
        index, slot_key = self.index, self.slot_key
        for s in slots.tolist():
            key = slot_key[s]
            if key is not None:
                if index.get(key) == s:
                    del index[key]
                slot_key[s] = None
        self.arrays.release(slots)
        self.stats.ended[reason.label] += len(slots)
        return out
