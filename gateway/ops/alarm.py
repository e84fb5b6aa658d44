"""The alarm's second way out: the mail to the central mailbox may not arrive when the mailbox
is the thing that is down, so an alarm also runs `[alarm] command` and/or POSTs to the webhook.

The command is an argv list run without a shell, with the alarm text (Thai, the mail's subject
and body) on stdin and in $SARABAN_ALARM_TEXT (its subject alone in $SARABAN_ALARM_SUBJECT),
killed after `timeout_seconds`. The webhook's URL is read from the environment variable
`webhook_env` names (it often carries a secret) and gets a JSON object. Each is tried once
per alarm (the caller raises one alarm per episode); a failure is logged, never raised: the
alarm mail is queued regardless.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from gateway.config import AlarmChannels
from gateway.ops.metrics import AlarmRecord

__all__ = ["AlarmOut", "post_json", "run_command"]

log = logging.getLogger("saraban-gateway.alarm")

_MAX_STDERR = 2000


async def run_command(argv: tuple[str, ...], text: str, subject: str, timeout: float) -> int | None:
    """Run the hook; its exit status (None: it could not be started or did not finish)."""
    env = {**os.environ, "SARABAN_ALARM_TEXT": text, "SARABAN_ALARM_SUBJECT": subject}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True)
    except OSError as exc:
        log.error("alarm command %s could not be started: %s", argv[0], exc)
        return None
    try:
        _, err = await asyncio.wait_for(proc.communicate(text.encode("utf-8")), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        log.error("alarm command %s did not finish within %g s; killed", argv[0], timeout)
        return None
    if proc.returncode != 0:
        log.error("alarm command %s exited with %s: %s", argv[0], proc.returncode,
                  err[-_MAX_STDERR:].decode("utf-8", "replace").strip())
    return proc.returncode


def _post(url: str, data: bytes, timeout: float) -> int:
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8",
                                              "User-Agent": "saraban-gateway"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (scheme checked)
        status: int = answer.status
        return status


async def post_json(url: str, payload: dict[str, Any], timeout: float) -> int | None:
    """POST `payload`; the HTTP status (None: not delivered). The URL is never logged whole."""
    parts = urllib.parse.urlsplit(url)
    shown = f"{parts.scheme}://{parts.hostname or '?'}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        log.error("alarm webhook: not an http(s) URL (%s)", shown)
        return None
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    try:
        return await asyncio.wait_for(asyncio.to_thread(_post, url, data, timeout), timeout + 1)
    except (OSError, TimeoutError, ValueError) as exc:  # urllib's HTTPError is an OSError
        log.error("alarm webhook %s failed: %s", shown, getattr(exc, "code", None) or type(exc).__name__)
        return None


@dataclass
class AlarmOut:
    """Every channel an alarm goes out through besides the mail, and the record /metrics shows."""

    cfg: AlarmChannels
    record: AlarmRecord = field(default_factory=AlarmRecord)

    def describe(self) -> list[str]:
        out = []
        if self.cfg.command:
            out.append(f"command {self.cfg.command[0]}")
        if self.cfg.webhook_env:
            out.append(f"webhook ${self.cfg.webhook_env}")
        return out

    async def send(self, subject: str, body: str, *, when: dt.datetime, about: dict[str, Any]) -> None:
        self.record.add(when)
        text = f"{subject}\n\n{body}"
        jobs = []
        if self.cfg.command:
            jobs.append(run_command(self.cfg.command, text, subject, self.cfg.timeout_seconds))
        if self.cfg.webhook_env:
            url = os.environ.get(self.cfg.webhook_env, "")
            if not url:
                log.error("alarm webhook: environment variable %s is not set", self.cfg.webhook_env)
            else:
                payload = {"subject": subject, "text": body, "time": when.isoformat(), **about}
                jobs.append(post_json(url, payload, self.cfg.timeout_seconds))
        await asyncio.gather(*jobs)
