"""Shared by bench/broker-mosq.py and bench/hostile-load.py (stdlib only):
starting Debian's mosquitto and libmqtt's broker on the SAME mosquitto.conf,
TLS certificates made with openssl, and reading a process's CPU time and
memory from /proc.

Our broker is `target/release/libmqtt-broker -c CONF`. While that binary
cannot run a configuration file yet, `libmqtt-broker -p PORT` (its
defaults) or else the example broker `target/release/examples/broker
--port P` stands in for plain TCP cases (neither reads the file, so TLS
cases and the configuration's limits are not applied to it; the tables say
which one ran).
"""

import os
import platform
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MOSQUITTO = "/usr/sbin/mosquitto"
OURS_BIN = ROOT / "target" / "release" / "libmqtt-broker"
EXAMPLE_BIN = ROOT / "target" / "release" / "examples" / "broker"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """user + system seconds of a live process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_kb(pid, key):
    """A `kB` line of /proc/PID/status (VmRSS, VmHWM), in KiB; None if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_kb(pid):
    return status_kb(pid, "VmRSS")


def hwm_kb(pid):
    return status_kb(pid, "VmHWM")


def make_certs(directory):
    """A CA and a server certificate for 127.0.0.1 / localhost (RSA 2048,
    one day), made with `openssl req` and `openssl x509` in `directory`.
    Returns a dict of paths: ca, cert, key."""
    d = Path(directory)
    ca_key, ca_crt = d / "ca.key", d / "ca.crt"
    key, csr, crt, ext = d / "server.key", d / "server.csr", d / "server.crt", d / "server.ext"
    q = dict(check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=libmqtt bench CA", "-keyout", str(ca_key), "-out", str(ca_crt)], **q)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(csr)], **q)
    ext.write_text("subjectAltName = DNS:localhost, IP:127.0.0.1\n"
                   "basicConstraints = CA:FALSE\n"
                   "keyUsage = digitalSignature, keyEncipherment\n"
                   "extendedKeyUsage = serverAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
                    "-CAcreateserial", "-days", "1", "-sha256", "-extfile", str(ext), "-out", str(crt)], **q)
    # mosquitto started as root drops to the `mosquitto` user before it reads
    # them: readable by all (throw-away keys of a benchmark).
    os.chmod(d, 0o755)
    for f in (ca_crt, crt, key):
        os.chmod(f, 0o644)
    return {"ca": str(ca_crt), "cert": str(crt), "key": str(key)}


def write_conf(path, port, certs=None, extra=()):
    """One mosquitto.conf, given unchanged to both brokers: a listener on
    127.0.0.1:port (TLS with `certs`), anonymous access, no $SYS, errors
    only on stderr, plus `extra` lines (mosquitto keys)."""
    lines = [f"listener {port} 127.0.0.1"]
    if certs:
        lines += [f"cafile {certs['ca']}", f"certfile {certs['cert']}", f"keyfile {certs['key']}"]
    lines += ["allow_anonymous true", "sys_interval 0", "log_dest stderr", "log_type error"]
    lines += list(extra)
    Path(path).write_text("\n".join(lines) + "\n")
    return path


def wait_port(port, proc, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


class Broker:
    """A running broker process: `kind` is mosquitto, libmqtt-broker or
    example."""

    def __init__(self, kind, proc, port, log):
        self.kind, self.proc, self.port, self.log = kind, proc, port, log

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def log_tail(self, n=5):
        try:
            return "\n".join(Path(self.log).read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def start(kind, conf, port, logdir, nofile=None):
    """Starts `kind` (mosquitto | libmqtt-broker | example) on `conf`
    (the example broker gets `--port` instead) and waits for its port."""
    log = Path(logdir) / f"{kind}-{port}-{time.monotonic_ns()}.log"
    if kind == "mosquitto":
        cmd = [MOSQUITTO, "-c", str(conf)]
    elif kind == "libmqtt-broker":
        cmd = [str(OURS_BIN), "-c", str(conf)]
    elif kind == "libmqtt-broker-p":
        cmd = [str(OURS_BIN), "-p", str(port)]
    elif kind == "example":
        cmd = [str(EXAMPLE_BIN), "--port", str(port)]
    else:
        raise ValueError(kind)

    def limits():
        if nofile:
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "w"), preexec_fn=limits)
    b = Broker(kind, proc, port, log)
    try:
        wait_port(port, proc)
    except RuntimeError as e:
        b.stop()
        raise RuntimeError(f"{kind}: {e}: {b.log_tail()}") from None
    return b


def ours_kind(logdir):
    """libmqtt-broker when it runs a mosquitto.conf (a TCP listener answers);
    else libmqtt-broker-p (`libmqtt-broker -p PORT`, its defaults, no file);
    else the example broker; else None."""
    if OURS_BIN.exists():
        for kind in ("libmqtt-broker", "libmqtt-broker-p"):
            port = free_port()
            conf = write_conf(Path(logdir) / "probe.conf", port)
            try:
                b = start(kind, conf, port, logdir)
                b.stop()
                return kind
            except (RuntimeError, OSError):
                pass
    if EXAMPLE_BIN.exists():
        return "example"
    return None


def build(no_build, log=print):
    """cargo build of libmqtt-broker (the example broker, the fallback, only
    when that fails)."""
    if no_build:
        return
    for cmd in (["cargo", "build", "--release", "--quiet", "-p", "libmqtt-broker"],
                ["cargo", "build", "--release", "--quiet", "-p", "mqtt-core", "--example", "broker"]):
        log("+ " + " ".join(cmd))
        if subprocess.run(cmd, cwd=ROOT, check=False).returncode == 0:
            return


def machine_line():
    cpu = "unknown CPU"
    try:
        for l in open("/proc/cpuinfo"):
            if l.startswith("model name"):
                cpu = l.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for l in open("/proc/meminfo"):
            if l.startswith("MemTotal"):
                mem = f", {int(l.split()[1]) / 1048576:.1f} GiB RAM"
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs (`nproc`), {cpu}{mem}; {platform.system()} {platform.release()}; "
            f"load average {os.getloadavg()[0]:.2f}")


def versions(kind):
    out = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True).stdout.splitlines()
    mosq = out[0].strip() if out else "mosquitto"
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    ours = {"libmqtt-broker": "`libmqtt-broker -c CONF`",
            "libmqtt-broker-p": "`libmqtt-broker -p PORT` (stand-in: it could not read the conf yet, so it ran "
                                "with its defaults, plain TCP; TLS and the conf's limits not applied)",
            "example": "the example broker `core/examples/broker.rs --port P` (stand-in: libmqtt-broker "
                       "could not run the conf; TLS and the conf's limits not applied)"}.get(kind, "—")
    return f"{mosq} (Debian, `{MOSQUITTO}`); ours: {ours}, libmqtt {head}, {rustc}, release"


def tmpdir(prefix):
    """A temporary directory mosquitto can read after dropping root."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return d
