"""Checks a built wheel's tags: ``python check_tag.py WHEEL`` (run with the
interpreter of the venv that has auditwheel, target/wheel-venv).

Fails (exit 1) unless the file name says CPython 3.10 stable ABI
(``cp310-abi3``) and only manylinux platforms, and ``auditwheel show``,
which reads the extension's ELF (glibc symbol versions, linked
libraries), finds the wheel consistent with a manylinux tag that the file
name carries: a wheel that claims an older glibc than it needs fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys


def main(wheel: str) -> int:
    name = os.path.basename(wheel)
    # {dist}-{version}(-{build})?-{python}-{abi}-{platform}.whl
    parts = name[: -len(".whl")].split("-") if name.endswith(".whl") else []
    if len(parts) not in (5, 6):
        print(f"check-tag: not a wheel file name: {name}")
        return 1
    python, abi, platform = parts[-3:]
    platforms = platform.split(".")
    problems = []
    if python != "cp310" or abi != "abi3":
        problems.append(f"python/abi tag is {python}-{abi}, expected cp310-abi3")
    if not all(p.startswith("manylinux") for p in platforms):
        problems.append(f"platform tag {platform} is not manylinux only")
    out = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", wheel],
        capture_output=True, text=True, check=False,
    )
    text = out.stdout + out.stderr
    print(text.rstrip())
    m = re.search(r'consistent\s+with\s+the\s+following\s+platform\s+tag:\s*"([^"]+)"', text)
    if out.returncode != 0 or not m:
        problems.append(f"auditwheel show failed (exit {out.returncode}) or named no platform tag")
    else:
        found = m.group(1)
        # manylinux2014 is the legacy alias of manylinux_2_17.
        aliases = {p.replace("manylinux2014_", "manylinux_2_17_") for p in platforms}
        if not found.startswith("manylinux_") or found not in aliases:
            problems.append(f"auditwheel says {found}, the file name claims {platform}")
    for p in problems:
        print(f"check-tag: FAILED: {p}")
    if not problems:
        print(f"check-tag: ok: {python}-{abi}-{platform} (auditwheel: {m.group(1)})")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: check_tag.py WHEEL")
    sys.exit(main(sys.argv[1]))
