"""``crossbook bench stream``: throughput of the gateway's transport pieces, as JSON.

1. ``sequenced``: a seeded order flow is run through a ``MatchingEngine`` first (not
   timed); then every command's events are published into a ``SequencedSender`` and a
   ``SequencedReceiver`` on tcp://127.0.0.1 consumes them, both on one asyncio loop in
   one process (so one core does encode, send, receive, decode and reorder checks).
   Reported: events/s and command batches/s from the first publish to the last delivery,
   and that every event arrived exactly once in order.
2. ``md_translate``: the same events through ``MarketDataTranslator.on_events`` (pure):
   events/s and market-data messages/s.
3. ``marketdata``: the events through a ``MarketDataPublisher`` to one ``BookClient``
   following the busiest instrument: events/s until the client's book is at the final seq.

The JSON holds ``sequenced_events_per_s``, ``md_translate_events_per_s``,
``marketdata_events_per_s`` and details, with the machine it ran on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import random
import time
from pathlib import Path
from typing import Any

import zmq.asyncio

from bench.environment import describe, write_result
from gateway.marketdata import MarketDataPublisher
from gateway.md_client import BookClient
from gateway.md_translate import MarketDataTranslator
from gateway.sequenced import SequencedReceiver, SequencedSender
from matching import BUY, SELL, CancelOrder, Instrument, MatchingEngine, NewOrder

SYMBOLS = ("BTC-PERP", "ETH-PERP")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, required=True, metavar="FILE", help="result file")
    parser.add_argument("--commands", type=int, default=100_000, help="order commands (1e5)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")


def _flow(n: int, seed: int) -> list[list[Any]]:
    rng = random.Random(seed)
    eng = MatchingEngine([Instrument(s) for s in SYMBOLS])
    live: list[tuple[str, int, int]] = []
    batches = []
    for i in range(1, n + 1):
        if live and rng.random() < 0.3:
            sym, oid, acct = live.pop(rng.randrange(len(live)))
            cmd: Any = CancelOrder(i, sym, oid, acct)
        else:
            sym, acct = rng.choice(SYMBOLS), rng.randint(1, 50)
            side = rng.choice((BUY, SELL))
            cmd = NewOrder(i, sym, i, acct, side, rng.randint(1, 20), rng.randint(990, 1010))
            live.append((sym, i, acct))
        batches.append(eng.apply(cmd))
    return batches


async def _sequenced(batches: list[list[Any]]) -> dict[str, Any]:
    ctx = zmq.asyncio.Context()
    total = sum(len(b) for b in batches)
    last = batches[-1][-1].seq
    sender = SequencedSender(ctx, heartbeat_ivl=0.5)
    rx = SequencedReceiver(ctx, sender.endpoint, heartbeat_ivl=0.5)
    state = {"seen": 0, "in_order": True, "expect": 1}
    first_batch = asyncio.Event()

    async def consume() -> None:  # the clearing side: its own task, as in service
        async with contextlib.aclosing(rx.batches()) as it:
            async for batch in it:
                state["in_order"] &= batch[0].seq == state["expect"]
                state["expect"] = batch[-1].seq + 1
                state["seen"] += len(batch)
                first_batch.set()
                if rx.last_applied >= last:
                    return

    run = asyncio.create_task(sender.run())
    consumer = asyncio.create_task(consume())
    try:
        sender.publish(batches[0])
        await first_batch.wait()  # the link is up
        t0 = time.perf_counter()
        for i, b in enumerate(batches[1:], 1):
            sender.publish(b)
            if i % 64 == 0:
                await asyncio.sleep(0)
        await consumer
        elapsed = time.perf_counter() - t0
    finally:
        for t in (run, consumer):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        sender.close()
        ctx.term()
    timed = total - len(batches[0])
    return {
        "sequenced_events_per_s": round(timed / elapsed),
        "sequenced_batches_per_s": round((len(batches) - 1) / elapsed),
        "sequenced_events": total,
        "sequenced_exactly_once_in_order": state["in_order"] and state["seen"] == total,
        "sequenced_messages": sender.stats.messages,
        "sequenced_receiver_duplicates": rx.stats.duplicates,
    }


def _translate(batches: list[list[Any]]) -> dict[str, Any]:
    tr = MarketDataTranslator(SYMBOLS)
    total = sum(len(b) for b in batches)
    t0 = time.perf_counter()
    msgs = 0
    for b in batches:
        msgs += len(tr.on_events(b))
    elapsed = time.perf_counter() - t0
    return {
        "md_translate_events_per_s": round(total / elapsed),
        "md_translate_messages_per_s": round(msgs / elapsed),
        "md_messages": msgs,
    }


async def _marketdata(batches: list[list[Any]]) -> dict[str, Any]:
    ctx = zmq.asyncio.Context()
    pub = MarketDataPublisher(ctx, symbols=SYMBOLS, heartbeat_ivl=0.2)
    client = BookClient(ctx, pub.pub_endpoint, pub.snapshot_endpoint, SYMBOLS[0])
    tasks = [asyncio.create_task(pub.run()), asyncio.create_task(client.run())]
    try:
        await client.wait_until(lambda c: c.seq is not None, 10)
        total = sum(len(b) for b in batches)
        t0 = time.perf_counter()
        for i, b in enumerate(batches):
            pub.publish_events(b)
            if i % 64 == 0:
                await asyncio.sleep(0)
        final = pub.translator.seqs()[SYMBOLS[0]]["l2"]
        await client.wait_until(lambda c: c.seq == final, 120)
        elapsed = time.perf_counter() - t0
        same = client.book == pub.translator.book(SYMBOLS[0])
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        pub.close()
        ctx.term()
    return {
        "marketdata_events_per_s": round(total / elapsed),
        "marketdata_client_book_matches": same,
        "marketdata_client_resyncs": client.stats.resyncs,
    }


def run(args: argparse.Namespace) -> int:
    batches = [b for b in _flow(args.commands, args.seed) if b]
    gc.collect()
    result: dict[str, Any] = {"commands": args.commands, "seed": args.seed}
    result.update(asyncio.run(_sequenced(batches)))
    result.update(_translate(batches))
    result.update(asyncio.run(_marketdata(batches)))
    result["machine"] = describe()
    result["note"] = "sender and receiver share one asyncio loop and one core"
    write_result(args.json, result)
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    raise SystemExit(run(p.parse_args()))
