"""Folder names between the gateway and a server's own layout (intake/imap_client.py): the
personal namespace's prefix (RFC 2342) and the \\Sent folder (RFC 6154), on answers as Courier,
Cyrus, Exchange and Gmail give them. The server side is tests/integration/test_imap_layouts.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.config import Imap
from gateway.intake.imap_client import ImapClient
from gateway.intake.mutf7 import encode_mailbox

IMAP = Imap(name="central", host="imap.agency.test", user="saraban@agency.test",
            password_env="SARABAN_TEST_NAMES_PASSWORD")
THAI = encode_mailbox("INBOX.ลงรับแล้ว").encode()  # quoted, in modified UTF-7, as on the wire


class _Resp:
    def __init__(self, lines: list[bytes]) -> None:
        self.lines, self.result = lines, "OK"


class _Server:
    """What aioimaplib hands back for NAMESPACE and LIST, as the server said it."""

    def __init__(self, namespace: bytes, listing: list[bytes], capabilities: frozenset[str] = frozenset({"NAMESPACE"})) -> None:
        self.namespace_line, self.listing, self.capabilities = namespace, listing, capabilities
        self.protocol: Any = type("P", (), {"closed": asyncio.get_running_loop().create_future()})()

    def has_capability(self, name: str) -> bool:
        return name in self.capabilities

    async def namespace(self) -> _Resp:
        return _Resp([self.namespace_line, b"NAMESPACE completed."])

    async def list(self, reference: str, pattern: str) -> _Resp:
        return _Resp([*self.listing, b"List completed."])


SERVERS = {
    "courier": (b'(("INBOX." ".")) NIL (("#shared." "."))', [
        rb'(\HasChildren) "." INBOX', rb'(\HasNoChildren) "." INBOX.Sent', rb'(\HasNoChildren) "." ' + THAI]),
    "exchange": (b'(("" "/")) NIL NIL', [
        rb'(\HasNoChildren) "/" INBOX', rb'(\HasNoChildren \Sent) "/" "Sent Items"',
        rb'(\HasNoChildren \Drafts) "/" Drafts']),
    "gmail": (b'(("" "/")) NIL NIL', [
        rb'(\HasNoChildren) "/" "INBOX"', rb'(\HasChildren \Noselect) "/" "[Gmail]"',
        rb'(\HasNoChildren \Sent) "/" "[Gmail]/Sent Mail"', rb'(\All \HasNoChildren) "/" "[Gmail]/All Mail"']),
    "two-sent": (b'(("" "/")) NIL NIL', [rb'(\Sent) "/" "Sent Items"', rb'(\Sent) "/" "Sent Messages"']),
}


async def _client(layout: str, capabilities: frozenset[str] = frozenset({"NAMESPACE"})) -> tuple[ImapClient, set[str]]:
    client = ImapClient(IMAP, "", ssl_context=None, sent="Sent")  # type: ignore[arg-type]
    client.client = _Server(*SERVERS[layout], capabilities=capabilities)
    await client._namespace()
    return client, await client.folders()


@pytest.mark.parametrize(("layout", "prefix", "delimiter", "names", "listed"), [
    ("courier", "INBOX.", ".", {"ลงรับแล้ว": "INBOX.ลงรับแล้ว", "Sent": "INBOX.Sent", "INBOX": "INBOX",
                               "INBOX.Sent": "INBOX.Sent"}, {"ลงรับแล้ว", "INBOX.ลงรับแล้ว", "Sent"}),
    ("exchange", "", "/", {"ลงรับแล้ว": "ลงรับแล้ว", "Sent": "Sent Items"}, {"Sent", "Sent Items"}),
    ("gmail", "", "/", {"Sent": "[Gmail]/Sent Mail", "ลงรับแล้ว": "ลงรับแล้ว"}, {"Sent"}),
    ("two-sent", "", "/", {"Sent": "Sent"}, set()),  # two marked \Sent: neither is guessed
])
async def test_names_on_the_server(layout: str, prefix: str, delimiter: str, names: dict[str, str],
                                   listed: set[str]) -> None:
    client, have = await _client(layout)
    assert (client.prefix, client.delimiter) == (prefix, delimiter)
    assert {ours: client.on_server(ours) for ours in names} == names
    assert listed <= have
    assert ("Sent" in have) == (layout != "two-sent")  # check says it found none there


async def test_a_server_without_namespace_keeps_the_names() -> None:
    client, _ = await _client("courier", capabilities=frozenset())
    assert client.prefix == "" and client.on_server("ลงรับแล้ว") == "ลงรับแล้ว"
