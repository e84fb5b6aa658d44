"""The `[รับ n/ปี]` copy filed at intake is composed from what the stamp's transaction left
(inbound/stamp.py Stamped: no read transaction after it); composed again from the store, as
after a crash (intake/filing.py file_copy, stale_copies.current_copy), it must be the same
message, or the crash search would take the filed copy for an outdated one. On real Dovecot."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

import gateway.inbound.pipeline as pipeline_module
from gateway.core.compose import template_env
from gateway.inbound.pipeline import Pipeline
from tests.integration.test_copies_refreshed import _copies, registered_one
from tests.integration.test_corrections_imap import _text
from tests.integration.test_corrections_imap import site as site  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

HEADERS = ("Message-ID", "Subject", "Date", "From", "To", "X-Saraban-Letter", "X-Saraban-Receive-Number")


def _pdf(m: EmailMessage) -> bytes:
    (part,) = [p for p in m.iter_attachments() if p.get_content_type() == "application/pdf"]
    return part.get_content()  # type: ignore[no-any-return]


async def test_the_copy_filed_at_intake_is_the_copy_the_store_gives(site, dovecot,  # type: ignore[no-untyped-def]
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    handed: list[Any] = []
    real = pipeline_module.filed_copy

    async def spy(ctx: Any, letter_id: int, known: Any = None) -> Any:
        handed.append(known)
        return await real(ctx, letter_id, known=known)

    monkeypatch.setattr(pipeline_module, "filed_copy", spy)
    settings, user = site
    async with registered_one(settings, user, dovecot) as store:
        assert len(handed) == 1 and handed[0] is not None  # the intake used the hand-over
        (filed,) = _copies(dovecot, user, 1)
        made = await Pipeline.build(store, template_env()).registered_copy(1)  # from the store
        assert made is not None and handed[-1] is None
        again = email.message_from_bytes(made[0], policy=policy.default)
        assert [str(again[h]) for h in HEADERS] == [str(filed[h]) for h in HEADERS]
        assert _text(again) == _text(filed) and "ตรารับ" in str(list(filed.iter_attachments())[0].get_filename())
        assert _pdf(again) == _pdf(filed)
