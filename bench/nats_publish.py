"""``python -m bench.nats_publish``: gateway CPU per event published to JetStream, old vs new.

Publishes ``--messages`` events in batches of ``--batch`` (as the outbox does: one ``publish`` call
per batch, waiting for every ack) to a throw-away stream on the local NATS, alternating two
publishers in one process on one connection each:

* ``publish_async``: the previous ``NatsBus.publish`` path, kept here as the baseline — nats-py's
  ``JetStreamContext.publish_async`` per message (``Nats-Msg-Id`` header, expected stream), then
  ``asyncio.wait`` on the futures against one deadline;
* ``NatsBus``: ``ledger.bus.NatsBus.publish`` as it is now.

CPU is the user + system time of this process (``getrusage``, the same sum as
``time.process_time``: the socket syscalls count, the nats-server's own CPU does not), divided by
the messages published; the system part is printed too. Each round publishes fresh message ids;
the median of ``--rounds`` rounds is printed. Runs on uvloop like the gateway unless
``--loop asyncio``.

Example::

    python -m bench.nats_publish --messages 20000 --batch 64 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import nats
import uvloop
from nats.js import JetStreamContext
from nats.js.api import PubAck

from ledger.bus import BusMessage, NatsBus

Publish = Callable[[Sequence[BusMessage]], Awaitable[None]]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.nats_publish",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--url", default="nats://127.0.0.1:4222")
    p.add_argument("--messages", type=int, default=20_000, help="per publisher and round")
    p.add_argument("--batch", type=int, default=64, help="messages per publish call")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--payload-bytes", type=int, default=450, help="about one usage event")
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    return p


def _batches(prefix: str, count: int, batch: int, payload: bytes) -> list[list[BusMessage]]:
    """``count`` messages, half usage and half request events, each with a fresh id."""
    subjects = (f"{prefix}.usage.recorded", f"{prefix}.request.completed")
    messages = [BusMessage(subjects[i % 2], payload, str(uuid.uuid4())) for i in range(count)]
    return [messages[i : i + batch] for i in range(0, count, batch)]


def _publish_async(js: JetStreamContext, stream: str, timeout_s: float = 2.0) -> Publish:
    """The baseline: what ``NatsBus.publish`` did before ``JetStreamPublisher``."""

    async def publish(messages: Sequence[BusMessage]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        futures: list[asyncio.Future[PubAck]] = []

        async def send_all() -> None:
            for m in messages:
                headers = {"Nats-Msg-Id": m.msg_id}
                futures.append(
                    await js.publish_async(m.subject, m.data, stream=stream, headers=headers)
                )

        await asyncio.wait_for(send_all(), timeout_s)
        done, pending = await asyncio.wait(futures, timeout=max(deadline - loop.time(), 0))
        if pending or any(f.exception() is not None for f in done):
            raise RuntimeError("baseline publish failed")

    return publish


Measured = tuple[float, float, float]
"""CPU µs per message (user + system), of which system, messages per second."""


async def _measure(publish: Publish, batches: list[list[BusMessage]]) -> Measured:
    """Publish ``batches`` one after another, as the outbox does."""
    count = sum(len(b) for b in batches)
    start, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for batch in batches:
        await publish(batch)
    end, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - wall
    user, system = end.ru_utime - start.ru_utime, end.ru_stime - start.ru_stime
    return (user + system) / count * 1e6, system / count * 1e6, count / wall


async def _run(args: argparse.Namespace) -> None:
    name = "b" + uuid.uuid4().hex[:10]
    bus = NatsBus(args.url, stream=name.upper(), subject_prefix=name)
    await bus.start()
    nc = await nats.connect(args.url)
    publishers: dict[str, Publish] = {
        "publish_async": _publish_async(nc.jetstream(), name.upper()),
        "NatsBus": bus.publish,
    }
    payload = b"x" * args.payload_bytes
    results: dict[str, list[Measured]] = {label: [] for label in publishers}
    try:
        for round_ in range(args.rounds + 1):  # NOTE: round 0 warms up and is not recorded
            for label, publish in publishers.items():
                batches = _batches(name, args.messages, args.batch, payload)
                measured = await _measure(publish, batches)
                if round_:
                    results[label].append(measured)
    finally:
        await nc.jetstream().delete_stream(name.upper())
        await nc.close()
        await bus.aclose()
    _report(args, results)


def _report(args: argparse.Namespace, results: dict[str, list[Measured]]) -> None:
    print(
        f"{args.messages} messages x {args.rounds} rounds, batch {args.batch}, "
        f"{args.payload_bytes} B payloads, {args.loop}; median of rounds"
    )
    print(f"{'publisher':<15}{'CPU µs/msg':>12}{'of it sys':>11}{'msg/s':>10}   (CPU per round)")
    for label, rounds in results.items():
        cpu, system, rate = (statistics.median(r[i] for r in rounds) for i in range(3))
        per_round = " ".join(f"{r[0]:.1f}" for r in rounds)
        print(f"{label:<15}{cpu:>12.1f}{system:>11.1f}{rate:>10.0f}   ({per_round})")


def main() -> None:
    args = _parser().parse_args()
    if args.loop == "uvloop":
        uvloop.run(_run(args))
    else:
        asyncio.run(_run(args))


if __name__ == "__main__":
    main()
