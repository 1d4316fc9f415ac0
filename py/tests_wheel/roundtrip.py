"""Round trip through an installed libmqtt against a running broker:
``python roundtrip.py PORT`` (127.0.0.1). Run by check_wheel.sh with the
fresh venv's interpreter, from outside the source tree, so the package
under test is the installed wheel. Exits 0 when every message arrived
intact; prints one line per check."""

from __future__ import annotations

import asyncio
import sys

import libmqtt
from libmqtt.asyncio import Client


async def roundtrip(port: int) -> None:
    async with Client("127.0.0.1", port, client_id="wheel-sub") as sub, \
            Client("127.0.0.1", port, client_id="wheel-pub", version=4) as pub:
        await sub.subscribe("wheel/#", qos=2)
        for qos in (0, 1, 2):
            payload = f"qos {qos} \u00e9".encode() + bytes(range(256))
            done = await pub.publish(f"wheel/py/{qos}", payload, qos=qos)
            assert (done is None) == (qos == 0), done
            message = await sub.messages.get(timeout=10)
            assert message.topic == f"wheel/py/{qos}", message.topic
            assert message.payload == payload, message.payload[:20]
            assert message.qos == qos, message.qos
            print(f"roundtrip: qos {qos} ok (MQTT 3.1.1 publisher -> 5.0 subscriber)")
        # 5.0 to 5.0 with a user property.
        await sub.publish("wheel/props", b"p", qos=1, user_properties=[("k", "v")])
        message = await sub.messages.get(timeout=10)
        props = message.properties.user_properties
        assert tuple(props) == (("k", "v"),), props
        print("roundtrip: user property ok")


def main() -> int:
    port = int(sys.argv[1])
    assert "site-packages" in libmqtt.__file__, libmqtt.__file__
    # The codec, straight from the extension module.
    packet = libmqtt.Publish("a/b", b"x", qos=1, packet_id=7)
    assert libmqtt.decode(libmqtt.encode(packet)) == packet
    print("roundtrip: codec ok")
    asyncio.run(asyncio.wait_for(roundtrip(port), 30))
    return 0


if __name__ == "__main__":
    sys.exit(main())
