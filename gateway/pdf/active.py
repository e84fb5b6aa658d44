"""Active content in an incoming PDF: scripts, launch actions, embedded files, form
submission (issue #18). The letter is still registered; the clerk gets a Thai remark.

Found by walking every object reachable from the document catalog with pypdf (object
streams are resolved like any other object, names are compared after pypdf decodes `#xx`
escapes): OpenAction, the catalog's, pages' and form fields' /AA, the /Names trees
(/JavaScript, /EmbeddedFiles), annotations (links, widgets, /FileAttachment), outlines and
action chains (/Next). Page contents, resources and appearance streams are not descended
into: nothing there can run. The walk is iterative and bounded (objects, items, nesting of
direct objects), so a hostile file costs a bounded amount of work; a file that cannot be
walked to the end says so in its remark instead of passing as clean.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

__all__ = ["ActiveContent", "find_active_content"]

log = logging.getLogger(__name__)

MAX_OBJECTS = 50_000  # indirect objects resolved
MAX_ITEMS = 1_000_000  # dictionary values and array items looked at
MAX_DEPTH = 64  # direct objects nested inside one another

# Keys whose values cannot trigger anything: content, resources, appearances, back-links.
_SKIP = frozenset({"/Contents", "/Resources", "/AP", "/Parent", "/P", "/Metadata", "/Thumb",
                   "/StructTreeRoot", "/StructParent", "/StructParents", "/PieceInfo",
                   "/Font", "/XObject", "/ColorSpace", "/Pattern", "/Shading", "/ExtGState"})

_SCRIPT_ACTIONS = frozenset({"/JavaScript", "/JS"})
_SUBMIT_ACTIONS = frozenset({"/SubmitForm", "/ImportData"})


@dataclass(frozen=True)
class ActiveContent:
    javascript: bool = False
    launch: bool = False
    embedded_files: int = 0
    submits_data: bool = False
    incomplete: bool = False  # the walk could not finish (damaged or too large a structure)

    @property
    def remarks_th(self) -> tuple[str, ...]:
        out = []
        if self.javascript:
            out.append("ไฟล์ PDF มีสคริปต์ (JavaScript) — อย่าเปิดด้วยโปรแกรมที่รันสคริปต์")
        if self.launch:
            out.append("ไฟล์ PDF มีคำสั่งเปิดโปรแกรมภายนอก (Launch)")
        if self.embedded_files:
            out.append(f"ไฟล์ PDF มีไฟล์แนบฝังอยู่ {self.embedded_files} ไฟล์")
        if self.submits_data:
            out.append("ไฟล์ PDF มีคำสั่งส่งหรือนำเข้าข้อมูลแบบฟอร์ม (SubmitForm/ImportData)")
        if self.incomplete:
            out.append("ตรวจหาสคริปต์และไฟล์ฝังในไฟล์ PDF ได้ไม่ครบ (โครงสร้างไฟล์ผิดปกติ)")
        return tuple(out)


class _Walk:
    def __init__(self) -> None:
        self.seen: set[tuple[int, int]] = set()
        self.files = 0  # file specifications carrying /EF (each object is looked at once)
        self.javascript = self.launch = self.submits = self.incomplete = False
        self.items = 0

    def look(self, d: DictionaryObject) -> None:
        action = d.get("/S")
        if action in _SCRIPT_ACTIONS or "/JS" in d:
            self.javascript = True
        elif action == "/Launch":
            self.launch = True
        elif action in _SUBMIT_ACTIONS:
            self.submits = True
        if "/EF" in d:
            self.files += 1

    def run(self, root: Any) -> None:
        stack: list[tuple[Any, int]] = [(root, 0)]
        while stack:
            obj, depth = stack.pop()
            self.items += 1
            if self.items > MAX_ITEMS or depth > MAX_DEPTH:
                self.incomplete = True
                return
            if isinstance(obj, IndirectObject):
                key = (obj.idnum, obj.generation)
                if key in self.seen:
                    continue
                if len(self.seen) >= MAX_OBJECTS:
                    self.incomplete = True
                    return
                self.seen.add(key)
                try:
                    obj = obj.get_object()
                except Exception as exc:  # noqa: BLE001 - a dangling or broken object
                    log.debug("PDF object %s unreadable: %r", key, exc)
                    self.incomplete = True
                    continue
                depth = 0  # nesting counts within one object's direct parts
            if isinstance(obj, DictionaryObject):  # StreamObject too: its dictionary only
                self.look(obj)
                stack.extend((v, depth + 1) for k, v in obj.items() if k not in _SKIP)
            elif isinstance(obj, ArrayObject):
                stack.extend((v, depth + 1) for v in obj)


def find_active_content(reader: PdfReader) -> ActiveContent:
    """What can act in the document opened by `reader` (decrypted already if need be)."""
    walk = _Walk()
    try:
        walk.run(reader.trailer.raw_get("/Root"))
    except Exception as exc:  # noqa: BLE001 - parser boundary: a remark, never a crash
        log.info("active content scan stopped: %r", exc)
        walk.incomplete = True
    return ActiveContent(javascript=walk.javascript, launch=walk.launch,
                         embedded_files=walk.files, submits_data=walk.submits,
                         incomplete=walk.incomplete)
