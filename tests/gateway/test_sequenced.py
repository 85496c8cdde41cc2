"""The matcher -> clearing stream loses nothing and doubles nothing, whatever the wire does.

Real sockets on 127.0.0.1. Faults come from the sender's ``drop`` hook and from a lossy
proxy that drops, duplicates and swaps messages; high-water marks are forced with tiny
HWM and kernel buffers and a consumer that stops reading; restarts close and rebind
real sockets. Pure parts (window, reorderer, request rules) are tested without sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgpack
import pytest
import zmq
import zmq.asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.sequenced import (
    K_EVENTS,
    EventWindow,
    RecordCodec,
    Reorderer,
    SequencedReceiver,
    SequencedSender,
    StreamLost,
)
from matching import BUY, SELL, CancelOrder, Instrument, MatchingEngine, NewOrder
from matching.events import InstrumentAdded

pytestmark = pytest.mark.timeout(60)

HB = 0.05
# fast heartbeats find losses quickly; generous expiry and stall limits keep a loaded
# machine from causing needless re-sends (harmless, but some tests count duplicates)
FAST: dict[str, Any] = {"heartbeat_ivl": HB, "peer_timeout": 5.0}
RX: dict[str, Any] = {"heartbeat_ivl": HB, "replay_timeout": 0.25, "stall_timeout": 2.0}
WAIT_S = 20.0


# ------------------------------------------------------------------------- helpers ------
def engine_batches(n_cmds: int = 300, seed: int = 7) -> list[list]:
    """Real matcher output: one list of events per command."""
    rng = random.Random(seed)
    eng = MatchingEngine([Instrument("X"), Instrument("Y")])
    batches: list[list] = []
    live: list[tuple[str, int, int]] = []
    for i in range(1, n_cmds + 1):
        if live and rng.random() < 0.2:
            sym, oid, acct = live.pop(rng.randrange(len(live)))
            cmd: Any = CancelOrder(i, sym, oid, acct)
        else:
            sym, acct = rng.choice("XY"), rng.randint(1, 4)
            cmd = NewOrder(i, sym, i, acct, rng.choice((BUY, SELL)), rng.randint(1, 9),
                           rng.randint(95, 105))  # fmt: skip
            live.append((sym, i, acct))
        events = eng.apply(cmd)
        if events:
            batches.append(events)
    return batches


def synthetic(first: int, n: int) -> list:
    return [InstrumentAdded(s, s, "SYM") for s in range(first, first + n)]


def flat(batches: list[list]) -> list:
    return [e for b in batches for e in b]


@contextlib.asynccontextmanager
async def serving(sender: SequencedSender) -> AsyncIterator[SequencedSender]:
    task = asyncio.create_task(sender.run())
    try:
        yield sender
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sender.close()


async def collect(receiver: SequencedReceiver, upto: int, out: list | None = None) -> list:
    """Events from the receiver until ``upto`` is applied (socket closed on return)."""
    got = [] if out is None else out

    async def consume() -> None:
        async with contextlib.aclosing(receiver.batches()) as it:
            async for batch in it:
                got.extend(batch)
                if receiver.last_applied >= upto:
                    return

    await asyncio.wait_for(consume(), WAIT_S)
    return got


async def until(predicate: Callable[[], bool], what: str) -> None:
    """Poll a condition that has no handshake to wait on, with a deadline."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def rebind(ctx: zmq.asyncio.Context, endpoint: str, **kw: Any) -> SequencedSender:
    """A new sender on the endpoint a closed one used (libzmq frees the port asynchronously)."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        try:
            return SequencedSender(ctx, endpoint, **kw)
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EADDRINUSE or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.01)


def assert_exact(got: list, expected: list) -> None:
    assert [e.seq for e in got] == [e.seq for e in expected]
    assert got == expected
    assert [type(e) for e in got] == [type(e) for e in expected]


# ------------------------------------------------------------------------- socket tests -
async def test_events_arrive_in_order_exactly_once_with_their_types(
    ctx: zmq.asyncio.Context,
) -> None:
    batches = engine_batches()
    truth = flat(batches)
    async with serving(SequencedSender(ctx, **FAST)) as sender:
        rx = SequencedReceiver(ctx, sender.endpoint, **RX)
        consumer = asyncio.ensure_future(collect(rx, truth[-1].seq))
        for b in batches:
            sender.publish(b)
            await asyncio.sleep(0)
        got = await consumer
    assert_exact(got, truth)
    assert rx.stats.duplicates == 0 and sender.stats.replay_events == 0


async def test_dropped_messages_are_recovered_nothing_lost_or_doubled(
    ctx: zmq.asyncio.Context,
) -> None:
    batches = engine_batches(400, seed=3)
    truth = flat(batches)
    last = truth[-1].seq
    victims = {5, 60, 61, 200, last}  # the very last one: only a heartbeat can reveal it
    dropped: list[tuple[str, int, int]] = []

    def drop(kind: str, first: int, to: int) -> bool:
        if kind == "live" and any(first <= v <= to for v in victims):
            dropped.append((kind, first, to))
            return True
        if kind == "replay" and 60 in victims and first <= 60 <= to:
            victims.discard(60)  # lose the first replay of 60 too, then let it through
            dropped.append((kind, first, to))
            return True
        return False

    async with serving(SequencedSender(ctx, drop=drop, **FAST)) as sender:
        rx = SequencedReceiver(ctx, sender.endpoint, **RX)
        consumer = asyncio.ensure_future(collect(rx, last))
        for b in batches:
            sender.publish(b)
            await asyncio.sleep(0)
        got = await consumer
    assert_exact(got, truth)
    assert any(k == "replay" for k, _, _ in dropped), dropped
    assert sender.stats.hook_drops == len(dropped) >= 4
    assert rx.stats.replay_requests >= 3 and sender.stats.replay_events > 0


class LossyProxy:
    """Receiver -> ROUTER [proxy] DEALER -> sender; mutates sender->receiver messages."""

    def __init__(self, ctx: zmq.asyncio.Context, upstream: str, seed: int) -> None:
        self.front = ctx.socket(zmq.ROUTER)
        self.front.linger = 0
        port = self.front.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.back = ctx.socket(zmq.DEALER)
        self.back.linger = 0
        self.back.connect(upstream)
        self.rng = random.Random(seed)
        self.held: list[bytes] | None = None
        self.counts = {"dropped": 0, "duplicated": 0, "swapped": 0}

    def mutate(self, frames: list[bytes]) -> list[list[bytes]]:
        if frames[0] != K_EVENTS:
            return [frames]
        out: list[list[bytes]] = []
        r = self.rng.random()
        if r < 0.1:
            self.counts["dropped"] += 1
        elif r < 0.25:
            self.counts["duplicated"] += 1
            out += [frames, frames]
        elif r < 0.4 and self.held is None:
            self.held = frames  # released after the next message: a swap
            return []
        else:
            out.append(frames)
        if self.held is not None:
            self.counts["swapped"] += 1
            out.append(self.held)
            self.held = None
        return out

    async def run(self) -> None:
        poller = zmq.asyncio.Poller()
        poller.register(self.front, zmq.POLLIN)
        poller.register(self.back, zmq.POLLIN)
        rid = b""
        while True:
            ready = dict(await poller.poll())
            if self.front in ready:
                rid, *rest = await self.front.recv_multipart()
                await self.back.send_multipart(rest)
            if self.back in ready:
                frames = await self.back.recv_multipart()
                for m in self.mutate(frames):
                    if rid:
                        await self.front.send_multipart([rid, *m])

    def close(self) -> None:
        self.front.close(linger=0)
        self.back.close(linger=0)


async def test_duplicates_and_reordering_through_a_lossy_proxy(ctx: zmq.asyncio.Context) -> None:
    batches = engine_batches(400, seed=11)
    truth = flat(batches)
    async with serving(SequencedSender(ctx, max_batch=8, **FAST)) as sender:
        proxy = LossyProxy(ctx, sender.endpoint, seed=5)
        proxy_task = asyncio.create_task(proxy.run())
        try:
            rx = SequencedReceiver(ctx, proxy.endpoint, **RX)
            consumer = asyncio.ensure_future(collect(rx, truth[-1].seq))
            for b in batches:
                sender.publish(b)
                await asyncio.sleep(0)
            got = await consumer
        finally:
            proxy_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await proxy_task
            proxy.close()
    assert_exact(got, truth)
    assert min(proxy.counts.values()) > 0, proxy.counts
    assert rx.stats.duplicates > 0 and rx.stats.out_of_order > 0


def _tiny_buffers(sock: zmq.Socket) -> None:
    sock.setsockopt(zmq.SNDBUF, 4096)
    sock.setsockopt(zmq.RCVBUF, 4096)
    sock.sndhwm = 2
    sock.rcvhwm = 2


async def _blocked_consumer(
    rx: SequencedReceiver, release: asyncio.Event, got: list, upto: int
) -> None:
    async with contextlib.aclosing(rx.batches()) as it:
        async for batch in it:
            await release.wait()  # the first batch parks the socket task: nothing is read
            got.extend(batch)
            if rx.last_applied >= upto:
                return


async def test_high_water_mark_makes_the_sender_wait_not_drop(ctx: zmq.asyncio.Context) -> None:
    n = 10_000
    events = synthetic(1, n)
    sender = SequencedSender(ctx, max_batch=32, configure=_tiny_buffers, **FAST)
    async with serving(sender):
        rx = SequencedReceiver(ctx, sender.endpoint, configure=_tiny_buffers, **RX)
        release, got = asyncio.Event(), []
        consumer = asyncio.ensure_future(_blocked_consumer(rx, release, got, n))
        sender.publish(events[:1])
        await until(lambda: len(sender.peers) == 1, "the receiver to register")
        for i in range(1, n, 1000):
            sender.publish(events[i : i + 1000])  # the matcher is never blocked
        await until(lambda: sender.stats.hwm_waits > 0, "the high-water mark")
        lagging = next(iter(sender.peers.values())).cursor
        assert lagging < n  # the peer's cursor stopped at the full pipe
        release.set()
        await asyncio.wait_for(consumer, WAIT_S)
    assert_exact(got, events)
    assert rx.stats.duplicates == 0 and sender.stats.replay_events == 0


async def test_receiver_lagging_out_of_the_window_is_told_explicitly(
    ctx: zmq.asyncio.Context,
) -> None:
    n = 20_000
    events = synthetic(1, n)
    sender = SequencedSender(ctx, max_batch=16, max_events=500, configure=_tiny_buffers, **FAST)
    async with serving(sender):
        rx = SequencedReceiver(ctx, sender.endpoint, configure=_tiny_buffers, **RX)
        release, got = asyncio.Event(), []
        consumer = asyncio.ensure_future(_blocked_consumer(rx, release, got, n))
        sender.publish(events[:1])
        await until(lambda: len(sender.peers) == 1, "the receiver to register")
        i = 1
        while sender.stats.hwm_waits == 0:  # stream until the pipe is full ...
            sender.publish(events[i : i + 100])
            i += 100
            await asyncio.sleep(0.001)
        for j in range(i, n, 100):  # ... then run the window past the stuck cursor
            sender.publish(events[j : j + 100])
        release.set()
        with pytest.raises(StreamLost) as lost:
            await asyncio.wait_for(consumer, WAIT_S)
    assert lost.value.why == "window"
    assert lost.value.first == rx.last_applied + 1
    assert lost.value.last == sender.window.oldest - 1  # everything older than the window
    assert n - len(sender.window) == lost.value.last and len(sender.window) <= 500
    assert [e.seq for e in got] == list(range(1, rx.last_applied + 1))


async def test_receiver_restart_resumes_after_its_last_applied_seq(
    ctx: zmq.asyncio.Context,
) -> None:
    batches = engine_batches(300, seed=5)
    truth = flat(batches)
    half = len(batches) // 2
    async with serving(SequencedSender(ctx, **FAST)) as sender:
        first = SequencedReceiver(ctx, sender.endpoint, **RX)
        consumer = asyncio.ensure_future(collect(first, batches[half - 1][-1].seq))
        for b in batches[:half]:
            sender.publish(b)
        got = await consumer  # receiver closed: its socket is gone
        for b in batches[half:]:
            sender.publish(b)  # published while nobody listens
        again = SequencedReceiver(
            ctx, sender.endpoint, last_applied=first.last_applied, epoch=first.epoch, **RX
        )
        await collect(again, truth[-1].seq, got)
        gone = sender.stats
        await until(lambda: gone.unreachable + gone.peers_expired >= 1, "the old peer to go")
    assert_exact(got, truth)
    assert again.stats.duplicates == 0


async def test_sender_restart_with_restored_state_continues_seamlessly(
    ctx: zmq.asyncio.Context,
) -> None:
    batches = engine_batches(300, seed=9)
    truth = flat(batches)
    half = len(batches) // 2
    cut = batches[half - 1][-1].seq
    first = SequencedSender(ctx, **FAST)
    endpoint = first.endpoint
    rx = SequencedReceiver(ctx, endpoint, **RX)
    got: list = []
    async with serving(first):
        consumer = asyncio.ensure_future(collect(rx, truth[-1].seq, got))
        for b in batches[:half]:
            first.publish(b)
        await until(lambda: rx.last_applied == cut, "the first half")
    # the matching process restarts with its state restored up to `cut`
    async with serving(await rebind(ctx, endpoint, last_seq=cut, **FAST)) as second:
        for b in batches[half:]:
            second.publish(b)
        await consumer
    assert_exact(got, truth)
    assert rx.epoch == second.epoch != first.epoch


async def test_sender_restart_reports_the_events_only_its_window_held(
    ctx: zmq.asyncio.Context,
) -> None:
    events = synthetic(1, 100)
    first = SequencedSender(ctx, max_batch=10, drop=lambda kind, a, b: b > 40, **FAST)
    endpoint = first.endpoint
    rx = SequencedReceiver(ctx, endpoint, **RX)
    got: list = []
    async with serving(first):
        consumer = asyncio.ensure_future(collect(rx, 100, got))
        for k in range(0, 100, 10):
            first.publish(events[k : k + 10])
        await until(lambda: rx.last_applied == 40, "the undropped prefix")
    async with serving(await rebind(ctx, endpoint, last_seq=100, **FAST)):
        with pytest.raises(StreamLost) as lost:
            await consumer
    assert (lost.value.first, lost.value.last, lost.value.why) == (41, 100, "window")
    assert [e.seq for e in got] == list(range(1, 41))


async def test_receiver_beyond_a_fresh_sender_is_refused(ctx: zmq.asyncio.Context) -> None:
    async with serving(SequencedSender(ctx, epoch="new", **FAST)) as sender:
        sender.publish(synthetic(1, 10))
        ahead = SequencedReceiver(ctx, sender.endpoint, last_applied=50, **RX)
        with pytest.raises(StreamLost) as lost:
            await collect(ahead, 60)
        assert (lost.value.first, lost.value.last, lost.value.why) == (11, 50, "ahead")
        sender.publish(synthetic(11, 50))  # head 60 now covers seq 50, but not *those* events
        diverged = SequencedReceiver(ctx, sender.endpoint, last_applied=50, epoch="old", **RX)
        with pytest.raises(StreamLost) as lost:
            await collect(diverged, 60)
        assert (lost.value.first, lost.value.last, lost.value.why) == (1, 50, "diverged")


async def test_garbage_and_foreign_versions_do_not_disturb_the_sender(
    ctx: zmq.asyncio.Context, make_socket: Callable
) -> None:
    async with serving(SequencedSender(ctx, **FAST)) as sender:
        sender.publish(synthetic(1, 5))
        junk = make_socket(zmq.DEALER)
        junk.connect(sender.endpoint)
        for frames in ([b"S"], [b"S", b"\xc1"], [b"X", b"y"], [b"R", b"\x93\x01\xc0\x00"]):
            await junk.send_multipart(frames)
        await junk.send_multipart([b"S", b"\x93\x09\xc0\x00"])  # version 9
        reply = await asyncio.wait_for(junk.recv_multipart(), WAIT_S)
        assert reply[0] == b"L" and b"version" in reply[1]
        rx = SequencedReceiver(ctx, sender.endpoint, **RX)
        got = await collect(rx, 5)
    assert [e.seq for e in got] == [1, 2, 3, 4, 5]
    assert sender.stats.bad_messages == 5


async def test_a_silent_peer_is_forgotten_and_readmitted_where_it_says(
    ctx: zmq.asyncio.Context, make_socket: Callable
) -> None:
    async with serving(SequencedSender(ctx, heartbeat_ivl=HB, peer_timeout=0.2)) as sender:
        sender.publish(synthetic(1, 2))
        sender.publish(synthetic(3, 1))
        peer = make_socket(zmq.DEALER)
        peer.connect(sender.endpoint)
        await peer.send_multipart([b"S", msgpack.packb((1, None, 0))])
        await until(lambda: sender.stats.peers_expired == 1, "the silent peer to expire")
        assert sender.peers == {}
        while await peer.poll(0):  # what it was sent before it went quiet
            await peer.recv_multipart()
        await peer.send_multipart([b"S", msgpack.packb((1, None, 2))])  # back, at seq 2
        kind, header, _ = await asyncio.wait_for(peer.recv_multipart(), WAIT_S)
        assert kind == K_EVENTS and msgpack.unpackb(header)[2:] == [3, 1]  # right after 2


def test_publish_refuses_a_gap_and_takes_nothing(ctx: zmq.asyncio.Context) -> None:
    sender = SequencedSender(ctx, last_seq=10)
    try:
        with pytest.raises(ValueError, match="expects seq 11, was 12"):
            sender.publish(synthetic(12, 3))
        with pytest.raises(ValueError, match="expects seq 13, was 14"):
            sender.publish([*synthetic(11, 2), *synthetic(14, 1)])
        with pytest.raises(ValueError, match="not a registered record type"):
            sender.publish([(11, 0, "X")])
        assert sender.head == 10 and len(sender.window) == 0
        sender.publish(synthetic(11, 2))
        assert sender.head == 12
    finally:
        sender.close()


# ------------------------------------------------------------------------- pure parts ---
def test_record_codec_round_trips_batches_and_refuses_strangers() -> None:
    codec = RecordCodec()
    events = flat(engine_batches(60, seed=2))
    body = codec.encode_batch(events)
    header = b"\xdc" + len(events).to_bytes(2, "big")
    back = codec.decode_body(header + body)
    assert back == events and [type(e) for e in back] == [type(e) for e in events]
    with pytest.raises(ValueError, match="not a registered record type"):
        codec.encode_batch([(1, 2, 3)])
    odd = InstrumentAdded(1, 1, object())  # a field msgpack cannot carry travels as repr
    (decoded,) = codec.decode_body(b"\x91" + codec.encode_batch([odd]))
    assert type(decoded) is InstrumentAdded and decoded.instrument.startswith("<object")
    for bad, why in (
        (b"\x91\x92\xa4Evil\x90", "unknown record type"),
        (b"\x91\x92\xafInstrumentAdded\x91\x01", "needs 3 fields"),
        (b"\x91\x01", "must be \\[name, fields\\]"),
        (b"\x01", "must be an array"),
        (b"\xc1", "undecodable"),
    ):
        with pytest.raises(ValueError, match=why):
            codec.decode_body(bad)


def test_window_holds_whole_batches_bounded_by_events_and_bytes() -> None:
    w = EventWindow(last_seq=100, max_events=5, max_bytes=1_000)
    assert (w.oldest, w.head, len(w)) == (101, 100, 0)
    for first in range(101, 111, 2):  # five batches of two events
        w.append(first, 2, b"x" * 10)
    assert (w.oldest, w.head, len(w), w.bytes) == (107, 110, 4, 20)
    assert w.chunk(107, 4) == (107, 4, [b"x" * 10] * 2)
    assert w.chunk(108, 4) == (107, 4, [b"x" * 10] * 2)  # from the batch holding 108
    assert w.chunk(110, 4) == (109, 2, [b"x" * 10])
    with pytest.raises(IndexError):
        w.chunk(105, 4)
    with pytest.raises(ValueError, match="expects seq 111"):
        w.append(120, 1, b"")
    w2 = EventWindow(0, max_events=10**6, max_bytes=25)
    for s in range(1, 5):
        w2.append(s, 1, bytes([s]) * 10)
    assert (w2.oldest, w2.bytes) == (3, 20)  # 3 * 10 bytes would exceed 25
    w2.append(5, 3, b"y" * 100)  # one batch larger than the bound is still kept
    assert (w2.oldest, len(w2), w2.head) == (5, 3, 7)


def test_window_chunks_stop_at_batch_boundaries_within_max_events() -> None:
    w = EventWindow(0, max_events=10**6, max_bytes=1 << 30)
    sizes = [3, 1, 4, 1, 5, 9, 2, 6]
    first = 1
    for n in sizes:
        w.append(first, n, bytes([n]))
        first += n
    assert w.chunk(1, 8) == (1, 8, [b"\x03", b"\x01", b"\x04"])  # 3+1+4
    assert w.chunk(1, 7) == (1, 4, [b"\x03", b"\x01"])  # 3+1 (adding 4 would exceed 7)
    assert w.chunk(10, 2) == (10, 5, [b"\x05"])  # one batch even if larger than asked
    assert w.chunk(31, 100) == (26, 6, [b"\x06"])  # the last batch ends at the head
    assert w.chunk(24, 100) == (24, 8, [b"\x02", b"\x06"])


def test_window_compaction_keeps_indexing_right() -> None:
    w = EventWindow(0, max_events=1_000, max_bytes=1 << 30)
    for s in range(1, 10_001):
        w.append(s, 1, s.to_bytes(4, "big"))
    assert w.oldest == 9_001
    start, n, blobs = w.chunk(9_001, 3)
    assert (start, n) == (9_001, 3)
    assert [int.from_bytes(b, "big") for b in blobs] == [9_001, 9_002, 9_003]
    assert w.chunk(10_000, 5) == (10_000, 1, [(10_000).to_bytes(4, "big")])
    assert len(w._firsts) <= 2_100  # the dead prefix was compacted


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 60),
    start=st.integers(0, 5),
    data=st.data(),
)
def test_reorderer_delivers_each_seq_once_in_order(n: int, start: int, data: Any) -> None:
    """Chunks arrive in any order, any number of times: delivery is start+1..start+n once."""
    seqs = list(range(start + 1, start + n + 1))
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1) if n > 1 else st.nothing())))
    bounds = [0, *cuts, n]
    chunks = [(seqs[a], seqs[a:b]) for a, b in itertools.pairwise(bounds)]
    arrivals = data.draw(st.lists(st.sampled_from(chunks), max_size=3 * len(chunks)))
    arrivals = data.draw(st.permutations([*chunks, *arrivals]))
    r = Reorderer(last_applied=start)
    delivered: list[int] = []
    for first, chunk in arrivals:
        delivered += r.offer(first, chunk)
        gap = r.gap()
        if gap is not None:
            assert gap[0] == r.last + 1 and gap[1] >= gap[0]
            assert gap[1] + 1 in r.pending
    assert delivered == seqs
    assert not r.pending and r.gap() is None
    assert r.duplicates == sum(len(c) for _, c in arrivals) - n


def test_reorderer_buffer_is_bounded() -> None:
    r = Reorderer(0, max_buffer=3)
    assert r.offer(5, [5, 6, 7, 8]) == []
    assert (sorted(r.pending), r.overflow, r.gap()) == ([5, 6, 7], 1, (1, 4))
    assert r.offer(1, [1, 2, 3, 4]) == [1, 2, 3, 4, 5, 6, 7]
    assert r.gap() is None and r.last == 7


class _FakeRaw:
    def __init__(self) -> None:
        self.sent: list[list[bytes]] = []

    def send_multipart(self, frames: list[bytes], flags: int = 0) -> None:
        self.sent.append(frames)


def test_request_rules_gap_heartbeat_and_stall(ctx: zmq.asyncio.Context) -> None:
    now = [0.0]
    rx = SequencedReceiver(
        ctx, "tcp://127.0.0.1:1", last_applied=10, replay_timeout=1.0, stall_timeout=2.0,
        clock=lambda: now[0],
    )  # fmt: skip
    raw: Any = _FakeRaw()
    rx._maybe_request(raw, now[0])
    assert raw.sent == []  # nothing missing
    rx.reorder.offer(15, [15])  # a later event proves 11..14 are missing
    rx._maybe_request(raw, now[0])
    assert rx._request == (11, 14, 1.0) and len(raw.sent) == 1
    rx._maybe_request(raw, 0.5)
    assert len(raw.sent) == 1  # outstanding: not repeated before the timeout
    rx._maybe_request(raw, 1.0)
    assert len(raw.sent) == 2  # repeated after it
    rx.reorder.offer(11, [11, 12, 13, 14])
    rx.sent_hint = 20  # heartbeat: the sender streamed up to 20 on this FIFO connection
    rx._maybe_request(raw, 1.1)
    assert rx._request == (16, 20, 2.1)
    rx.reorder.offer(16, [16, 17, 18, 19, 20])
    rx.head_hint = 30  # the head moved on, but the sender has not streamed it yet
    rx._last_progress = 1.2
    rx._maybe_request(raw, 2.0)
    assert rx._request is None and len(raw.sent) == 3  # no stall yet
    rx._maybe_request(raw, 3.3)
    assert rx._request == (21, 30, 4.3) and len(raw.sent) == 4  # stalled: ask
