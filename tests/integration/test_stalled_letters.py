"""Letters the listeners kept and could not decide are tried again while the gateway runs
(inbound/attempts.retry_stalled, called by the housekeeping when the queue is empty), not only at the
next start: after 2, 4, 8 … minutes; one that always fails ends in review with a Thai reason
after `max_attempts`; a mailbox's letters are left to the next IMAP round; one process of a
deployment does it at a time. On SQLite and PostgreSQL (the `store` fixture's db_url)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from gateway.core.compose import template_env
from gateway.inbound.attempts import retry_stalled
from gateway.inbound.pipeline import Pipeline
from gateway.service import accept_smtp
from gateway.store.tables import Letter
from tests.conftest import FakeClock
from tests.corpus.mail import letter_mail, numbered_letter_pdf

SENDER, TO = "saraban@obec.go.th", ["saraban@agency.test"]


async def _state(store, letter_id: int) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    async with store.readers() as s:
        letter = await s.get(Letter, letter_id)
        assert letter is not None
        return letter.state, letter.attempts


async def test_a_letter_whose_reading_failed_is_read_again_after_its_rest(
        store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    lid = await accept_smtp(store, letter_mail(numbered_letter_pdf(1)), SENDER, TO)
    pipeline = Pipeline.build(store, template_env())
    real_read = Pipeline._read

    async def broken(self: Pipeline, raw: bytes, digest: str, now):  # type: ignore[no-untyped-def]
        raise ValueError("the reader tripped once")

    monkeypatch.setattr(Pipeline, "_read", broken)
    assert await pipeline.process(lid) == "received"  # the listener's worker: one attempt used
    monkeypatch.setattr(Pipeline, "_read", real_read)
    assert await retry_stalled(store, pipeline.process, holder="a") == []  # just tried
    clock.advance(minutes=3)
    assert await retry_stalled(store, pipeline.process, holder="a") == []  # one attempt: it rests 4 minutes
    clock.advance(minutes=2)
    assert await retry_stalled(store, pipeline.process, holder="a") == [lid]
    assert await _state(store, lid) == ("registered", 1)
    clock.advance(minutes=60)
    assert await retry_stalled(store, pipeline.process, holder="a") == []  # decided: nothing more


async def test_a_letter_that_always_fails_ends_in_review_not_tried_forever(
        store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    lid = await accept_smtp(store, letter_mail(numbered_letter_pdf(2)), SENDER, TO)
    pipeline = Pipeline.build(store, template_env())

    async def failing(self, s, letter_id, ex, envelope_from, now):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug in deciding")

    monkeypatch.setattr(Pipeline, "_decide", failing)
    with pytest.raises(RuntimeError):
        await pipeline.process(lid)  # the listener's worker logs it; nothing counted
    assert await _state(store, lid) == ("received", 0)
    max_attempts = store.settings.intake.max_attempts
    tries = 0
    for _ in range(40):
        clock.advance(minutes=61)
        tries += len(await retry_stalled(store, pipeline.process, holder="a"))
        if (await _state(store, lid))[0] != "received":
            break
    assert tries == max_attempts
    assert await _state(store, lid) == ("review", max_attempts)
    async with store.readers() as s:
        letter = await s.get(Letter, lid)
        assert letter is not None and f"ไม่สำเร็จ {max_attempts} ครั้ง" in (letter.review_reason or "")


async def test_mailbox_letters_are_left_to_the_round_and_one_process_retries_at_a_time(
        store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    from_mailbox = await accept_smtp(store, letter_mail(numbered_letter_pdf(3)), SENDER, TO)
    async with store.sessions.begin() as s:  # as if fetched by IMAP: the next round finishes it
        await s.execute(update(Letter).where(Letter.id == from_mailbox).values(channel="imap"))
    kept = await accept_smtp(store, letter_mail(numbered_letter_pdf(4)), SENDER, TO)
    first, second = (Pipeline.build(store, template_env()) for _ in range(2))
    clock.advance(minutes=3)
    seen: list[int] = []
    real_process = Pipeline.process

    async def process(self: Pipeline, letter_id: int, **kw):  # type: ignore[no-untyped-def]
        seen.append(letter_id)
        assert await retry_stalled(store, second.process, holder="b") == []  # the first holds the turn
        return await real_process(self, letter_id, **kw)

    monkeypatch.setattr(Pipeline, "process", process)
    assert await retry_stalled(store, first.process, holder="a") == [kept]
    assert seen == [kept]
    assert (await _state(store, kept))[0] == "registered"
    assert (await _state(store, from_mailbox))[0] == "received"
