"""Which room of the gateway may import which (docs/architecture.md, "The rooms"): one check.

Every module under gateway/ and store/ (installed as gateway.store; walked once, as store/) is
parsed, and every import of the gateway's own modules in it — at any depth, lazy ones inside
functions included — must be allowed by RULES: the importing room's row names the room
imported. Always allowed besides: an import within one's own room; of the base (`core`, the
pure core, and `shared`, the small modules every room uses), which every room may import; and
of a pure module (tests/unit/test_purity.py PURE: data in, data out), wherever it lives.

Imports under `if TYPE_CHECKING:` count like the others: a type named is a dependency the
reader must follow, even if it is not run. The few that would not be allowed at run time and
are fine as names of types are listed in TYPING_ONLY, each with its reason.

The table in docs/architecture.md says the same (test_the_doc_says_the_same checks it), one
row per room; a new room, or a new kind of import between rooms, changes both.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from tests.unit.test_purity import PURE

REPO = Path(__file__).resolve().parents[2]
GATEWAY = REPO / "gateway"
STORE = REPO / "store"  # gateway/store is a symlink to it

# A module's room: the longest of these prefixes its dotted name starts with.
ROOM_OF = {
    # the base, which every room may import
    "gateway.core": "core", "gateway.xmlletter": "core", "gateway.letter": "core",
    "gateway.thai": "core", "gateway.state": "core", "gateway.b64": "core",
    **{f"gateway.{m}": "shared" for m in (
        "errors", "config", "resources", "clock", "ports", "envfaults", "progress", "reconnect",
        "wholefile", "directory", "passwords", "oauth", "workcalendar", "workers", "logabout")},
    # the rooms
    "gateway.pdf": "pdf",
    "gateway.trust": "trust",
    "gateway.store": "store",
    "gateway.outbound.sender": "sender",  # the outbox sender: mail queued by every room
    "gateway.reports": "reports",
    "gateway.forwarding": "forwarding",
    "gateway.outbound": "outbound",
    "gateway.inbound": "inbound",
    "gateway.intake": "intake",
    "gateway.ops": "ops",
    "gateway.app": "app",
    "gateway.service": "service",
    "gateway.cli": "cli", "gateway.__main__": "cli",
}
BASE = {"core", "shared"}

# room → the rooms it may import, besides its own, the base and pure modules. Lowest first.
RULES: dict[str, set[str]] = {
    "pdf": set(),
    "trust": set(),
    "store": {"trust"},  # the install secret the store carries (trust/secret.py)
    "sender": {"store"},
    "reports": {"store", "sender", "pdf", "trust"},
    "forwarding": {"store", "sender", "trust"},
    "outbound": {"store", "sender", "forwarding", "pdf", "trust"},
    "inbound": {"store", "sender", "outbound", "forwarding", "reports", "pdf", "trust"},
    "intake": {"inbound", "outbound", "store", "trust"},
    "ops": {"intake", "sender", "store"},
}
ROOMS = [*RULES, "app", "service", "cli"]
RULES["app"] = set(RULES)  # the composition root builds every room
RULES["service"] = RULES["app"] | {"app"}  # runs what app built: its loops and housekeeping
RULES["cli"] = RULES["service"] | {"service"}  # parts from app; calls rooms' functions itself

# (importing module, imported module): allowed under `if TYPE_CHECKING:` only.
TYPING_ONLY = {
    # the ports name the types their Protocols pass (LetterIntake → DeskOutcome; the Store)
    ("gateway.ports", "gateway.inbound.corrections"),
    ("gateway.ports", "gateway.store.handle"),
    # Returns is built by the incoming flow, handed its context and feedback, and calls them
    ("gateway.outbound.returns", "gateway.inbound.context"),
    ("gateway.outbound.returns", "gateway.inbound.feedback"),
}


def dotted(path: Path) -> str:
    root, prefix = (STORE, ("gateway", "store")) if path.is_relative_to(STORE) else (REPO, ())
    parts = (*prefix, *path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> Iterator[Path]:
    yield from (p for p in sorted(GATEWAY.rglob("*.py")) if p.relative_to(GATEWAY).parts[0] != "store")
    yield from sorted(STORE.rglob("*.py"))


MODULES = {dotted(p): p for p in sources()}
PURE_NAMES = {dotted(p) for p in PURE}


def room_of(name: str) -> str | None:
    while name:
        if name in ROOM_OF:
            return ROOM_OF[name]
        name = name.rpartition(".")[0]
    return None


def imports(name: str, source: str) -> Iterator[tuple[int, str, bool]]:
    """Each import of a gateway module in `source`: (line, imported module, typing only)."""
    tree = ast.parse(source)
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}:
            typing_only |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    package = name if MODULES.get(name, Path()).name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, one level up per extra dot
                up = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{up}.{base}" if base else up
            # `from gateway.x import y`: y is a module of its own, or a name in gateway.x
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in dict.fromkeys(targets):  # `from m import a, b`: m once
            target = re.sub(r"^store\b", "gateway.store", target)
            if target == "gateway" or target.startswith("gateway."):
                yield node.lineno, target, id(node) in typing_only


def offences(name: str, source: str, label: str) -> list[str]:
    """What in `source` (the module `name`) imports a room its room may not import."""
    room = room_of(name)
    found = []
    for line, target, typing_only in imports(name, source):
        other = room_of(target)
        if (other is None or other == room or other in BASE or target in PURE_NAMES
                or name in PURE_NAMES  # checked, more strictly, by test_purity.py
                or (room is not None and other in RULES.get(room, set()))
                or (typing_only and (name, target) in TYPING_ONLY)):
            continue
        found.append(f"{label}:{line}: {name} ({room}) imports {target} ({other})"
                     + (" under TYPE_CHECKING" if typing_only else ""))
    return found


def test_every_import_between_rooms_is_allowed() -> None:
    found = [o for name, path in MODULES.items()
             for o in offences(name, path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))]
    assert not found, "imports the room table does not allow:\n" + "\n".join(found)


def test_every_module_has_a_room() -> None:
    homeless = sorted(n for n in MODULES if n != "gateway" and room_of(n) is None)
    assert not homeless, f"modules in no room (add them to ROOM_OF and the doc's table): {homeless}"


def test_the_rooms_are_layers() -> None:
    """No two rooms may import each other, however indirectly: each row names only rooms above it."""
    seen: set[str] = set()
    for room in ROOMS:
        assert RULES[room] <= seen, f"{room} may import {sorted(RULES[room] - seen)}, not listed before it"
        seen.add(room)


def test_the_check_finds_an_upward_import() -> None:
    text = ("from typing import TYPE_CHECKING\n"
            "from gateway.store.tables import Letter\n"  # a room below: allowed
            "from gateway.core.parse import parse_message\n"  # the base
            "from gateway.outbound import rules\n"  # a pure module of another room
            "from gateway.intake.imap import Watcher\n"  # intake is above inbound
            "if TYPE_CHECKING:\n    from gateway.ops.health import HealthCheck\n"
            "def f():\n    import gateway.app\n    from . import context\n")
    assert offences("gateway.inbound.bad", text, "bad.py") == [
        "bad.py:5: gateway.inbound.bad (inbound) imports gateway.intake.imap (intake)",
        "bad.py:7: gateway.inbound.bad (inbound) imports gateway.ops.health (ops) under TYPE_CHECKING",
        "bad.py:9: gateway.inbound.bad (inbound) imports gateway.app (app)",
    ]


def test_the_doc_says_the_same() -> None:
    """docs/architecture.md's room table: one row per room, `room` first; its "may import"
    names the same rooms ("every room but …" for the top three: all rooms but those named)."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text.split("## The rooms", 1)[1].split("\n## ", 1)[0]
    doc: dict[str, set[str]] = {}
    for row in re.findall(r"^\| (`[^|]+)\|[^|]*\|([^|]*)\|", table, re.M):
        room = re.findall(r"`([^`]+)`", row[0])[0]
        named = set(re.findall(r"`([^`]+)`", row[1]))
        doc[room] = set(ROOMS) - {room} - named if row[1].strip().startswith("every room") else named
    assert set(doc) == set(ROOMS) | BASE
    assert {room: doc[room] for room in ROOMS} == RULES
