"""Certificate revocation for incoming signatures: OCSP and CRL through pyHanko's fetchers,
bounded in time, and a record of what could not be fetched (issue #18).

pyhanko_certvalidator 0.33 (pyHanko 0.38) fetches with aiohttp (`AIOHttpFetcherBackend`,
`per_request_timeout` in seconds, `FetchLimits` on the number of requests). The gateway
builds the fetchers itself so that:

- OCSP and CRL are fetched only for certificates already on a path to a configured root:
  pyHanko checks revocation after the path is built, so every URL fetched was written by a
  CA the agency trusts. Issuer certificates are **not** fetched from AIA `caIssuers` URLs,
  which would let any sender's self-made certificate make the gateway request a URL of the
  sender's choice (intermediates travel inside the signature, as Thai CAs' signers embed them);
- a failed fetch is recorded per certificate, so the clerk's remark can say that revocation
  could not be checked, and not only that the signature is "not trusted";
- an HTTP proxy from the environment (`HTTP_PROXY`, `NO_PROXY`) is used, as offices often need.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias

import aiohttp
from asn1crypto import cms, crl, ocsp, x509
from pyhanko_certvalidator.authority import Authority
from pyhanko_certvalidator.errors import CRLFetchError, OCSPFetchError
from pyhanko_certvalidator.fetchers import (
    CertificateFetcher,
    CRLFetcher,
    Fetchers,
    OCSPFetcher,
)
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.api import FetchLimits
from pyhanko_certvalidator.util import issuer_serial

__all__ = ["Revocation", "RevocationMode", "RevocationNet"]

log = logging.getLogger(__name__)

AnyCert: TypeAlias = x509.Certificate | cms.AttributeCertificateV2


class RevocationMode(StrEnum):
    """`[intake] revocation`: what a signature is when OCSP/CRL cannot be fetched."""

    HARD_FAIL = "hard-fail"  # not trusted, with the reason (the default)
    SOFT_FAIL = "soft-fail"  # trusted, with a remark that revocation was not checked
    OFF = "off"  # never fetched; a remark says so


@dataclass(frozen=True)
class Revocation:
    """How incoming signatures' certificates are checked for revocation (picklable: it
    travels to the worker processes with the trust roots)."""

    mode: RevocationMode = RevocationMode.HARD_FAIL
    timeout_seconds: float = 5.0  # one OCSP or CRL request
    total_seconds: float = 15.0  # all fetching for one letter, every signature in it

    @property
    def fetching(self) -> bool:
        return self.mode is not RevocationMode.OFF

    @property
    def pyhanko_mode(self) -> str:
        return {RevocationMode.HARD_FAIL: "hard-fail", RevocationMode.SOFT_FAIL: "soft-fail",
                RevocationMode.OFF: "none"}[self.mode]

    @classmethod
    def from_settings(cls, mode: str, timeout_seconds: float) -> Revocation:
        # the whole letter gets three requests' worth: OCSP or CRL for signer and
        # intermediate, and a timestamp authority's certificate
        return cls(RevocationMode(mode), timeout_seconds, 3 * timeout_seconds)


# Far below pyHanko's defaults (1000 requests): a real chain needs a handful.
_LIMITS = FetchLimits(max_requests=12, max_aia_urls_per_object=2)


class _Record:
    """Which certificates' revocation information was fetched, and which failed."""

    def __init__(self) -> None:
        self.ok: set[bytes] = set()
        self.failed: dict[bytes, str] = {}

    def reset(self) -> None:
        self.ok.clear()
        self.failed.clear()

    def unavailable(self) -> list[str]:
        """Why revocation could not be checked, per certificate with no answer at all."""
        return [why for key, why in self.failed.items() if key not in self.ok]


class _RecordingOCSP(OCSPFetcher):
    def __init__(self, inner: OCSPFetcher, record: _Record) -> None:
        self.inner, self.record = inner, record

    async def fetch(self, cert: AnyCert, authority: Authority) -> ocsp.OCSPResponse:
        key = issuer_serial(cert)
        try:
            got = await self.inner.fetch(cert, authority)
        except Exception as exc:  # noqa: BLE001 - any failure is "could not fetch"
            self.record.failed.setdefault(key, f"OCSP: {exc!r}")
            if isinstance(exc, OCSPFetchError):
                raise
            raise OCSPFetchError(f"OCSP fetch failed: {exc!r}") from exc
        self.record.ok.add(key)
        return got

    def fetched_responses(self) -> Iterable[ocsp.OCSPResponse]:
        return self.inner.fetched_responses()

    def fetched_responses_for_cert(self, cert: AnyCert) -> Iterable[ocsp.OCSPResponse]:
        return self.inner.fetched_responses_for_cert(cert)


class _RecordingCRL(CRLFetcher):
    def __init__(self, inner: CRLFetcher, record: _Record) -> None:
        self.inner, self.record = inner, record

    async def fetch(self, cert: AnyCert, *, use_deltas: Any = None) -> Iterable[crl.CertificateList]:
        key = issuer_serial(cert)
        try:
            got = await self.inner.fetch(cert, use_deltas=use_deltas)
        except Exception as exc:  # noqa: BLE001
            self.record.failed.setdefault(key, f"CRL: {exc!r}")
            if isinstance(exc, CRLFetchError):
                raise
            raise CRLFetchError(f"CRL fetch failed: {exc!r}") from exc
        self.record.ok.add(key)
        return got

    def fetched_crls(self) -> Iterable[crl.CertificateList]:
        return self.inner.fetched_crls()

    def fetched_crls_for_cert(self, cert: AnyCert) -> Iterable[crl.CertificateList]:
        return self.inner.fetched_crls_for_cert(cert)


class _NoIssuerFetch(CertificateFetcher):
    """Issuer certificates come from the signature and the roots folder, never from a URL."""

    async def fetch_cert_issuers(self, cert: AnyCert) -> AsyncGenerator[x509.Certificate, None]:
        return
        yield  # an async generator that yields nothing

    async def fetch_crl_issuers(self, certificate_list: Any) -> AsyncGenerator[x509.Certificate, None]:
        return
        yield

    def fetched_certs(self) -> Iterable[x509.Certificate]:
        return ()


# The letter whose fetching created a task (the task factory below reads it in the creator's
# context), so that no task of pyHanko's outlives the signature it was started for.
_OWNER: contextvars.ContextVar[RevocationNet | None] = contextvars.ContextVar(
    "revocation_owner", default=None)


def _record_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Note in the current letter's `RevocationNet` every task created while it fetches.

    pyHanko races a certificate's OCSP URLs in tasks of its own (`ocsp_job_get_earliest`) and
    does not cancel them when it is itself cancelled, as the letter's time budget does. Such a
    task then ends on its own with aiohttp's TimeoutError, which nobody awaits: asyncio logs
    "Task exception was never retrieved" with a traceback, an ERROR in the operator's log for
    a letter that was handled as it should be. Installed once per loop; tasks created outside
    a letter's fetching are untouched."""
    previous = loop.get_task_factory()
    if getattr(previous, "records_revocation", False):
        return

    def factory(loop: asyncio.AbstractEventLoop, coro: Any,
                **kwargs: Any) -> asyncio.Future[Any]:
        task = (previous(loop, coro, **kwargs) if previous is not None
                else asyncio.Task(coro, loop=loop, **kwargs))
        owner = _OWNER.get()
        if owner is not None:
            owner.tasks.append(task)
        return task

    factory.records_revocation = True  # type: ignore[attr-defined]
    loop.set_task_factory(factory)


@dataclasses.dataclass
class RevocationNet:
    """The network side for one letter: one HTTP session and one request budget shared by
    its signatures; open inside the event loop that validates, close in the same loop."""

    policy: Revocation
    record: _Record = dataclasses.field(default_factory=_Record)
    _session: aiohttp.ClientSession | None = None
    _fetchers: Fetchers | None = None
    tasks: list[asyncio.Future[Any]] = dataclasses.field(default_factory=list)

    @contextlib.asynccontextmanager
    async def owning(self) -> AsyncIterator[None]:
        """Fetch inside this block; on leaving it (done, failed or cancelled by the budget)
        every task the fetching started is cancelled and awaited, its outcome retrieved."""
        _record_tasks(asyncio.get_running_loop())
        token = _OWNER.set(self)
        try:
            yield
        finally:
            _OWNER.reset(token)
            tasks, self.tasks = self.tasks, []
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def fetchers(self) -> Fetchers:
        if self._fetchers is None:
            self._session = aiohttp.ClientSession(trust_env=True)
            inner = AIOHttpFetcherBackend(self._session, self.policy.timeout_seconds,
                                          limits=_LIMITS).get_fetchers()
            self._fetchers = Fetchers(
                ocsp_fetcher=_RecordingOCSP(inner.ocsp_fetcher, self.record),
                crl_fetcher=_RecordingCRL(inner.crl_fetcher, self.record),
                cert_fetcher=_NoIssuerFetch(),
            )
        return self._fetchers

    def unavailable(self) -> list[str]:
        return self.record.unavailable()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
            self._fetchers = None
