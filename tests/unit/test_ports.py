"""Each adapter satisfies its port (gateway/ports.py): the members are there (`isinstance` on the
runtime-checkable Protocols) and each method takes the same parameters, async where the port's
is (what `isinstance` does not look at)."""

from __future__ import annotations

import datetime as dt
import inspect
import ssl
from pathlib import Path
from typing import Any

import pytest

from gateway import ports
from gateway.app import imap_client_factory, make_transport
from gateway.clock import system_clock
from gateway.config import Imap
from gateway.intake.imap_client import ImapClient
from gateway.outbound.sender import FolderTransport, RelayTransport
from tests.conftest import FakeClock, TickingClock, make_settings

START = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)
IMAP = Imap(name="central", host="imap.agency.test", user="saraban@agency.test",
            password_env="SARABAN_TEST_PORTS_PASSWORD")


def _methods(port: type) -> dict[str, Any]:
    return {name: member for name, member in vars(port).items()
            if callable(member) and (not name.startswith("_") or name == "__call__")}


def _same_shape(adapter: object, port: type) -> None:
    for name, wanted in _methods(port).items():
        if name != "__call__":
            target = getattr(adapter, name)
        else:  # a function is its own __call__; an object's is its class's
            target = adapter if inspect.isfunction(adapter) else type(adapter).__call__
        assert inspect.iscoroutinefunction(target) == inspect.iscoroutinefunction(wanted), name
        want = [(p.name, p.kind, p.default is not inspect.Parameter.empty)
                for p in inspect.signature(wanted).parameters.values() if p.name != "self"]
        have = [(p.name, p.kind, p.default is not inspect.Parameter.empty)
                for p in inspect.signature(target).parameters.values() if p.name != "self"]
        assert have == want, f"{type(adapter).__name__}.{name}{inspect.signature(target)}"


@pytest.mark.parametrize("clock", [system_clock, FakeClock(START), TickingClock(START)],
                         ids=["system", "fake", "ticking"])
def test_the_clocks_are_clocks(clock: ports.Clock) -> None:
    assert isinstance(clock, ports.Clock)
    _same_shape(clock, ports.Clock)
    assert clock().tzinfo is not None


def test_both_transports_are_outbox_transports(tmp_path: Path) -> None:
    relay = make_settings(tmp_path, relay={"mode": "smtp", "host": "relay.agency.test"}).relay
    for transport in (FolderTransport(tmp_path / "outbox"), RelayTransport(relay)):
        assert isinstance(transport, ports.OutboxTransport)
        _same_shape(transport, ports.OutboxTransport)


@pytest.mark.parametrize("mode,built", [("outbox-folder", FolderTransport), ("smtp", RelayTransport)])
def test_the_composition_root_picks_the_transport_the_settings_name(tmp_path: Path, mode: str,
                                                                     built: type) -> None:
    settings = make_settings(tmp_path, relay={"mode": mode, "host": "relay.agency.test"})
    assert isinstance(make_transport(settings), built)


def test_the_imap_client_is_a_mailbox_client(monkeypatch: pytest.MonkeyPatch) -> None:
    client = ImapClient(IMAP, "secret", ssl.create_default_context())
    assert isinstance(client, ports.MailboxClient)
    _same_shape(client, ports.MailboxClient)
    monkeypatch.setenv("SARABAN_TEST_PORTS_PASSWORD", "secret")
    made = imap_client_factory(IMAP)()  # not connected: connecting is the watcher's
    assert isinstance(made, ImapClient) and made.password == "secret"


def test_a_fake_with_another_shape_is_told_apart() -> None:
    class NotAClient:
        selected = None
        delimiter = "/"

    class OldTransport:  # delivers, but cannot say when the end of the message is near
        async def deliver(self, envelope: ports.Envelope, message: bytes) -> None: ...

    assert not isinstance(NotAClient(), ports.MailboxClient)
    assert isinstance(OldTransport(), ports.OutboxTransport)  # the names match ...
    with pytest.raises(AssertionError):
        _same_shape(OldTransport(), ports.OutboxTransport)  # ... the parameters do not
