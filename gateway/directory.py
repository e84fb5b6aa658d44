"""Reading the directory of agencies (ทะเบียนไปรษณีย์อิเล็กทรอนิกส์กลาง) from CSV: pure.

The layout is DGA's list as agencies supply it (shared/data/ministries-sample.csv):
thai_name, thai_code, latin_code, central_email, ministry. The whole file is
checked before anything is stored, so a bad file changes nothing.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from gateway.errors import UserError

COLUMNS = ("thai_name", "thai_code", "latin_code", "central_email", "ministry")
REQUIRED = ("thai_name", "central_email")
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


@dataclass(frozen=True)
class AgencyRecord:
    thai_name: str
    thai_code: str
    latin_code: str
    central_email: str
    ministry: str


def parse_directory_csv(data: bytes, *, source: str = "CSV") -> list[AgencyRecord]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{source}: ไฟล์ไม่ได้เข้ารหัส UTF-8 (ไบต์ที่ {exc.start}) — บันทึกใหม่เป็น 'CSV UTF-8'",
            f"{source}: the file is not UTF-8 (byte {exc.start}); save it again as 'CSV UTF-8'",
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise UserError(
            f"{source}: ไม่มีคอลัมน์ {', '.join(missing)} (ต้องมี {', '.join(COLUMNS)})",
            f"{source}: missing column(s) {', '.join(missing)} (need {', '.join(COLUMNS)})",
        )
    reader.fieldnames = header
    out: list[AgencyRecord] = []
    seen: dict[str, int] = {}
    errors: list[tuple[str, str]] = []
    for line_no, row in enumerate(reader, start=2):
        values = {c: (row.get(c) or "").strip() for c in COLUMNS}
        if not any(values.values()):
            continue
        for c in REQUIRED:
            if not values[c]:
                errors.append((f"บรรทัด {line_no}: ไม่มีค่า {c}", f"line {line_no}: {c} is empty"))
        email = values["central_email"].lower()
        if email and not _EMAIL.match(email):
            errors.append(
                (
                    f"บรรทัด {line_no}: {email!r} ไม่ใช่ที่อยู่อีเมล",
                    f"line {line_no}: {email!r} is not an e-mail address",
                )
            )
        if email in seen:
            errors.append(
                (
                    f"บรรทัด {line_no}: อีเมล {email} ซ้ำกับบรรทัด {seen[email]}",
                    f"line {line_no}: {email} repeats line {seen[email]}",
                )
            )
        seen.setdefault(email, line_no)
        out.append(AgencyRecord(**{**values, "central_email": email}))
    if errors:
        shown = errors[:20]
        more = f"\n  … (+{len(errors) - 20})" if len(errors) > 20 else ""
        raise UserError(
            f"{source}: ข้อมูลไม่ถูกต้อง ไม่ได้นำเข้าสักรายการ:\n  "
            + "\n  ".join(e[0] for e in shown) + more,
            f"{source}: invalid rows, nothing imported:\n  "
            + "\n  ".join(e[1] for e in shown) + more,
        )
    if not out:
        raise UserError(f"{source}: ไม่มีข้อมูล", f"{source}: no rows")
    return out
