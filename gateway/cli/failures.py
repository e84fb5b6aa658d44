"""What the command line says when the machine, not the operator, stops a command.

A command cut short by a full disk, a folder it may not write, a port already taken or a
database that does not answer is not a bug of the gateway: the administrator needs one line
saying what and where, in Thai first, not a Python traceback. `explain(exc)` turns such a
failure into the `UserError` the command line already prints; anything else (a bug) is left
to show its traceback. The store's own errors are looked at only when SQLAlchemy is loaded,
so `--help` stays fast (gateway/cli/common.py).
"""

from __future__ import annotations

import errno
import sys

from gateway.envfaults import environmental
from gateway.errors import UserError

# errno → what the administrator reads; the English side is the system's own text
ERRNO_TH = {
    errno.ENOSPC: "พื้นที่ดิสก์เต็ม",
    errno.EDQUOT: "ใช้พื้นที่เกินโควตา",
    errno.EACCES: "ไม่มีสิทธิ์เข้าถึง",
    errno.EPERM: "ไม่มีสิทธิ์ทำรายการนี้",
    errno.ENOENT: "ไม่พบไฟล์หรือโฟลเดอร์",
    errno.ENOTDIR: "ส่วนหนึ่งของที่อยู่ไม่ใช่โฟลเดอร์",
    errno.EISDIR: "เป็นโฟลเดอร์ ไม่ใช่ไฟล์",
    errno.EROFS: "ดิสก์อ่านได้อย่างเดียว",
    errno.EIO: "อุปกรณ์จัดเก็บข้อมูลขัดข้อง",
    errno.EADDRINUSE: "พอร์ตนี้มีโปรแกรมอื่นใช้อยู่ (อาจมีเกตเวย์อีกตัวทำงานอยู่)",
    errno.EADDRNOTAVAIL: "เครื่องนี้ไม่มีที่อยู่ IP นี้",
    errno.ECONNREFUSED: "ปลายทางไม่รับการเชื่อมต่อ",
    errno.ETIMEDOUT: "ปลายทางไม่ตอบภายในเวลาที่กำหนด",
    errno.EMFILE: "เปิดไฟล์พร้อมกันเกินขีดจำกัดของระบบ",
}


def _os_error(e: OSError) -> UserError | None:
    what = ERRNO_TH.get(e.errno or 0)
    if what is None:  # EBADF, EINVAL …: more likely a bug than the machine; keep the traceback
        return None
    name = errno.errorcode.get(e.errno or 0, type(e).__name__)
    where = f": {e.filename}" if e.filename is not None else ""
    return UserError(f"ทำงานต่อไม่ได้ — {what}{where}",
                     f"{e.strerror or e} ({name}){where}")


def _database_error(exc: BaseException) -> UserError | None:
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if not isinstance(exc, DBAPIError):
        return None
    first = str(exc.orig).strip().splitlines()[0][:300] if str(exc.orig).strip() else type(exc.orig).__name__
    if environmental(exc) is not None:
        return UserError("ฐานข้อมูลบันทึกไม่ได้ — ดิสก์เต็ม อ่านได้อย่างเดียว หรือขัดข้อง ไม่มีรายการใดถูกเปลี่ยน",
                         f"the database cannot write: {first}")
    if isinstance(exc, OperationalError | InterfaceError):
        return UserError("ติดต่อฐานข้อมูลไม่ได้ — ตรวจว่าเซิร์ฟเวอร์ฐานข้อมูลทำงานอยู่ และ [storage] "
                         "database_url กับรหัสผ่านถูกต้อง (ทดสอบด้วยคำสั่ง check)",
                         f"cannot reach the database: {first}")
    return None  # an integrity or programming error: a bug, shown with its traceback


def explain(exc: BaseException) -> UserError | None:
    """The operator's message for a failure of the machine; None for anything else."""
    if isinstance(exc, OSError):
        return _os_error(exc)
    return _database_error(exc)
