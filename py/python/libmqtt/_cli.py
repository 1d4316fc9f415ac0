"""The command line: ``python -m libmqtt pub | sub | broker | decode``.

``pub`` and ``sub`` work like mosquitto_pub and mosquitto_sub (same option
names and meanings where supported; an option we do not support is an
error)::

    python -m libmqtt sub -h 127.0.0.1 -p 1883 -t 'sensors/#' -q 1 -v -C 10
    python -m libmqtt pub -t sensors/7/temp -m 21.5 -q 1 -r -V 5
    python -m libmqtt pub -L mqtt://user:secret@127.0.0.1:1883/sensors/7/temp -m 21.5
    python -m libmqtt sub -L 'mqtts://broker.example:8883/sensors/#' --cafile ca.crt
    python -m libmqtt pub -p 8883 --cafile ca.crt --cert me.crt --key me.key -t t -m x
    python -m libmqtt sub -L ws://127.0.0.1:8080/mqtt -t 'sensors/#'
    python -m libmqtt broker --host 127.0.0.1 --port 1883
    python -m libmqtt broker --port 1883 --tls-port 8883 --certfile s.crt --keyfile s.key \\
        --ws-port 8080 --password-file passwd --acl-file acl
    python -m libmqtt decode 30 0b 00 03 61 2f 62 00 68 65 6c 6c 6f
    printf '\\xe0\\x00' | python -m libmqtt decode -

TLS (pub/sub): on with ``--cafile``, ``--capath``, ``--tls-use-os-certs``
or an ``mqtts://`` / ``wss://`` URL; ``--cert``/``--key`` present a client
certificate; ``--insecure`` skips the host name check only (the chain is
still verified); ``--tls-version`` is the lowest version accepted.
WebSocket: ``--ws`` (or ``--transport websockets``) and ``--ws-path``
(default ``/mqtt``), or a ``ws://`` / ``wss://`` URL, whose path is the
WebSocket path. ``-L`` URLs: ``mqtt(s)://[user[:password]@]host[:port]/topic``
(the topic as ``-t``) and ``ws(s)://[user[:password]@]host[:port][/path]``.

The broker's ``--password-file`` holds plain-text ``user:password`` lines;
hashed mosquitto_passwd lines (``$6$``, ``$7$``) are refused.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import re
import ssl
import sys
from typing import List, Optional

from . import Decoder, MQTTError, Will


def _version(text: str) -> int:
    table = {"5": 5, "mqttv5": 5, "311": 4, "4": 4, "mqttv311": 4, "3.1.1": 4, "31": 3, "3": 3, "mqttv31": 3, "3.1": 3}
    if text.lower() not in table:
        raise argparse.ArgumentTypeError("the protocol version is 5, 311 or 31")
    return table[text.lower()]


class _Usage(Exception):
    """A bad combination of options or a bad URL: exit status 2."""


class _Setup(Exception):
    """A file that cannot be used (missing, unreadable, malformed): exit status 1."""


_TLS_VERSIONS = {"tlsv1.3": "TLSv1_3", "tlsv1.2": "TLSv1_2", "tlsv1.1": "TLSv1_1"}


def _connection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-L", "--url", help="mqtt(s)://[user[:password]@]host[:port]/topic or ws(s)://[user[:password]@]host[:port][/path]")
    p.add_argument("-h", "--host", help="broker host (default 127.0.0.1)")
    p.add_argument("-p", "--port", type=int, help="broker port (default 1883, 8883 with TLS; 80 / 443 over WebSocket)")
    p.add_argument("-V", "--protocol-version", dest="version", type=_version, default=5, help="5 (default), 311 or 31 (MQTT 3.1)")
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
    tls = p.add_argument_group("TLS (on with --cafile, --capath, --tls-use-os-certs, or an mqtts:// or wss:// URL)")
    tls.add_argument("--cafile", help="trust the CA certificates in this PEM file")
    tls.add_argument("--capath", help="trust the CA certificates in this directory (c_rehash layout)")
    tls.add_argument("--tls-use-os-certs", action="store_true", help="trust the system's CA certificates")
    tls.add_argument("--cert", help="client certificate (PEM), with --key")
    tls.add_argument("--key", help="client private key (PEM, not encrypted), with --cert")
    tls.add_argument("--insecure", action="store_true", help="do not check that the server certificate names the host (the chain is still verified)")
    tls.add_argument("--tls-version", choices=sorted(_TLS_VERSIONS), help="the lowest TLS version accepted (default: the ssl module's, TLS 1.2)")
    ws = p.add_argument_group("WebSocket")
    ws.add_argument("--transport", choices=("tcp", "websockets"), help="tcp (default) or websockets")
    ws.add_argument("--ws", dest="transport", action="store_const", const="websockets", help="same as --transport websockets")
    ws.add_argument("--ws-path", help="the WebSocket path (default /mqtt)")
    p.add_argument("--help", action="help", help="show this help and exit")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m libmqtt", description="MQTT 3.1.1 / 5.0 tools on libmqtt.")
    sub = parser.add_subparsers(dest="command", required=True)

    pub = sub.add_parser(
        "pub",
        add_help=False,
        help="publish a message (like mosquitto_pub)",
        description="Publishes like mosquitto_pub. The topic comes from -t or the -L URL.",
    )
    _connection_args(pub)
    pub.add_argument("-t", "--topic", help="the topic (or the path of an mqtt(s):// -L URL)")
    group = pub.add_mutually_exclusive_group(required=True)
    group.add_argument("-m", "--message", help="the payload")
    group.add_argument("-n", "--null-message", action="store_true", help="an empty payload")
    group.add_argument("-f", "--file", help="the payload is this file's content")
    group.add_argument("-s", "--stdin-file", action="store_true", help="the payload is standard input")
    group.add_argument("-l", "--stdin-line", action="store_true", help="one message per line of standard input")
    pub.add_argument("-r", "--retain", action="store_true")
    pub.add_argument("-D", "--user-property", nargs=2, action="append", metavar=("KEY", "VALUE"), help="a 5.0 user property")

    subc = sub.add_parser(
        "sub",
        add_help=False,
        help="print messages (like mosquitto_sub)",
        description="Prints messages like mosquitto_sub. Filters come from -t and the -L URL's path.",
    )
    _connection_args(subc)
    subc.add_argument("-t", "--topic", action="append", default=[], help="a topic filter (repeatable; the path of an mqtt(s):// -L URL adds one)")
    subc.add_argument("-v", "--verbose", action="store_true", help="print the topic before the payload")
    subc.add_argument("-C", "--count", type=int, default=0, help="exit after this many messages")
    subc.add_argument("-W", "--timeout", type=float, default=0, help="exit with status 27 after this many seconds")
    subc.add_argument("-c", "--persistent", action="store_true", help="keep the session (clean start off)")
    subc.add_argument("-x", "--session-expiry", type=int, default=0)

    broker = sub.add_parser(
        "broker",
        help="run the embedded broker",
        description=(
            "Runs the embedded broker. Listeners: plain MQTT on --port (default 1883, when no other listener "
            "is given), MQTT over TLS on --tls-port, MQTT over WebSocket on --ws-port, over secure WebSocket "
            "on --wss-port; port 0 picks a free one. One line per listener is printed: "
            "'libmqtt broker listening on HOST:PORT (mqtt|mqtts|ws|wss)'."
        ),
    )
    broker.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    broker.add_argument("--port", type=int, help="plain MQTT port (default 1883 when no other listener is given; 0: a free one)")
    broker.add_argument("-d", "--debug", action="store_true")
    broker.add_argument(
        "--store",
        metavar="PATH",
        help="make the broker durable: persistent sessions, their queued and in-flight QoS 1/2 messages, "
        "delayed wills and retained messages are kept in this file (fsynced before each acknowledgement) "
        "and restored at the next start",
    )
    auth = broker.add_argument_group("authentication and authorization")
    auth.add_argument(
        "--password-file",
        help="plain-text 'user:password' lines ('#' comments); hashed mosquitto_passwd lines ($6$, $7$) are refused. "
        "Clients without a user name are refused unless --allow-anonymous",
    )
    auth.add_argument("--allow-anonymous", action="store_true", help="with --password-file, let clients without a user name in (without one they are let in anyway)")
    auth.add_argument("--acl-file", help="a mosquitto acl_file: 'user', 'topic [read|write|readwrite|deny] FILTER', 'pattern' lines")
    tls = broker.add_argument_group("TLS and WebSocket listeners")
    tls.add_argument("--tls-port", type=int, help="MQTT over TLS on this port (needs --certfile, --keyfile)")
    tls.add_argument("--ws-port", type=int, help="MQTT over WebSocket on this port (any path; the 'websockets' package)")
    tls.add_argument("--wss-port", type=int, help="MQTT over WebSocket with TLS on this port (needs --certfile, --keyfile)")
    tls.add_argument("--certfile", help="the server certificate (PEM, chain allowed)")
    tls.add_argument("--keyfile", help="the server private key (PEM, not encrypted)")
    tls.add_argument("--cafile", help="CA certificates to verify client certificates (a presented one must verify)")
    tls.add_argument("--require-certificate", action="store_true", help="refuse TLS clients without a certificate signed by --cafile")

    dec = sub.add_parser("decode", help="print an MQTT packet (hex, or - for binary standard input)")
    dec.add_argument("data", nargs="+", help="hex bytes (spaces allowed), or - to read binary from standard input")
    dec.add_argument("-V", "--protocol-version", dest="version", type=_version, default=5)
    return parser


def _will(args: argparse.Namespace) -> Optional[Will]:
    if not args.will_topic:
        return None
    return Will(args.will_topic, args.will_payload.encode(), qos=args.will_qos, retain=args.will_retain)


def _check_file(option: str, path: Optional[str], directory: bool = False) -> None:
    if path is None:
        return
    if directory:
        if not os.path.isdir(path):
            raise _Setup(f"{option} {path}: no such directory")
    elif not os.path.isfile(path):
        raise _Setup(f"{option} {path}: no such file")


def _resolve(args: argparse.Namespace) -> None:
    """Folds -L into the options, checks the combinations (raising _Usage),
    fills in defaults, and builds the TLS context (raising _Setup)."""
    tls = bool(args.cafile or args.capath or args.tls_use_os_certs)
    if args.url is not None:
        from .asyncio import _parse_url

        try:
            u = _parse_url(args.url)
        except ValueError as exc:
            raise _Usage(f"-L: {exc}") from None
        for option, value in (("-h/--host", args.host), ("-p/--port", args.port)):
            if value is not None:
                raise _Usage(f"{option} and -L both give the broker address; use one")
        if u.username is not None and args.username is not None:
            raise _Usage("-u and the -L URL both give a user name; use one")
        if u.password is not None and args.password is not None:
            raise _Usage("-P and the -L URL both give a password; use one")
        if args.transport is not None and args.transport != u.transport:
            raise _Usage(f"--transport {args.transport} contradicts the {u.scheme}:// URL")
        if not u.tls and tls:
            raise _Usage(f"TLS options with a {u.scheme}:// URL: use {u.scheme}s://")
        args.host, args.port, args.transport = u.host, u.port, u.transport
        if u.username is not None:
            args.username = u.username
        if u.password is not None:
            args.password = u.password
        if u.transport == "websockets":
            if u.path is not None:
                if args.ws_path is not None:
                    raise _Usage("--ws-path and the path of the -L URL both give the WebSocket path; use one")
                args.ws_path = u.path
        elif u.path:
            if args.command == "pub":
                if args.topic is not None:
                    raise _Usage("-t and the -L URL both give the topic; use one")
                args.topic = u.path
            else:
                args.topic.append(u.path)
        tls = tls or u.tls
    if args.command == "pub" and not args.topic:
        raise _Usage("a topic is needed: -t TOPIC or -L mqtt://host/TOPIC")
    if args.command == "sub" and not args.topic:
        raise _Usage("a topic filter is needed: -t FILTER or -L mqtt://host/FILTER")
    args.transport = args.transport or "tcp"
    if args.ws_path is not None and args.transport != "websockets":
        raise _Usage("--ws-path needs --ws (or --transport websockets, or a ws:// URL)")
    if (args.cert is None) != (args.key is None):
        raise _Usage("--cert and --key go together")
    if not tls:
        for option, value in (("--cert", args.cert), ("--insecure", args.insecure), ("--tls-version", args.tls_version)):
            if value:
                raise _Usage(f"{option} needs TLS: --cafile, --capath, --tls-use-os-certs, or an mqtts:// or wss:// URL")
    if args.host is None:
        args.host = "127.0.0.1"
    if args.port is None:
        args.port = {("tcp", False): 1883, ("tcp", True): 8883, ("websockets", False): 80, ("websockets", True): 443}[
            (args.transport, tls)
        ]
    args.ssl = _client_tls(args) if tls else None


def _client_tls(args: argparse.Namespace) -> ssl.SSLContext:
    _check_file("--cafile", args.cafile)
    _check_file("--capath", args.capath, directory=True)
    _check_file("--cert", args.cert)
    _check_file("--key", args.key)
    try:
        if args.cafile or args.capath:
            ctx = ssl.create_default_context(cafile=args.cafile, capath=args.capath)
            if args.tls_use_os_certs:
                ctx.load_default_certs()
        else:
            ctx = ssl.create_default_context()
    except ssl.SSLError as exc:
        raise _Setup(f"--cafile/--capath: not usable CA certificates: {exc}") from None
    if args.cert:
        try:
            ctx.load_cert_chain(args.cert, args.key)
        except ssl.SSLError as exc:
            raise _Setup(f"--cert/--key: not a usable certificate and key: {exc}") from None
    if args.insecure:
        ctx.check_hostname = False
    if args.tls_version:
        ctx.minimum_version = getattr(ssl.TLSVersion, _TLS_VERSIONS[args.tls_version])
    return ctx


def _client(args: argparse.Namespace, **extra: object):
    from .asyncio import Client

    ws = {"websocket_path": args.ws_path} if args.ws_path is not None else {}
    client_id = args.client_id
    if args.version == 3 and not client_id:
        # MQTT 3.1 has no server-assigned identifiers: 1 to 23 characters.
        client_id = "libmqtt-" + os.urandom(6).hex()
    return Client(
        args.host,
        args.port,
        version=args.version,
        client_id=client_id,
        username=args.username,
        password=args.password,
        keep_alive=args.keepalive,
        will=_will(args),
        reconnect=False,
        ssl=args.ssl,
        transport=args.transport,
        **ws,
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


_HASHED = re.compile(r"^\$(6|7)\$")


def _read_text(option: str, path: str) -> str:
    _check_file(option, path)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise _Setup(f"{option} {path}: {exc}") from None


def _broker_options(args: argparse.Namespace) -> dict:
    """The engine options (passwords, ACL) and the listeners, checked."""
    options: dict = {}
    if args.password_file is not None:
        text = _read_text("--password-file", args.password_file)
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip() and not line.lstrip().startswith("#"):
                _, colon, secret = line.partition(":")
                if colon and _HASHED.match(secret):
                    raise _Setup(
                        f"--password-file {args.password_file}: line {number} holds a hashed password "
                        "(mosquitto_passwd); this broker reads plain-text user:password lines only"
                    )
        options["password_file"] = text
        options["allow_anonymous"] = args.allow_anonymous
    if args.acl_file is not None:
        options["acl"] = _read_text("--acl-file", args.acl_file)
    tls_ports = [p for p in (args.tls_port, args.wss_port) if p is not None]
    if tls_ports and not (args.certfile and args.keyfile):
        raise _Usage("--tls-port and --wss-port need --certfile and --keyfile")
    if not tls_ports:
        for option, value in (("--certfile", args.certfile), ("--keyfile", args.keyfile), ("--cafile", args.cafile), ("--require-certificate", args.require_certificate)):
            if value:
                raise _Usage(f"{option} needs a TLS listener: --tls-port or --wss-port")
    if args.require_certificate and not args.cafile:
        raise _Usage("--require-certificate needs --cafile (the CA that signs client certificates)")
    return options


def _server_tls(args: argparse.Namespace) -> ssl.SSLContext:
    _check_file("--certfile", args.certfile)
    _check_file("--keyfile", args.keyfile)
    _check_file("--cafile", args.cafile)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(args.certfile, args.keyfile)
    except ssl.SSLError as exc:
        raise _Setup(f"--certfile/--keyfile: not a usable certificate and key: {exc}") from None
    if args.cafile:
        try:
            ctx.load_verify_locations(cafile=args.cafile)
        except ssl.SSLError as exc:
            raise _Setup(f"--cafile: not usable CA certificates: {exc}") from None
        ctx.verify_mode = ssl.CERT_REQUIRED if args.require_certificate else ssl.CERT_OPTIONAL
    return ctx


async def _broker(args: argparse.Namespace) -> int:
    from .asyncio import Broker

    options = _broker_options(args)
    server_ssl = _server_tls(args) if (args.tls_port is not None or args.wss_port is not None) else None
    listeners = []  # (port, ssl, transport, name)
    if args.port is not None or (args.tls_port is None and args.ws_port is None and args.wss_port is None):
        listeners.append((1883 if args.port is None else args.port, None, "tcp", "mqtt"))
    if args.tls_port is not None:
        listeners.append((args.tls_port, server_ssl, "tcp", "mqtts"))
    if args.ws_port is not None:
        listeners.append((args.ws_port, None, "websockets", "ws"))
    if args.wss_port is not None:
        listeners.append((args.wss_port, server_ssl, "websockets", "wss"))
    if any(kind == "websockets" for _, _, kind, _ in listeners):
        if importlib.util.find_spec("websockets") is None:
            raise _Setup("--ws-port and --wss-port need the 'websockets' package (pip install 'libmqtt[websockets]')") from None
    port, ctx, kind, name = listeners[0]
    if args.store is not None:
        directory = os.path.dirname(os.path.abspath(args.store))
        if not os.path.isdir(directory):
            raise _Setup(f"--store {args.store}: directory {directory} does not exist")
        options["store_path"] = args.store
    try:
        broker = Broker(args.host, port, ssl=ctx, transport=kind, **options)
    except ValueError as exc:  # the engine's password file or ACL parse errors
        raise _Setup(str(exc).replace("password_file:", f"--password-file {args.password_file}:").replace("acl:", f"--acl-file {args.acl_file}:")) from None
    try:
        await broker.start()
    except (OSError, ValueError) as exc:
        if args.store is None or broker.restore_report is not None:
            raise
        # The store could not be restored: not ours, a newer format, unreadable.
        raise _Setup(f"--store {args.store}: {exc}") from None
    try:
        print(f"libmqtt broker listening on {args.host}:{broker.port} ({name})", flush=True)
        for port, ctx, kind, name in listeners[1:]:
            bound = await broker.listen(args.host, port, ssl=ctx, transport=kind)
            print(f"libmqtt broker listening on {args.host}:{bound} ({name})", flush=True)
        await broker.serve_forever()
    finally:
        await broker.close()
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
        if args.command in ("pub", "sub"):
            _resolve(args)
        return asyncio.run(runner(args))
    except KeyboardInterrupt:
        return 130
    except _Usage as exc:
        print(f"python -m libmqtt {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except _Setup as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (MQTTError, OSError) as exc:
        code = f" (reason code 0x{exc.reason_code:02X} {exc.reason_code.name})" if getattr(exc, "reason_code", None) is not None else ""
        print(f"error: {exc}{code}{_hint(str(exc))}", file=sys.stderr)
        return 1


def _hint(text: str) -> str:
    """A hint for the usual TLS mistakes."""
    if "CERTIFICATE_VERIFY_FAILED" in text:
        if "mismatch" in text:
            return "\nhint: the server certificate does not name this host (--insecure skips that check)"
        return "\nhint: the server certificate is not signed by a trusted CA (--cafile, --capath)"
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
        return "\nhint: is this port TLS? (mqtt:// and mqtts://, --cafile only for a TLS port)"
    return ""
