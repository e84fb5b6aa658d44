"""Shift the wall clock of every Python process of a test run (`scripts/test --at INSTANT`).

`scripts/test --at` puts this folder on PYTHONPATH and sets SARABAN_TIME_SHIFT to the number of
seconds between the chosen instant and the real time when the run began. Every Python process
started under it (pytest, the gateways the tests start, their worker processes) imports this
module at start-up and travels by the same shift, ticking on: all of them agree on the shifted
time. Monotonic clocks (timeouts, asyncio) stay real, and so does everything that is not Python
(OpenSSL's certificate checks, Dovecot, PostgreSQL). time-machine is used, not libfaketime:
Debian 12's libfaketime breaks Python 3.11's timed waits.
"""

from __future__ import annotations

import os

_shift = os.environ.get("SARABAN_TIME_SHIFT")
if _shift:
    import time

    import time_machine

    _traveller = time_machine.travel(time.time() + float(_shift), tick=True)
    _traveller.start()
