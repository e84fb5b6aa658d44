"""`saraban-gateway pdf stamp | verify | sign`: the PDF effects by hand, for operators.

Each command reads one file and writes another; nothing touches the store. The
work is the same code the pipeline runs (gateway/pdf: stamp.py, check.py,
sign.py), so what an operator sees here is what the gateway does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from gateway.cli.common import Subparsers, add_actions, read_input
from gateway.clock import system_clock
from gateway.config import Settings, secret
from gateway.errors import UserError
from gateway.thai import BANGKOK, format_short_datetime


def _write(path: Path, data: bytes) -> None:
    if path.exists():
        raise UserError(f"มีไฟล์ {path} อยู่แล้ว จะไม่เขียนทับ",
                        f"{path} exists; not overwriting it")
    path.write_bytes(data)


def add_parser(sub: Subparsers) -> None:
    act = add_actions(sub, "pdf", "ไฟล์ PDF: ประทับตรารับ ตรวจ และลงลายมือชื่อ (stamp, verify, sign)",
                      "pdf_command", run)
    st = act.add_parser("stamp", help="ประทับตรารับบนสำเนา (receive stamp on a copy)")
    st.add_argument("file", type=Path)
    st.add_argument("-o", "--output", type=Path, required=True)
    st.add_argument("--number", required=True, help="เลขรับ (receive number)")
    st.add_argument("--at", default=None,
                    help="วันเวลารับ ISO 8601 เช่น 2026-11-22T10:05 (เวลาไทย; default now)")
    ve = act.add_parser("verify", help="ตรวจลายมือชื่อดิจิทัล (check signatures)")
    ve.add_argument("file", type=Path)
    ve.add_argument("--trust", type=Path, action="append", default=[],
                    help="ใบรับรอง CA ที่เชื่อถือ PEM/DER (trusted CA certificate; repeatable)")
    sg = act.add_parser("sign", help="ลงลายมือชื่อดิจิทัลของหน่วยงาน (sign, PAdES)")
    sg.add_argument("file", type=Path)
    sg.add_argument("-o", "--output", type=Path, required=True)
    sg.add_argument("--p12", type=Path, default=None, help="PKCS#12 (default [signing] pkcs12_file)")
    sg.add_argument("--passphrase-env", default=None,
                    help="ชื่อตัวแปรสภาพแวดล้อมของรหัสผ่าน (env var of the passphrase)")
    sg.add_argument("--tsa", default=None, help="timestamp URL (PAdES B-T)")
    sg.add_argument("--visible", action="store_true", help="แสดงกรอบลายมือชื่อ (visible box)")


def _now(at: str | None) -> dt.datetime:
    if at is None:
        return system_clock()
    try:
        t = dt.datetime.fromisoformat(at)
    except ValueError:
        raise UserError(f"วันเวลาไม่ถูกต้อง: {at!r}", f"not an ISO 8601 time: {at!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=BANGKOK)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.errors import Permanent, Transient
    from gateway.pdf.check import PdfUnreadable

    try:
        return _run(args, settings)
    except PdfUnreadable as exc:
        raise UserError(f"เปิดไฟล์ PDF ไม่ได้: {exc.reason_th}", f"cannot open the PDF: {exc.reason_en}") from None
    except (Permanent, Transient) as exc:
        if isinstance(exc, UserError):
            raise
        raise UserError(f"ทำไม่สำเร็จ: {exc}", f"failed: {exc}") from None


def _run(args: argparse.Namespace, settings: Settings) -> int:
    # pyHanko takes ~0.6 s to import: only the pdf commands pay for it.
    from gateway.pdf.check import Verdict, inspect_pdf
    from gateway.pdf.sign import SignerConfig, VisibleSignature, sign_pdf
    from gateway.pdf.stamp import Corner, ReceiptStamp, StampStyle, stamp_receipt_placed

    data = read_input(args.file)
    if args.pdf_command == "stamp":
        s = settings.intake
        style = StampStyle(corner=Corner(s.stamp_corner), margin_x=s.stamp_margin,
                           margin_y=s.stamp_margin,
                           font_path=str(s.stamp_font) if s.stamp_font else None,
                           placement=s.stamp_placement)
        at = _now(args.at)
        stamp = ReceiptStamp(settings.agency.name_th, args.number, at, settings.agency.thai_digits)
        done = stamp_receipt_placed(data, stamp, style)
        _write(args.output, done.pdf)
        print(f"ประทับตรารับเลข {args.number} แล้ว: {args.output} (stamped; original unchanged)")
        if done.covers_text:
            print("ไม่มีที่ว่างพอ: ตรารับวางทับข้อความบนพื้นขาว (no blank space: the stamp covers text)")
        return 0
    if args.pdf_command == "verify":
        roots = [read_input(p) for p in args.trust]
        try:
            report = inspect_pdf(data, trust_roots=roots, now=system_clock())
        except ValueError as exc:
            raise UserError(f"ไฟล์ใบรับรองไม่ถูกต้อง: {exc}", f"bad trust root: {exc}") from None
        if not report.readable:
            print(f"✗ เปิดไฟล์ไม่ได้: {report.reason_th} ({report.reason_en})", file=sys.stderr)
            return 1
        print(f"PDF {report.pdf_version}, {report.page_count} หน้า (pages)"
              + (", เข้ารหัส (encrypted)" if report.encrypted else ""))
        if not report.signatures:
            print("ไม่มีลายมือชื่อดิจิทัล (no digital signatures)")
            return 0
        bad = False
        for sig in report.signatures:
            ok = sig.verdict in (Verdict.VALID, Verdict.UNKNOWN_ISSUER)
            bad |= not ok
            when = f" {format_short_datetime(sig.signing_time)}" if sig.signing_time else ""
            print(f"{'✓' if ok else '✗'} {sig.field_name}: {sig.summary_th}{when}")
            print(f"    {sig.summary_en}; subject: {sig.signer_subject}")
        return 1 if bad else 0
    sg = settings.signing
    p12 = args.p12 or sg.pkcs12_file
    if p12 is None:
        raise UserError("ไม่ได้ระบุไฟล์ใบรับรอง (--p12 หรือ [signing] pkcs12_file)",
                        "no certificate: give --p12 or set [signing] pkcs12_file")
    env = args.passphrase_env or sg.passphrase_env
    passphrase = secret(env, what="รหัสผ่านใบรับรอง", what_en="certificate passphrase").encode() if env else None
    visible = None
    if args.visible or sg.visible:
        if not (sg.signer_name and sg.position):
            raise UserError("ต้องตั้ง [signing] signer_name และ position สำหรับกรอบลายมือชื่อ",
                            "a visible signature needs [signing] signer_name and position")
        visible = VisibleSignature(sg.signer_name, sg.position)
    config = SignerConfig(pkcs12=read_input(settings.base_dir / p12), passphrase=passphrase,
                          timestamp_url=args.tsa or sg.timestamp_url or None, reason=sg.reason,
                          visible=visible)
    _write(args.output, sign_pdf(data, config, now=system_clock()))
    level = "B-T" if config.timestamp_url else "B-B"
    print(f"ลงลายมือชื่อดิจิทัลแล้ว (PAdES {level}): {args.output}")
    return 0
