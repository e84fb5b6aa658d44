"""What every step of the incoming flow shares: the store, templates, reading settings, the
acknowledgement policy and the units; built once from Settings by `Inbound.build`.

The steps are small classes in their own modules (record, feedback, stamp, filed_copy, clerk,
and outbound/returns for what comes back for letters we sent); each holds this context and
nothing else, so a test can build any one of them alone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from gateway import workers
from gateway.core.classify import Policy
from gateway.forwarding.units import Units
from gateway.inbound.stamp import StampSettings
from gateway.pdf.revocation import Revocation
from gateway.pdf.roots import RootsFolder, read_roots_folder
from gateway.pdf.stamp import Corner, StampStyle
from gateway.store.handle import Store
from gateway.xmlletter import XmlResources, default_resources


@dataclass
class Inbound:
    store: Store
    templates: jinja2.Environment
    xml_resources: XmlResources
    trust_roots: tuple[bytes, ...]
    stamp: StampSettings
    policy: Policy
    units: Units
    receive_notifier: bool = False
    # > 0: messages are read, stamped and the filed copies composed in worker processes
    read_processes: int = 0
    # set by the service: mail was queued, the outbox sender should look now
    wake_sender: asyncio.Event | None = field(default=None)
    # OCSP/CRL for incoming signatures ([intake] revocation)
    revocation: Revocation = field(default_factory=Revocation)

    @property
    def authserv_ids(self) -> frozenset[str]:
        """Whose Authentication-Results are believed on a stored message: the gateway's own
        (its listener's host name) and the agency MX's, when configured."""
        s = self.store.settings
        return frozenset(x for x in (s.smtp_listener.hostname, s.authentication.authserv_id) if x)

    def wake(self) -> None:
        if self.wake_sender is not None:
            self.wake_sender.set()

    @classmethod
    def build(cls, store: Store, templates: jinja2.Environment) -> Inbound:
        s = store.settings
        roots = trust_roots_of(s.base_dir, s.intake.trust_roots_dir)
        style = StampStyle(
            corner=Corner(s.intake.stamp_corner),
            margin_x=s.intake.stamp_margin,
            margin_y=s.intake.stamp_margin,
            font_path=str(s.intake.stamp_font) if s.intake.stamp_font else None,
            placement=s.intake.stamp_placement,
        )
        return cls(
            store=store,
            templates=templates,
            xml_resources=default_resources(),
            trust_roots=roots.ders if roots is not None else (),
            stamp=StampSettings(style, s.agency.name_th, s.agency.thai_digits),
            policy=Policy(
                central_addresses=s.agency.central_addresses,
                ack_disabled_domains=tuple(d.lower() for d in s.intake.ack_disabled_domains),
                max_message_bytes=s.smtp_listener.max_message_bytes,
                auth_enforce=s.authentication.mode == "enforce",
                auth_none_review=s.authentication.none_action == "review",
            ),
            units=Units(store, templates),
            receive_notifier=s.intake.receive_notifier,
            read_processes=workers.auto_processes(s.intake.read_memory_mb) if s.intake.read_processes is None
            else s.intake.read_processes,
            revocation=Revocation.from_settings(s.intake.revocation,
                                                s.intake.revocation_timeout_seconds),
        )


def trust_roots_of(base_dir: Path, trust_roots_dir: Path | None) -> RootsFolder | None:
    """The CA certificates of `[intake] trust_roots_dir` (None when not set); files that
    cannot be used are logged and skipped (`saraban-gateway check` lists them)."""
    if trust_roots_dir is None:
        return None
    return read_roots_folder((base_dir / trust_roots_dir).resolve())
