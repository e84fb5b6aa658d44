"""The digital signatures of a PDF that arrived: are they genuine, and what a clerk is told.

Judged with pyHanko's validator on the bytes as they arrived, before anything is stamped.
Trust comes only from the roots the caller passes in (`[intake] trust_roots_dir`, see
docs/trust-roots.md). Certificate revocation is checked over the network by OCSP/CRL as
`Revocation` says (gateway.pdf.revocation: time-bounded, hard-fail by default); a revoked
certificate is always reported so. CPU-bound and synchronous apart from pyHanko's own
coroutine and those fetches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.validation import (
    EmbeddedPdfSignature,
    PdfSignatureStatus,
    SignatureCoverageLevel,
    async_validate_pdf_signature,
)
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext

from gateway.pdf.revocation import Revocation, RevocationMode, RevocationNet
from gateway.pdf.roots import parse_certificates

__all__ = [
    "Coverage",
    "Modification",
    "RevocationStatus",
    "SignatureCheck",
    "Verdict",
    "collect_signatures",
    "load_trust_roots",
    "validate_signatures",
]

log = logging.getLogger(__name__)

class Coverage(StrEnum):
    """How much of the file the signature's byte range covers."""

    ENTIRE_FILE = "entire_file"
    ENTIRE_REVISION = "entire_revision"  # later incremental updates exist
    PARTIAL = "partial"  # the byte range leaves out more than the signature itself


class Modification(StrEnum):
    """What later revisions changed (pyHanko's diff analysis, ModificationLevel)."""

    NONE = "none"
    LTA_UPDATES = "lta_updates"  # validation data and document timestamps only
    FORM_FILLING = "form_filling"  # further signatures, form fields
    ANNOTATIONS = "annotations"  # comments, when the signer allowed them
    OTHER = "other"  # anything else: page content, new pages...
    UNKNOWN = "unknown"


class Verdict(StrEnum):
    VALID = "valid"
    UNKNOWN_ISSUER = "unknown_issuer"  # intact, but no configured root vouches for it
    REVOCATION_UNKNOWN = "revocation_unknown"  # intact, chains to a root, OCSP/CRL unreachable
    #                                            (hard-fail): not trusted, not broken either
    CERT_PROBLEM = "cert_problem"  # chains to a root but expired, wrong usage...
    REVOKED = "revoked"  # the signer's (or a CA's) certificate is revoked: broken
    MODIFIED = "modified"  # signed bytes intact, later changes exceed what is allowed
    TAMPERED = "tampered"  # signed bytes changed, or the signature value is wrong
    UNREADABLE = "unreadable"  # the signature object itself could not be evaluated


class RevocationStatus(StrEnum):
    """What became of the revocation check of the signer's chain."""

    CHECKED = "checked"  # OCSP/CRL answered (or the certificates name no OCSP/CRL at all)
    REVOKED = "revoked"
    UNAVAILABLE = "unavailable"  # could not be fetched in time
    NOT_CHECKED = "not_checked"  # [intake] revocation = "off"
    NOT_REACHED = "not_reached"  # no path to a trusted root, so nothing to check


@dataclass(frozen=True)
class SignatureCheck:
    field_name: str
    signer_name: str  # certificate common name; "" if the certificate has none
    signer_subject: str  # full subject, RFC 4514 order as printed by asn1crypto
    issuer_subject: str
    signing_time: datetime | None  # trusted timestamp if any, else what the signer claims
    timestamped: bool  # carries an RFC 3161 signature timestamp (PAdES B-T)
    intact: bool  # the digest of the signed byte range matches
    valid: bool  # the signature value over the signed attributes verifies
    coverage: Coverage
    modification: Modification
    changed_beyond_allowed: bool  # later revisions changed more than the signature permits
    trusted: bool  # chains to a configured trust root, and not shown revoked
    verdict: Verdict
    summary_th: str  # one line a clerk can read, for remarks and acknowledgements
    summary_en: str
    revocation: RevocationStatus = RevocationStatus.NOT_REACHED

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.VALID

    @property
    def revoked(self) -> bool:
        return self.verdict is Verdict.REVOKED



_SUMMARY: dict[Verdict, tuple[str, str]] = {
    Verdict.VALID: (
        "ลายมือชื่อดิจิทัลถูกต้อง ผู้ลงนาม {name}",
        "valid digital signature by {name}",
    ),
    Verdict.UNKNOWN_ISSUER: (
        "ลายมือชื่อดิจิทัลของ {name} ไม่ถูกแก้ไข แต่ไม่ทราบผู้ออกใบรับรอง",
        "signature by {name} is intact, but its certificate issuer is not a trusted root",
    ),
    Verdict.REVOCATION_UNKNOWN: (
        "ลายมือชื่อดิจิทัลของ {name} ไม่ถูกแก้ไข แต่ตรวจสอบการเพิกถอนใบรับรองไม่ได้ จึงยังเชื่อถือไม่ได้",
        "signature by {name} is intact, but the revocation of its certificate could not be "
        "checked ({detail})",
    ),
    Verdict.REVOKED: (
        "ลายมือชื่อดิจิทัลของ {name} ใช้ไม่ได้ ใบรับรองถูกเพิกถอน{detail}",
        "the certificate of {name} (or of its CA) is revoked",
    ),
    Verdict.CERT_PROBLEM: (
        "ใบรับรองของผู้ลงนาม {name} ใช้ไม่ได้ ({detail})",
        "the certificate of {name} is not acceptable ({detail})",
    ),
    Verdict.MODIFIED: (
        "เอกสารถูกแก้ไขหลังลงนาม (มีการเปลี่ยนแปลงเกินกว่าที่ลายมือชื่อของ {name} อนุญาต)",
        "document modified after signing: later changes exceed what {name}'s signature allows",
    ),
    Verdict.TAMPERED: (
        "เอกสารถูกแก้ไขหลังลงนาม ลายมือชื่อดิจิทัลของ {name} ไม่ตรงกับเนื้อหา",
        "document altered after signing: the signature of {name} does not match the content",
    ),
    Verdict.UNREADABLE: (
        "อ่านลายมือชื่อดิจิทัล {name} ไม่ได้",
        "signature {name} could not be read ({detail})",
    ),
}

_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: Coverage.ENTIRE_FILE,
    SignatureCoverageLevel.ENTIRE_REVISION: Coverage.ENTIRE_REVISION,
}

_MODIFICATION = {
    ModificationLevel.NONE: Modification.NONE,
    ModificationLevel.LTA_UPDATES: Modification.LTA_UPDATES,
    ModificationLevel.FORM_FILLING: Modification.FORM_FILLING,
    ModificationLevel.ANNOTATIONS: Modification.ANNOTATIONS,
    ModificationLevel.OTHER: Modification.OTHER,
}

# Agencies' certificates carry digitalSignature, nonRepudiation or both; pyHanko's
# default demands nonRepudiation alone, which would mark many genuine ones untrusted.
_KEY_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
)


def load_trust_roots(blobs: Sequence[bytes]) -> list[x509.Certificate]:
    """Parse DER or PEM CA certificates (a PEM blob may hold several).

    Raises ValueError on a blob that is not a certificate: that is a configuration
    error to report at start-up, not a property of any letter.
    """
    return [cert for blob in blobs for cert in parse_certificates(blob)]


def _name(cert: x509.Certificate) -> str:
    try:
        cn = cert.subject.native.get("common_name", "")
    except Exception:  # noqa: BLE001 - a malformed subject must not sink the report
        return ""
    return cn[0] if isinstance(cn, list) else str(cn)


def _human(name: x509.Name) -> str:
    try:
        return str(name.human_friendly)
    except Exception:  # noqa: BLE001
        return ""


_REVOCATION_NOTE = {
    RevocationStatus.UNAVAILABLE: (" (ตรวจสอบการเพิกถอนใบรับรองไม่ได้)",
                                   " (revocation could not be checked)"),
    RevocationStatus.NOT_CHECKED: (" (ไม่ได้ตรวจสอบการเพิกถอนใบรับรอง)",
                                   " (revocation not checked: turned off)"),
}


def _summary(verdict: Verdict, name: str, detail: str = "",
             revocation: RevocationStatus | None = None) -> tuple[str, str]:
    th, en = _SUMMARY[verdict]
    shown = name or "(ไม่ระบุชื่อ)"
    th, en = th.format(name=shown, detail=detail), en.format(name=name or "(no name)", detail=detail)
    if verdict is Verdict.VALID and revocation in _REVOCATION_NOTE:
        note_th, note_en = _REVOCATION_NOTE[revocation]
        th, en = th + note_th, en + note_en
    return th, en


@dataclass(frozen=True)
class _Outcome:
    """pyHanko's status of one signature, and what became of its revocation check."""

    status: PdfSignatureStatus
    unavailable: tuple[str, ...]  # why OCSP/CRL could not be had; () when it could
    checked: bool  # revocation was looked up at all (not "off")


def _revocation(out: _Outcome) -> RevocationStatus:
    st = out.status
    if st.revoked:
        return RevocationStatus.REVOKED
    if not out.checked:
        return RevocationStatus.NOT_CHECKED
    if out.unavailable:
        return RevocationStatus.UNAVAILABLE
    return RevocationStatus.CHECKED if st.trusted else RevocationStatus.NOT_REACHED


def _verdict(out: _Outcome, changed: bool, policy: Revocation,
             rev: RevocationStatus) -> tuple[Verdict, str]:
    status = out.status
    if not (status.intact and status.valid):
        return Verdict.TAMPERED, ""
    if rev is RevocationStatus.REVOKED:
        details = status.revocation_details
        whose = "" if details is None or not details.ca_revoked else " (ใบรับรองของผู้ออกใบรับรอง)"
        return Verdict.REVOKED, whose
    if changed:
        return Verdict.MODIFIED, ""
    hard = policy.mode is RevocationMode.HARD_FAIL
    if status.trusted:
        # trusted without an answer only when the time budget ran out (validated offline)
        if hard and rev is RevocationStatus.UNAVAILABLE:
            return Verdict.REVOCATION_UNKNOWN, "; ".join(out.unavailable)
        return Verdict.VALID, ""
    indic = status.trust_problem_indic
    if status.validation_path is None or indic in (
        AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND,
        None,
    ):
        return Verdict.UNKNOWN_ISSUER, ""
    if hard and rev is RevocationStatus.UNAVAILABLE and indic in (
        AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE, AdESIndeterminate.TRY_LATER,
    ):
        return Verdict.REVOCATION_UNKNOWN, "; ".join(out.unavailable)
    return Verdict.CERT_PROBLEM, str(indic.standard_name).lower()


def _check(emb: EmbeddedPdfSignature, out: _Outcome, policy: Revocation) -> SignatureCheck:
    status = out.status
    cert = status.signing_cert
    name = _name(cert)
    coverage = _COVERAGE.get(status.coverage, Coverage.PARTIAL)  # type: ignore[arg-type]
    level = status.modification_level
    modification = _MODIFICATION.get(level, Modification.UNKNOWN)  # type: ignore[arg-type]
    changed = coverage is Coverage.PARTIAL or (
        coverage is Coverage.ENTIRE_REVISION and not status.docmdp_ok
    )
    rev = _revocation(out)
    verdict, detail = _verdict(out, changed, policy, rev)
    summary_th, summary_en = _summary(verdict, name, detail[:200], rev)
    ts = status.timestamp_validity
    signing_time = (
        ts.timestamp
        if ts is not None
        else (status.signer_reported_dt or emb.self_reported_timestamp)
    )
    return SignatureCheck(
        field_name=str(emb.field_name),
        signer_name=name,
        signer_subject=_human(cert.subject),
        issuer_subject=_human(cert.issuer),
        signing_time=signing_time,
        timestamped=ts is not None,
        intact=bool(status.intact),
        valid=bool(status.valid),
        coverage=coverage,
        modification=modification,
        changed_beyond_allowed=changed,
        trusted=bool(status.trusted) and verdict is not Verdict.REVOCATION_UNKNOWN,
        verdict=verdict,
        summary_th=summary_th,
        summary_en=summary_en,
        revocation=rev,
    )


def _unreadable_check(field_name: str, exc: Exception) -> SignatureCheck:
    detail = f"{type(exc).__name__}: {exc}"
    summary_th, summary_en = _summary(Verdict.UNREADABLE, field_name, detail)
    return SignatureCheck(
        field_name=field_name,
        signer_name="",
        signer_subject="",
        issuer_subject="",
        signing_time=None,
        timestamped=False,
        intact=False,
        valid=False,
        coverage=Coverage.PARTIAL,
        modification=Modification.UNKNOWN,
        changed_beyond_allowed=True,
        trusted=False,
        verdict=Verdict.UNREADABLE,
        summary_th=summary_th,
        summary_en=summary_en,
    )


_SUPPORTED_SUBFILTERS = {str(sf.value) for sf in SigSeedSubFilter}  # "/ETSI.CAdES.detached", ...


def collect_signatures(reader: PdfFileReader) -> list[EmbeddedPdfSignature | tuple[str, Exception]]:
    """Every filled signature field, in signing order; one that cannot even be parsed
    comes back as (field name, error) so it is reported, not silently dropped.

    pyHanko's own collector skips signatures with a SubFilter it does not support (e.g.
    adbe.x509.rsa_sha1) and fails the whole list on one malformed CMS blob.
    """
    found: list[EmbeddedPdfSignature] = []
    broken: list[tuple[str, Exception]] = []
    for fq_name, sig_obj, sig_field in enumerate_sig_fields(reader, filled_status=True):
        try:
            sig_dict = sig_obj.get_object()
            if sig_dict.get("/Type") == "/DocTimeStamp":
                continue  # document timestamps vouch for time, not for a signer
            subfilter = str(sig_dict.get("/SubFilter", ""))
            if subfilter not in _SUPPORTED_SUBFILTERS:
                raise ValueError(f"unsupported signature type {subfilter or '(none)'}")
            found.append(EmbeddedPdfSignature(reader, sig_field, fq_name))
        except Exception as exc:  # noqa: BLE001 - parser boundary, reported per signature
            broken.append((str(fq_name), exc))
    found.sort(key=lambda emb: emb.signed_revision)
    return [*found, *broken]


async def _status(emb: EmbeddedPdfSignature, roots: list[x509.Certificate], now: datetime,
                  policy: Revocation, net: RevocationNet | None) -> PdfSignatureStatus:
    """pyHanko's verdict on one signature; `net` None: no fetching (revocation off, or the
    letter's time budget spent)."""
    if net is not None:
        net.record.reset()
    # One context per signature: path-building caches must not leak between them.
    vc = ValidationContext(
        trust_roots=roots,
        moment=now,
        allow_fetching=net is not None,
        fetchers=net.fetchers() if net is not None else None,
        revocation_mode=policy.pyhanko_mode if net is not None else "none",
    )
    try:
        async with net.owning() if net is not None else contextlib.nullcontext():
            return await async_validate_pdf_signature(
                emb, signer_validation_context=vc, key_usage_settings=_KEY_USAGE
            )
    finally:
        await vc.aclose()


async def _outcome(emb: EmbeddedPdfSignature, roots: list[x509.Certificate], now: datetime,
                   policy: Revocation, net: RevocationNet | None, budget: float) -> _Outcome:
    if net is None:
        # off, or no roots at all (then nothing chains, and there is nothing to check)
        return _Outcome(await _status(emb, roots, now, policy, None), (), policy.fetching)
    if budget > 0:
        try:
            async with asyncio.timeout(budget):
                status = await _status(emb, roots, now, policy, net)
            return _Outcome(status, tuple(net.unavailable()), True)
        except TimeoutError:
            log.info("revocation of %s not fetched within the letter's %.0f s",
                     emb.fq_name, policy.total_seconds)
    spent = f"no answer within {policy.total_seconds:g} s"
    return _Outcome(await _status(emb, roots, now, policy, None), (spent,), True)


async def validate_signatures(
    sigs: Sequence[EmbeddedPdfSignature | tuple[str, Exception]],
    roots: list[x509.Certificate],
    now: datetime,
    revocation: Revocation = Revocation(),
) -> list[SignatureCheck]:
    """Every signature judged; all OCSP/CRL fetching for the letter together stays within
    `revocation.total_seconds` (after that the rest are judged offline, as unchecked)."""
    checks = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + revocation.total_seconds
    net = RevocationNet(revocation) if revocation.fetching and roots else None
    try:
        for emb in sigs:
            if isinstance(emb, tuple):
                checks.append(_unreadable_check(*emb))
                continue
            try:
                out = await _outcome(emb, roots, now, revocation, net, deadline - loop.time())
                checks.append(_check(emb, out, revocation))
            except Exception as exc:  # noqa: BLE001
                # A malformed CMS blob is the sender's problem, reported per signature;
                # it must not hide the other signatures or the rest of the report.
                log.info("signature %s unreadable: %r", emb.fq_name, exc)
                checks.append(_unreadable_check(str(emb.fq_name), exc))
    finally:
        if net is not None:
            await net.aclose()
    return checks
