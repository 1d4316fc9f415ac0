"""The command line: ``python -m libmqtt pub | sub | broker | decode``.

``pub`` and ``sub`` work like mosquitto_pub and mosquitto_sub::

    python -m libmqtt sub -h 127.0.0.1 -p 1883 -t 'sensors/#' -q 1 -v -C 10
    python -m libmqtt pub -t sensors/7/temp -m 21.5 -q 1 -r -V 5
    python -m libmqtt broker --host 127.0.0.1 --port 1883
    python -m libmqtt decode 30 0b 00 03 61 2f 62 00 68 65 6c 6c 6f
    printf '\\xe0\\x00' | python -m libmqtt decode -
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import List, Optional

from . import Decoder, MQTTError, Will


def _version(text: str) -> int:
    table = {"5": 5, "mqttv5": 5, "311": 4, "4": 4, "mqttv311": 4, "3.1.1": 4}
    if text.lower() not in table:
        raise argparse.ArgumentTypeError("the protocol version is 5 or 311")
    return table[text.lower()]


def _connection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-h", "--host", default="127.0.0.1", help="broker host (default 127.0.0.1)")
    p.add_argument("-p", "--port", type=int, default=1883, help="broker port (default 1883)")
    p.add_argument("-V", "--protocol-version", dest="version", type=_version, default=5, help="5 (default) or 311")
    p.add_argument("-i", "--id", dest="client_id", default="", help="client identifier (default: the server assigns one)")
    p.add_argument("-u", "--username")
    p.add_argument("-P", "--pw", dest="password")
    p.add_argument("-k", "--keepalive", type=int, default=60, help="keep alive in seconds (default 60)")
    p.add_argument("-q", "--qos", type=int, choices=(0, 1, 2), default=0)
    p.add_argument("-d", "--debug", action="store_true", help="log protocol activity to stderr")
    p.add_argument("--will-topic")
    p.add_argument("--will-payload", default="")
    p.add_argument("--will-qos", type=int, choices=(0, 1, 2), default=0)
    p.add_argument("--will-retain", action="store_true")
    p.add_argument("--help", action="help", help="show this help and exit")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m libmqtt", description="MQTT 3.1.1 / 5.0 tools on libmqtt.")
    sub = parser.add_subparsers(dest="command", required=True)

    pub = sub.add_parser("pub", add_help=False, help="publish a message (like mosquitto_pub)")
    _connection_args(pub)
    pub.add_argument("-t", "--topic", required=True)
    group = pub.add_mutually_exclusive_group(required=True)
    group.add_argument("-m", "--message", help="the payload")
    group.add_argument("-n", "--null-message", action="store_true", help="an empty payload")
    group.add_argument("-f", "--file", help="the payload is this file's content")
    group.add_argument("-s", "--stdin-file", action="store_true", help="the payload is standard input")
    group.add_argument("-l", "--stdin-line", action="store_true", help="one message per line of standard input")
    pub.add_argument("-r", "--retain", action="store_true")
    pub.add_argument("-D", "--user-property", nargs=2, action="append", metavar=("KEY", "VALUE"), help="a 5.0 user property")

    subc = sub.add_parser("sub", add_help=False, help="print messages (like mosquitto_sub)")
    _connection_args(subc)
    subc.add_argument("-t", "--topic", action="append", required=True, help="a topic filter (repeatable)")
    subc.add_argument("-v", "--verbose", action="store_true", help="print the topic before the payload")
    subc.add_argument("-C", "--count", type=int, default=0, help="exit after this many messages")
    subc.add_argument("-W", "--timeout", type=float, default=0, help="exit with status 27 after this many seconds")
    subc.add_argument("-c", "--persistent", action="store_true", help="keep the session (clean start off)")
    subc.add_argument("-x", "--session-expiry", type=int, default=0)

    broker = sub.add_parser("broker", help="run the embedded broker")
    broker.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    broker.add_argument("--port", type=int, default=1883, help="port (default 1883; 0: a free one)")
    broker.add_argument("-d", "--debug", action="store_true")

    dec = sub.add_parser("decode", help="print an MQTT packet (hex, or - for binary standard input)")
    dec.add_argument("data", nargs="+", help="hex bytes (spaces allowed), or - to read binary from standard input")
    dec.add_argument("-V", "--protocol-version", dest="version", type=_version, default=5)
    return parser


def _will(args: argparse.Namespace) -> Optional[Will]:
    if not args.will_topic:
        return None
    return Will(args.will_topic, args.will_payload.encode(), qos=args.will_qos, retain=args.will_retain)


def _client(args: argparse.Namespace, **extra: object):
    from .asyncio import Client

    return Client(
        args.host,
        args.port,
        version=args.version,
        client_id=args.client_id,
        username=args.username,
        password=args.password,
        keep_alive=args.keepalive,
        will=_will(args),
        reconnect=False,
        **extra,
    )


async def _pub(args: argparse.Namespace) -> int:
    if args.message is not None:
        payloads: List[bytes] = [args.message.encode()]
    elif args.null_message:
        payloads = [b""]
    elif args.file:
        with open(args.file, "rb") as f:
            payloads = [f.read()]
    elif args.stdin_file:
        payloads = [sys.stdin.buffer.read()]
    else:
        payloads = [line.rstrip(b"\r\n") for line in sys.stdin.buffer]
    props = {}
    if args.user_property:
        props["user_properties"] = [tuple(kv) for kv in args.user_property]
    async with _client(args) as client:
        for payload in payloads:
            await client.publish(args.topic, payload, args.qos, args.retain, **props)
    return 0


async def _sub(args: argparse.Namespace) -> int:
    extra = {}
    if args.persistent:
        extra = {"clean_start": False, "session_expiry": args.session_expiry or 0xFFFFFFFF}
    out = sys.stdout.buffer
    async with _client(args, **extra) as client:
        await client.subscribe([(t, args.qos) for t in args.topic])
        seen = 0

        async def loop() -> None:
            nonlocal seen
            async for message in client.messages:
                if args.verbose:
                    out.write(message.topic.encode() + b" ")
                out.write(message.payload + b"\n")
                out.flush()
                seen += 1
                if args.count and seen >= args.count:
                    return

        try:
            await asyncio.wait_for(loop(), args.timeout or None)
        except asyncio.TimeoutError:
            print("Timed out", file=sys.stderr)
            return 27
    return 0


async def _broker(args: argparse.Namespace) -> int:
    from .asyncio import Broker

    async with Broker(args.host, args.port) as broker:
        print(f"libmqtt broker listening on {args.host}:{broker.port}", flush=True)
        await broker.serve_forever()
    return 0


def _decode(args: argparse.Namespace) -> int:
    if args.data == ["-"]:
        data = sys.stdin.buffer.read()
    else:
        text = "".join(args.data).replace(" ", "").replace(":", "")
        if text.startswith(("0x", "0X")):
            text = text[2:]
        try:
            data = bytes.fromhex(text)
        except ValueError as exc:
            print(f"error: not hex: {exc}", file=sys.stderr)
            return 2
    decoder = Decoder(args.version)
    decoder.feed(data)
    count = 0
    try:
        for packet in decoder:
            count += 1
            print(_describe(packet))
    except MQTTError as exc:
        code = f" (reason code 0x{exc.reason_code:02X} {exc.reason_code.name})" if exc.reason_code is not None else ""
        print(f"error: {exc}{code}", file=sys.stderr)
        return 1
    if decoder.buffered:
        print(f"error: {decoder.buffered} byte(s) left over: an incomplete packet", file=sys.stderr)
        return 1
    if count == 0:
        print("error: no packet", file=sys.stderr)
        return 1
    return 0


def _describe(packet: object) -> str:
    """A packet as readable lines: its type, then one field per line."""
    import dataclasses

    name = type(packet).__name__.upper()
    if dataclasses.is_dataclass(packet):
        fields = [(f.name, getattr(packet, f.name)) for f in dataclasses.fields(packet)]
    else:
        names = getattr(type(packet), "__match_args__", ()) or ("topic", "payload", "qos", "retain", "dup", "packet_id", "properties")
        fields = [(n, getattr(packet, n)) for n in names if hasattr(packet, n)]
    lines = [name]
    for key, value in fields:
        if key == "properties" and dataclasses.is_dataclass(value):
            set_props = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value) if getattr(value, f.name) not in (None, ())]
            if not set_props:
                continue
            lines.append("  properties:")
            lines.extend(f"    {k}: {v!r}" for k, v in set_props)
        else:
            lines.append(f"  {key}: {value!r}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "debug", False) else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if args.command == "decode":
        return _decode(args)
    runner = {"pub": _pub, "sub": _sub, "broker": _broker}[args.command]
    try:
        return asyncio.run(runner(args))
    except KeyboardInterrupt:
        return 130
    except (MQTTError, OSError) as exc:
        code = f" (reason code 0x{exc.reason_code:02X} {exc.reason_code.name})" if getattr(exc, "reason_code", None) is not None else ""
        print(f"error: {exc}{code}", file=sys.stderr)
        return 1
