"""`saraban-gateway passwd`: a password_hash for [[submission.users]] in config.toml."""

from __future__ import annotations

import argparse
import getpass
import sys

from gateway.cli.common import Subparsers
from gateway.config import Settings
from gateway.errors import UserError
from gateway.passwords import hash_password


def add_parser(sub: Subparsers) -> None:
    sub.add_parser(
        "passwd", help="สร้างค่า password_hash สำหรับ [[submission.users]] (reads stdin or prompts)"
    ).set_defaults(handler=passwd)


def passwd(args: argparse.Namespace, settings: Settings) -> int:
    if sys.stdin.isatty():
        pw = getpass.getpass("รหัสผ่าน (password): ")
        if pw != getpass.getpass("อีกครั้ง (again): "):
            raise UserError("รหัสผ่านไม่ตรงกัน", "passwords do not match")
    else:
        pw = sys.stdin.readline().rstrip("\r\n")
    if len(pw) < 8:
        raise UserError("รหัสผ่านต้องยาวอย่างน้อย 8 ตัวอักษร", "the password must be at least 8 characters")
    print(hash_password(pw))
    return 0
