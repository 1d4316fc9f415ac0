#!/usr/bin/env bash
# size-report.sh: what libmqtt adds to a Cortex-M3 firmware image, per
# feature set, and the client's heap and stack high-water marks from the
# QEMU test run, beside coreMQTT's published reference figures.
# A measurement printed as a table, not a test. Run by `make c-firmware-size`.
#
# Method (the same as the reference point): arm-none-eabi-gcc 12.2,
# -Os -mcpu=cortex-m3 -mthumb, newlib-nano, --gc-sections; libmqtt.a built
# with the release-size profile (opt-level z, LTO, panic=abort). libmqtt's
# share is the text+rodata of the input sections the linker kept from
# libmqtt.a (Rust code, and the memcpy/memset/division helpers of Rust's
# compiler_builtins that the library carries), read from the link map.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=target/firmware-size
mkdir -p "$out"
CFLAGS="-Os -mcpu=cortex-m3 -mthumb -std=c99 -Wall -Wextra -Werror -ffunction-sections -fdata-sections"
LDFLAGS="--specs=nano.specs --specs=nosys.specs -Wl,--gc-sections"

# libmqtt's text+rodata kept in the image, from a GNU ld map.
share() {
    python3 - "$1" <<'PY'
import re, sys
# An input section line: " .text.name 0xADDR 0xSIZE path/libmqtt.a(obj.o)",
# its name alone on the line before when it is long.
total, name, kept = 0, None, False
for line in open(sys.argv[1]):
    # Only what the linker kept: the map after its "Discarded" list.
    kept = kept or line.startswith("Linker script and memory map")
    if not kept:
        continue
    m = re.match(r"^ (\.(?:text|rodata)\S*)(?:\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(.*))?$", line.rstrip())
    if m and m.group(2) is None:
        name = m.group(1)
        continue
    if m:
        size, src = int(m.group(3), 16), m.group(4)
    elif name:
        c = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(.*)$", line.rstrip())
        size, src = (int(c.group(2), 16), c.group(3)) if c else (0, "")
    else:
        continue
    name = None
    if "libmqtt" in src and src.endswith(")"):
        total += size
print(total)
PY
}

# build FEATURES NAME: libmqtt.a for thumbv7m with those features.
build() {
    cargo rustc -q -p mqtt-ffi --lib --crate-type staticlib --profile release-size \
        --target thumbv7m-none-eabi --target-dir "$out/cargo" --no-default-features \
        --features "firmware,$1"
    cp "$out/cargo/thumbv7m-none-eabi/release-size/libmqtt.a" "$out/libmqtt-$2.a"
}

# image NAME PROGRAM...: link and print libmqtt's share in bytes.
image() {
    local name=$1; shift
    arm-none-eabi-gcc $CFLAGS -Iinclude "$@" ffi-c/firmware/size/port_stub.c \
        "$out/libmqtt-$name.a" $LDFLAGS -Wl,-Map="$out/$name.map" -o "$out/$name.elf" 2>/dev/null
    share "$out/$name.map"
}

build client client
build client,error-text client-text
build client,codec client-codec
build client,server client-server

c=$(image client ffi-c/firmware/size/client_min.c)
ct=$(image client-text ffi-c/firmware/size/client_min.c)
cc=$(image client-codec ffi-c/firmware/size/client_min.c ffi-c/firmware/size/uses_codec.c -DUSE_CODEC)
cs=$(image client-server ffi-c/firmware/size/client_min.c ffi-c/firmware/size/uses_server.c -DUSE_SERVER)
cp "$out/libmqtt-client-server.a" "$out/libmqtt-client-server-persist.a"
cdur=$(image client-server-persist ffi-c/firmware/size/client_min.c ffi-c/firmware/size/uses_server.c -DUSE_SERVER -DUSE_PERSIST)

kb() { awk -v b="$1" 'BEGIN { printf "%.1f KB", b / 1024 }'; }
echo
echo "libmqtt in a Cortex-M3 client image (text+rodata, -Os, --gc-sections, $(date -u +%Y-%m-%d))"
echo
echo "| image | libmqtt | vs coreMQTT 5.0 (26.0 KB) |"
echo "|---|---|---|"
printf '| client, 3.1.1 + 5.0 (features firmware,client) | %s | %s |\n' "$(kb "$c")" "$(awk -v b="$c" 'BEGIN { printf "%.2fx", b / 1024 / 26.0 }')"
printf '| + error-text (formatted error messages) | %s (+%s) | |\n' "$(kb "$ct")" "$(kb $((ct - c)))"
printf '| + codec (mqtt_decode / mqtt_encode) | %s (+%s) | |\n' "$(kb "$cc")" "$(kb $((cc - c)))"
printf '| + server (broker engine, server role) | %s (+%s) | |\n' "$(kb "$cs")" "$(kb $((cs - c)))"
printf '| + broker durability (persistence on, poll_store, snapshot, restore) | %s (+%s over + server) | |\n' "$(kb "$cdur")" "$(kb $((cdur - cs)))"
echo "| coreMQTT 3.1.1 (reference, client only, no heap) | 10.3 KB | |"
echo "| coreMQTT with MQTT 5.0 (reference) | 26.0 KB | |"
if [ -f target/firmware/qemu.log ]; then
    echo
    grep -E '^(heap|stack)-' target/firmware/qemu.log || true
fi
