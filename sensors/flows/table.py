"""The bounded flow table: packets of a batch are folded into bidirectional flows all at once.

Per batch: canonical keys and a hash for every packet; one stable sort groups each key's packets in
capture order; the table's index (exact key bytes -> slot) is consulted once per key, not per
packet; boundaries (idle timeout, a new SYN after FIN/RST, a gap after close) cut groups into
flows; per-flow and per-direction counters are reduced with ``ufunc.reduceat`` and merged into the
table's columns. Flows that end are handed out as one ``FlowBatch``.

Cost grows with packets (sorting, O(n log n) but with a tiny constant) and with distinct keys per
batch (one dictionary lookup each); per-packet Python work is zero.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sensors.decode import DecodedPackets
from sensors.flows.arrays import NEVER, UNSET, FlowArrays
from sensors.flows.ended import EndReason, FlowBatch
from sensors.flows.key import CanonicalKeys, KeyHasher, canonical, key_bytes
from sensors.flows.settings import FlowSettings
from sensors.flows.state import ACK, FIN, RST, SYN
from sensors.sources.batch import PacketBatch

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(slots=True)
class FlowStats:
    created: int = 0
    ended: Counter[str] = field(default_factory=Counter)
    evicted: int = 0
    collisions: int = 0
    peak: int = 0


def _closed(bits: I64) -> B:
    """A RST, or FINs from both sides."""
    return np.asarray(((bits & 1) != 0) | ((bits & 6) == 6), dtype=bool)


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
        self._timeout = np.full(256, int(s.other_idle_timeout * 1e9), dtype=np.int64)
        self._timeout[6] = int(s.tcp_idle_timeout * 1e9)
        self._timeout[17] = int(s.udp_idle_timeout * 1e9)
        self._timeout[1] = self._timeout[58] = int(s.icmp_idle_timeout * 1e9)
        self._udp_port_timeout = np.zeros(65536, dtype=np.int64)
        for port, seconds in s.udp_port_idle_timeouts.items():
            self._udp_port_timeout[port] = int(seconds * 1e9)
        self._close_delay = int(s.tcp_close_delay * 1e9)
        self._active = int(s.active_timeout * 1e9)
        self._server_port = np.zeros(65536, dtype=bool)
        self._server_port[list(s.likely_server_ports)] = True

    def __len__(self) -> int:
        return self.arrays.count

    # -- public ---------------------------------------------------------------------------------
    def update(self, packets: DecodedPackets, batch: PacketBatch) -> FlowBatch:
        """Fold a decoded batch into the table; returns the flows that ended."""
        parts: list[FlowBatch] = []
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
        return FlowBatch.concat([self._export(slots, EndReason.END_OF_CAPTURE)])

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

        idx = np.arange(n, dtype=np.int64)
        gid = np.cumsum(gstart) - 1
        gfirst = np.flatnonzero(gstart)
        gkeys = key_bytes(ks.take(gfirst))
        index = self.index
        gslot = np.fromiter((index.get(k, -1) for k in gkeys), dtype=np.int64, count=len(gkeys))
        a = self.arrays.cols
        g_known = gslot >= 0
        safe_slot = np.where(g_known, gslot, 0)
        # Closing events seen since the flow's last candidate boundary, carried between batches:
        # bit 0 a RST, bit 1 a FIN from side a, bit 2 a FIN from side b.
        g_bits = np.where(g_known, a["close_bits"][safe_slot], 0).astype(np.int64)
        known = g_known[gid]

        # Boundaries inside each key's packets (see the module docstring).
        prev = np.empty(n, dtype=np.int64)
        prev[1:] = ts[:-1]
        prev[gfirst] = np.where(g_known, a["last_ns"][safe_slot], ts[gfirst])
        gap = np.maximum(ts - prev, 0)
        tcp = ks.proto == 6
        pure_syn = tcp & ((flags & (SYN | ACK)) == SYN)
        # Closing events, by canonical side: a connection is closed by a RST, or by FINs from
        # both sides (Zeek keeps half-closed connections until they time out).
        rst_p = tcp & ((flags & RST) != 0)
        fin_a = tcp & ((flags & FIN) != 0) & ks.src_is_a
        fin_b = tcp & ((flags & FIN) != 0) & ~ks.src_is_a
        t_bound = (gap > self._timeouts(ks.proto, ks.pa, ks.pb)) & (~gstart | known)
        cand = pure_syn | (tcp & (gap > self._close_delay)) | t_bound
        gs_bound = t_bound[gfirst] | (cand[gfirst] & _closed(g_bits))
        mark = cand | gstart
        last_mark = np.maximum.accumulate(np.where(mark, idx, 0))
        cum_rst = np.concatenate(([0], np.cumsum(rst_p)))
        cum_fa = np.concatenate(([0], np.cumsum(fin_a)))
        cum_fb = np.concatenate(([0], np.cumsum(fin_b)))
        pm = np.empty(n, dtype=np.int64)
        pm[0] = 0
        pm[1:] = last_mark[:-1]
        g_carry = np.where(gs_bound, 0, g_bits)

        def bits_between(lo: I64, hi: I64, carry: I64) -> I64:
            """Closing events among packets [lo, hi), plus those carried in from earlier."""
            out = carry | (cum_rst[hi] - cum_rst[lo] > 0)
            out |= (cum_fa[hi] - cum_fa[lo] > 0) << 1
            out |= (cum_fb[hi] - cum_fb[lo] > 0) << 2
            return out

        carried = np.where(pm == gfirst[gid], g_carry[gid], 0)
        closed_before = _closed(bits_between(pm, idx, carried))
        boundary = t_bound | (cand & closed_before)
        boundary[gfirst] = gs_bound
        # A known flow cut at its first packet in this batch ends now, before its slot is reused.
        old = g_known & gs_bound
        if old.any():
            reasons = np.where(t_bound[gfirst[old]], EndReason.IDLE_TIMEOUT, EndReason.TCP_CLOSED)
            for reason in (EndReason.IDLE_TIMEOUT, EndReason.TCP_CLOSED):
                parts.append(self._export(gslot[old][reasons == reason], reason))
        # New end-of-batch pending state per key: FIN/RST since the last candidate.
        gend = np.append(gfirst[1:], n) - 1
        lm = last_mark[gend]
        pend = bits_between(lm, gend + 1, np.where(lm == gfirst, g_carry, 0))

        seg_start = gstart | boundary
        seg = np.cumsum(seg_start) - 1
        sfirst = np.flatnonzero(seg_start)
        send = np.append(sfirst[1:], n)
        sgroup = gid[sfirst]
        s_cont = gstart[sfirst] & g_known[sgroup] & ~gs_bound[sgroup]
        s_last = np.append(sgroup[1:] != sgroup[:-1], True)

        # Who originated each new flow (flipping like Zeek when the first packet says otherwise).
        orig_is_a = self._originator(ks, sfirst, flags, sport, dport)
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
        self._merge(s_slot, seg, pdir, ts, flags, ip_len, payload, pure_syn)
        last_pkt = send - 1
        a["last_ns"][s_slot] = ts[last_pkt]
        a["last_frame"][s_slot] = frame[last_pkt]
        a["depth"][s_slot] = np.maximum(a["depth"][s_slot], np.maximum.reduceat(depth, sfirst))

        # Flows that ended inside this batch (the key was reused after them).
        ended = ~s_last
        if ended.any():
            nxt_first = sfirst[np.flatnonzero(ended) + 1]
            why = np.where(t_bound[nxt_first], EndReason.IDLE_TIMEOUT, EndReason.TCP_CLOSED)
            for reason in (EndReason.IDLE_TIMEOUT, EndReason.TCP_CLOSED):
                parts.append(self._export(s_slot[ended][why == reason], reason))
        # The last flow of each key stays in the table under its key.
        last_slots = s_slot[s_last]
        a["close_bits"][last_slots] = pend
        for gi, slot in zip(
            sgroup[s_last & new].tolist(), s_slot[s_last & new].tolist(), strict=True
        ):
            key = gkeys[gi]
            index[key] = slot
            self.slot_key[slot] = key

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
        return ks.src_is_a[first] ^ flip

    def _timeouts(
        self, proto: npt.NDArray[np.uint8], pa: npt.NDArray[np.uint16], pb: npt.NDArray[np.uint16]
    ) -> I64:
        """Idle timeout of each flow: by protocol, or by UDP service port where one is set."""
        base = self._timeout[proto]
        by_port = np.maximum(self._udp_port_timeout[pa], self._udp_port_timeout[pb])
        return np.where((proto == 17) & (by_port > 0), by_port, base)

    def _allocate(self, k: int) -> I64:
        slots = self.arrays.allocate(k)
        if len(self.slot_key) < self.arrays.capacity:
            self.slot_key.extend([None] * (self.arrays.capacity - len(self.slot_key)))
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

    def _merge(
        self, s_slot: I64, seg: I64, pdir: I64, ts: I64, flags: npt.NDArray[np.uint8],
        ip_len: I64, payload: I64, pure_syn: B,
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
        a["pkts"][slot, d] += np.diff(np.append(st, n))
        a["ip_bytes"][slot, d] += add(size, st)
        a["payload"][slot, d] += add(pay, st)
        a["flags"][slot, d] |= np.bitwise_or.reduceat(f, st)
        tcp_syn = (f & SYN) != 0
        tcp_ack = (f & ACK) != 0
        synack = tcp_syn & tcp_ack
        fin = (f & FIN) != 0
        rst = (f & RST) != 0
        psyn = pure_syn[o2]
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
        rst = (a["n_rst"][live] > 0).any(axis=1)
        fins = (a["n_fin"][live] > 0).all(axis=1)
        closed = ~idle & (rst | fins) & (idle_for > self._close_delay)
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
