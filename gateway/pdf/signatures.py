"""The digital signatures of a PDF that arrived: are they genuine, and what a clerk is told.

Judged with pyHanko's validator on the bytes as they arrived, before anything is stamped. No
network I/O: certificate revocation is not fetched (soft-fail), trust comes only from the roots
the caller passes in. CPU-bound and synchronous apart from pyHanko's own coroutine.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from asn1crypto import pem, x509
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

__all__ = [
    "Coverage",
    "Modification",
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
    CERT_PROBLEM = "cert_problem"  # chains to a root but expired, revoked, wrong usage...
    MODIFIED = "modified"  # signed bytes intact, later changes exceed what is allowed
    TAMPERED = "tampered"  # signed bytes changed, or the signature value is wrong
    UNREADABLE = "unreadable"  # the signature object itself could not be evaluated


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
    trusted: bool  # the signer's certificate chains to a configured trust root
    verdict: Verdict
    summary_th: str  # one line a clerk can read, for remarks and acknowledgements
    summary_en: str

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.VALID



_SUMMARY: dict[Verdict, tuple[str, str]] = {
    Verdict.VALID: (
        "ลายมือชื่อดิจิทัลถูกต้อง ผู้ลงนาม {name}",
        "valid digital signature by {name}",
    ),
    Verdict.UNKNOWN_ISSUER: (
        "ลายมือชื่อดิจิทัลของ {name} ไม่ถูกแก้ไข แต่ไม่ทราบผู้ออกใบรับรอง",
        "signature by {name} is intact, but its certificate issuer is not a trusted root",
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
    certs: list[x509.Certificate] = []
    for blob in blobs:
        try:
            if pem.detect(blob):
                for _, _, der in pem.unarmor(blob, multiple=True):
                    certs.append(x509.Certificate.load(der))
            else:
                certs.append(x509.Certificate.load(blob))
            _ = certs[-1].native  # force a full parse now, not mid-validation
        except Exception as exc:  # asn1crypto raises assorted types
            raise ValueError(f"not an X.509 certificate: {exc}") from exc
    return certs


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


def _summary(verdict: Verdict, name: str, detail: str = "") -> tuple[str, str]:
    th, en = _SUMMARY[verdict]
    shown = name or "(ไม่ระบุชื่อ)"
    return th.format(name=shown, detail=detail), en.format(name=name or "(no name)", detail=detail)


def _verdict(status: PdfSignatureStatus, changed: bool) -> tuple[Verdict, str]:
    if not (status.intact and status.valid):
        return Verdict.TAMPERED, ""
    if changed:
        return Verdict.MODIFIED, ""
    if status.trusted:
        return Verdict.VALID, ""
    indic = status.trust_problem_indic
    if status.validation_path is None or indic in (
        AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND,
        None,
    ):
        return Verdict.UNKNOWN_ISSUER, ""
    return Verdict.CERT_PROBLEM, str(indic.standard_name).lower()


def _check(emb: EmbeddedPdfSignature, status: PdfSignatureStatus) -> SignatureCheck:
    cert = status.signing_cert
    name = _name(cert)
    coverage = _COVERAGE.get(status.coverage, Coverage.PARTIAL)  # type: ignore[arg-type]
    level = status.modification_level
    modification = _MODIFICATION.get(level, Modification.UNKNOWN)  # type: ignore[arg-type]
    changed = coverage is Coverage.PARTIAL or (
        coverage is Coverage.ENTIRE_REVISION and not status.docmdp_ok
    )
    verdict, detail = _verdict(status, changed)
    summary_th, summary_en = _summary(verdict, name, detail)
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
        trusted=bool(status.trusted),
        verdict=verdict,
        summary_th=summary_th,
        summary_en=summary_en,
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


async def validate_signatures(
    sigs: Sequence[EmbeddedPdfSignature | tuple[str, Exception]],
    roots: list[x509.Certificate],
    now: datetime,
) -> list[SignatureCheck]:
    checks = []
    for emb in sigs:
        if isinstance(emb, tuple):
            checks.append(_unreadable_check(*emb))
            continue
        # One context per signature: path-building caches must not leak between them.
        vc = ValidationContext(
            trust_roots=roots,
            moment=now,
            allow_fetching=False,
            revocation_mode="soft-fail",
        )
        try:
            status = await async_validate_pdf_signature(
                emb, signer_validation_context=vc, key_usage_settings=_KEY_USAGE
            )
            checks.append(_check(emb, status))
        except Exception as exc:  # noqa: BLE001
            # A malformed CMS blob is the sender's problem, reported per signature;
            # it must not hide the other signatures or the rest of the report.
            log.info("signature %s unreadable: %r", emb.fq_name, exc)
            checks.append(_unreadable_check(str(emb.fq_name), exc))
        finally:
            await vc.aclose()
    return checks
