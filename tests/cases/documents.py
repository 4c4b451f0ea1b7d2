"""PDF files built by the tests with pypdf: a plain one, and the kinds a case must refuse."""

from __future__ import annotations

import io

from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject


def pdf(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_with_script() -> bytes:
    """A document-level script, as its own object named from the catalogue's /Names: found by number."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    script = writer._add_object(
        DictionaryObject(
            {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")}
        )
    )
    tree = DictionaryObject({NameObject("/Names"): ArrayObject([TextStringObject("init"), script])})
    names = writer._add_object(DictionaryObject({NameObject("/JavaScript"): tree}))
    writer._root_object[NameObject("/Names")] = names
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_opening_a_launch_action() -> bytes:
    """The action sits directly in the catalogue's /OpenAction: found without being an object of its own."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    action = DictionaryObject(
        {NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("calc.exe")}
    )
    writer._root_object[NameObject("/OpenAction")] = action
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.encrypt("secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
