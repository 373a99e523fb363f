"""A real TURN relay for the tests: Debian's coturn (/usr/bin/turnserver) on 127.0.0.1, with a shared
secret (``use-auth-secret``, the TURN REST API scheme the app's dashboard.turn issues credentials for).

Started by the tests themselves on a free port, never as a system service; ``.ci/run`` installs the
package. Options: ``--allow-loopback-peers`` (the app's server and the browser are both on 127.0.0.1,
which coturn refuses as a peer by default), ``--verbose`` (coturn logs allocations only then),
no TLS/DTLS listeners (no certificate needed), no telnet CLI.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import end_process_group

TURNSERVER = os.environ.get("E2E_TURNSERVER", "/usr/bin/turnserver")
REALM = "fer.test"
# coturn (with --verbose) logs a granted allocation as "... user <1796221838:t>: incoming packet ALLOCATE
# processed, success" and refuses stale or forged credentials with "check_stun_auth: Cannot find credentials".
ALLOCATION_RE = re.compile(r"ALLOCATE processed, success", re.I)


def free_udp_tcp_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port for coturn")


class Coturn:
    """One turnserver process on 127.0.0.1:``port`` with shared secret ``secret``; logs to ``log_path``."""

    def __init__(self, secret: str, log_path: Path, port: int | None = None):
        self.secret = secret
        self.log_path = Path(log_path)
        self.port = port or free_udp_tcp_port()
        self.url = f"turn:127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [TURNSERVER, "-n",  # -n: no configuration file (not /etc/turnserver.conf)
                "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", str(self.port),
                "--min-port", "40000", "--max-port", "49999",
                "--use-auth-secret", f"--static-auth-secret={self.secret}", "--realm", REALM,
                "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli", "--verbose",
                "--log-file", "stdout", "--simple-log", "--pidfile", str(self.log_path.with_suffix(".pid")),
                "--no-stun-backward-compatibility"]

    def start(self, timeout: float = 20) -> "Coturn":
        if not os.access(TURNSERVER, os.X_OK):
            pytest.fail(f"{TURNSERVER} is missing: install Debian's coturn with `apt-get install -y coturn`")
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # listening once a TCP connect succeeds
            if (code := self.proc.poll()) is not None:
                self.stop()  # closes the log file
                raise RuntimeError(f"turnserver exited with code {code}:\n{self.log()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"turnserver did not listen on {self.port} within {timeout:.0f} s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        end_process_group(proc)  # SIGKILL at once: test_e2e_turn's relay "dies" mid-stream
        self._log.close()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def allocations(self) -> int:
        """How many allocations coturn has granted so far (by its log)."""
        return len(ALLOCATION_RE.findall(self.log()))
