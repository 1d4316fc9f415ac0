"""A subscriber whose socket stops reading under a flood, through the
asyncio broker (libmqtt.asyncio.Broker) on 127.0.0.1: the broker's memory
stays bounded, the engine drops (and counts) the QoS 0 messages it cannot
hand over, keeps the QoS 1 ones, and the subscriber is not disconnected.
Before, the driver buffered everything (1.77 GB for 2 million 1 KB
messages). The broker runs in this process (its counters and memory are
read here); the publisher in another one."""

from __future__ import annotations

import asyncio
import socket
import sys
import textwrap

from libmqtt.asyncio import Broker

TIMEOUT = 60.0
COUNT = 60_000  # 1 KiB each: 60 MiB, far more than the bounds
SIZE = 1024
KEPT = 20  # QoS 1 messages published after the flood

PUBLISHER = textwrap.dedent(
    """
    import asyncio, sys
    from libmqtt.asyncio import Client

    async def main(port, count, size, kept):
        async with Client("127.0.0.1", port, client_id="flood-pub") as c:
            payload = b"x" * size
            for i in range(count):
                await c.publish("flood", payload, qos=0)
            for i in range(kept):
                await c.publish("keep", b"%d" % i, qos=1)

    asyncio.run(main(*map(int, sys.argv[1:])))
    """
)


def status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + remaining_length(len(body)) + body


def utf8(s: str) -> bytes:
    return len(s).to_bytes(2, "big") + s.encode()


async def read_packet(reader: asyncio.StreamReader) -> tuple:
    """(type, flags, body) of the next packet."""
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    while True:
        b = (await reader.readexactly(1))[0]
        length |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return first >> 4, first & 0x0F, await reader.readexactly(length)


def test_a_subscriber_that_stops_reading_stays_connected_and_memory_stays_bounded() -> None:
    async def main() -> None:
        async with Broker(port=0) as broker:
            # The subscriber (3.1.1, hand-made packets): QoS 0 on "flood",
            # QoS 1 on "keep", then it reads nothing until the flood ends.
            reader, writer = await asyncio.open_connection("127.0.0.1", broker.port, limit=16384)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            writer.write(packet(0x10, utf8("MQTT") + bytes([4, 0x02, 0, 60]) + utf8("slow")))
            writer.write(packet(0x82, (1).to_bytes(2, "big") + utf8("flood") + b"\x00" + utf8("keep") + b"\x01"))
            assert (await read_packet(reader))[0] == 2  # CONNACK
            kind, _, body = await read_packet(reader)
            assert kind == 9 and body[2:] == b"\x00\x01", body  # SUBACK
            # the connection the engine gave the subscriber (the only one)
            (conn,) = broker._writers
            transport = writer.transport
            transport.pause_reading()  # the socket stops reading
            baseline = status_kib("VmRSS:")

            publisher = await asyncio.create_subprocess_exec(
                sys.executable, "-c", PUBLISHER, str(broker.port), str(COUNT), str(SIZE), str(KEPT)
            )
            peak_held = 0
            while publisher.returncode is None:
                held = broker.engine.output_backlog(conn) + broker._writers[conn].buffered()
                peak_held = max(peak_held, held)
                try:
                    await asyncio.wait_for(publisher.wait(), 0.05)
                except asyncio.TimeoutError:
                    pass
            assert publisher.returncode == 0
            growth = status_kib("VmHWM:") - baseline
            dropped = broker.engine.congestion_dropped_messages
            print(f"published {COUNT * SIZE >> 20} MiB: peak held {peak_held >> 10} KiB, RSS +{growth} KiB, {dropped} dropped")
            # engine backlog (1 MiB cap + one packet) + transport (1 MiB
            # high-water mark + one hand-over)
            assert peak_held < 5 * 1024 * 1024, peak_held
            assert growth < 40 * 1024, f"the broker grew {growth} KiB"
            assert dropped > COUNT // 2, dropped
            assert broker.engine.dropped_messages == dropped

            # Reading again: still connected, every QoS 1 message arrives
            # and the QoS 0 ones the engine kept. (A PINGRESP may overtake
            # the messages the engine held back: it follows the first ones
            # and ends the reading once all QoS 1 messages are in.)
            transport.resume_reading()
            flood, keep, pinged, ponged = 0, [], False, False
            while not (ponged and len(keep) == KEPT):
                kind, flags, body = await asyncio.wait_for(read_packet(reader), 10)
                if not pinged:
                    writer.write(packet(0xC0, b""))  # PINGREQ
                    pinged = True
                if kind == 13:
                    ponged = True
                    continue
                assert kind == 3, kind
                topic_len = int.from_bytes(body[:2], "big")
                topic = body[2 : 2 + topic_len].decode()
                if (flags >> 1) & 3:
                    pid = body[2 + topic_len : 4 + topic_len]
                    writer.write(packet(0x40, pid))  # PUBACK
                    keep.append(int(body[4 + topic_len :]))
                else:
                    assert topic == "flood"
                    flood += 1
            assert keep == list(range(KEPT))
            assert flood + dropped == COUNT, (flood, dropped)
            assert broker.connection_count == 1
            writer.write(packet(0xE0, b""))
            writer.close()

    asyncio.run(asyncio.wait_for(main(), TIMEOUT))
