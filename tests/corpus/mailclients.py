"""Driving a real mail client the way a person does, for fixtures (scripts/make-thunderbird,
scripts/make-claws): in a network namespace of its own with loopback only, under Xvfb, its
outgoing server an SMTP sink on 127.0.0.1 that keeps what the client sent byte for byte.

Not used by the tests: the fixtures the scripts make are committed. Needs, as root, util-linux's
unshare, xvfb, xdotool and xclip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path


class Sink:
    """SMTP on 127.0.0.1 that keeps the messages a client sends, byte for byte."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.got: list[bytes] = []
        self.arrived = threading.Event()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
                sink.got.append(envelope.original_content or envelope.content)
                sink.arrived.set()
                return "250 kept"

        with socket.socket() as probe:  # a free port (aiosmtpd's controller needs its number)
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     decode_data=False, enable_SMTPUTF8=True)
        self.controller.start()

    def first(self, what: str, seconds: float = 60) -> bytes:
        """The first message sent, once it has come."""
        if not self.arrived.wait(seconds):
            raise SystemExit(f"{what}: the client sent nothing")
        return self.got[0]

    def stop(self) -> None:
        self.controller.stop()


def in_own_namespace() -> bool:
    """Only the loopback interface is here (unshare -n)."""
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]  # this namespace's, unlike /sys
    return [line.split(":")[0].strip() for line in lines] == ["lo"]


def own_namespace(*tools: str) -> None:
    """This script again in a network namespace with loopback only (the client's update and
    telemetry calls go nowhere), once; then the tools it needs, or why not."""
    if not in_own_namespace():
        os.execvp("unshare", ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
                              sys.executable, *sys.argv])
    for tool in ("Xvfb", "xdotool", "xclip", *tools):
        if shutil.which(tool) is None:
            raise SystemExit(f"needs {tool}")


@contextlib.contextmanager
def display(number: str) -> Iterator[dict[str, str]]:
    """An Xvfb display, and the environment a client runs in on it (Bangkok time)."""
    xvfb = subprocess.Popen(["Xvfb", number, "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        yield {**os.environ, "DISPLAY": number, "TZ": "Asia/Bangkok"}
    finally:
        xvfb.terminate()


def stop(client: subprocess.Popen[bytes]) -> None:
    """The client ended, killed if it will not go (a client left running burns a core)."""
    client.terminate()
    try:
        client.wait(20)
    except subprocess.TimeoutExpired:
        client.kill()


def wait_window(env: dict[str, str], pattern: str, *, seconds: float = 60) -> str:
    """The id of a window whose name matches `pattern` (a regular expression), once it is there."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = subprocess.run(["xdotool", "search", "--name", pattern], env=env, capture_output=True,
                               text=True, timeout=10).stdout.split()
        if found:
            return found[-1]
        time.sleep(0.5)
    names = subprocess.run(["xdotool", "search", "--name", ".", "getwindowname", "%@"], env=env,
                           capture_output=True, text=True, timeout=10).stdout.split("\n")
    raise SystemExit(f"no window named like {pattern!r}; there are {sorted(set(names))}")


def key(env: dict[str, str], *keys: str, window: str = "") -> None:
    """Keys pressed: sent to `window`, or (none given) to the window that has the focus."""
    target = ["--window", window] if window else []
    subprocess.run(["xdotool", "key", *target, *keys], env=env, check=True, capture_output=True,
                   timeout=10)


def paste(env: dict[str, str], text: str, *, window: str = "", settle: float = 2) -> None:
    """Text put where the cursor is, as a person pastes it (Thai typed by xdotool is unreliable).
    xclip stays behind as the clipboard's owner: its output is not waited for."""
    subprocess.run(["xclip", "-selection", "clipboard", "-i"], input=text.encode(), env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=10)
    key(env, "ctrl+v", window=window)
    time.sleep(settle)
