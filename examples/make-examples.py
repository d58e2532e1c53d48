#!/usr/bin/env python3
"""make-examples.py - write the example messages in examples/ (NN-*.eml).

PURPOSE: small, readable messages that show a newcomer what `vigil scan`
sees with the default policy (tools/run scans them): a clean mail, a double
extension executable, a script dropper look-alike, a zipped executable, a
macro document, a malformed MIME tree and encoded attachment names.
Deterministic: running it again rewrites the same bytes (--check compares).

NEVER: real malware or EICAR. The executables are well-formed PE32 headers
whose only code is `ret`; the script never runs anything; the macro project
is an empty OLE header. The file builders come from tools/gen-attach-corpus.py.
"""
import argparse
import base64
import importlib.util
import os
import sys
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in tools/ (it is in EXTRA_DIST)
HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "gen_attach_corpus",
    os.path.join(HERE, "..", "tools", "gen-attach-corpus.py"))
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

BOUNDARY = "=_vigil_example_%s"


def headers(n, subject, sender="Alice Martin <alice@partner.example>",
            content_type=None):
    lines = ["From: " + sender,
             "To: Bob Keller <bob@vigil.example>",
             "Subject: " + subject,
             "Date: Tue, 14 Nov 2023 10:%02d:00 +0000" % n,
             "Message-ID: <%02d.example@examples.vigil.example>" % n,
             "MIME-Version: 1.0"]
    if content_type:
        lines.append("Content-Type: " + content_type)
    return "\n".join(lines) + "\n"


def b64(data):
    return base64.encodebytes(data).decode("ascii")


def text_part(text):
    return ("Content-Type: text/plain; charset=us-ascii\n"
            "Content-Transfer-Encoding: 7bit\n\n" + text + "\n")


def attachment(name_params, content_type, data, encoding="base64"):
    """name_params: the parameter text naming the file, as it should appear
    on both Content-Type and Content-Disposition (e.g. 'name="a.exe"')."""
    ctype_params, disp_params = name_params
    body = b64(data) if encoding == "base64" else data.decode("ascii")
    return ("Content-Type: %s;%s\n"
            "Content-Disposition: attachment;%s\n"
            "Content-Transfer-Encoding: %s\n\n%s" % (
                content_type, ctype_params, disp_params, encoding, body))


def quoted_name(name):
    return (' name="%s"' % name, ' filename="%s"' % name)


def multipart(n, subject, parts, **kw):
    b = BOUNDARY % n
    out = headers(n, subject, content_type='multipart/mixed;\n boundary="%s"'
                  % b, **kw)
    out += "\nThis is a multi-part message in MIME format.\n\n"
    for p in parts:
        out += "--%s\n%s\n" % (b, p)
    return out + "--%s--\n" % b


def cfb_header():
    """The first 512-byte sector of an OLE compound file, and two empty
    sectors: a vbaProject.bin shape with no VBA in it."""
    head = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16 +
            b"\x3e\x00\x03\x00\xfe\xff\x09\x00\x06\x00")
    return head.ljust(512, b"\0") + b"\0" * 1024


def examples():
    pe = gen.pe_like()
    ex = {}

    ex["01-clean.eml"] = headers(
        1, "Lunch on Thursday?",
        content_type="text/plain; charset=us-ascii") + (
        "Content-Transfer-Encoding: 7bit\n\n"
        "Hi Bob,\n\nare we still on for lunch on Thursday? The usual place at\n"
        "12:30 works for me.\n\nAlice\n")

    ex["02-invoice-exe.eml"] = multipart(2, "Invoice 2023-1107 overdue", [
        text_part("Dear customer,\n\nplease find the overdue invoice attached."),
        attachment(quoted_name("invoice.pdf.exe"), "application/pdf", pe),
    ])

    script = (
        "// vigil example: shaped like a JScript dropper, but it does nothing:\n"
        "// it runs no command, downloads nothing and writes no file.\n"
        "var shell = new ActiveXObject(\"WScript.Shell\");\n"
        "var url = \"http://download.example.invalid/update.exe\";\n"
        "var unused = [shell, url];\n")
    ex["03-script.eml"] = multipart(3, "Your parcel could not be delivered", [
        text_part("Open the attached tracking file to reschedule delivery."),
        attachment(quoted_name("tracking-label.js"), "application/javascript",
                   script.encode(), encoding="7bit"),
    ])

    inner = gen.zip_bytes([("invoice.exe", pe, True)])
    outer = gen.zip_bytes([
        ("README.txt", b"The invoice is in the inner archive.\n", True),
        ("invoice.zip", inner, False)])
    ex["04-zipped-exe.eml"] = multipart(4, "Documents for you", [
        text_part("The documents are in the archive (password not needed)."),
        attachment(quoted_name("documents.zip"), "application/zip", outer),
    ])

    docm = gen.docx_like(["Quarterly report", "Enable content to see the "
                          "figures."], vba_project=cfb_header())
    ex["05-macro-doc.eml"] = multipart(5, "Quarterly report Q3", [
        text_part("Here is the report; please enable editing and content."),
        attachment(quoted_name("report.docm"),
                   "application/vnd.ms-word.document.macroEnabled.12", docm),
    ])

    b = BOUNDARY % 6
    ex["06-malformed.eml"] = headers(
        6, "Malformed: no closing boundary, bad base64",
        content_type='multipart/mixed; boundary="%s"' % b) + (
        "\n--%s\n" % b + text_part("This first part is well formed.") +
        "\n--%s\n" % b +
        'Content-Type: application/octet-stream; name="data.bin"\n'
        'Content-Disposition: attachment; filename="data.bin"\n'
        "Content-Transfer-Encoding: base64\n\n"
        "SGVsbG8sIHZpZ2lsIQ==!!! this line is not base64 ***\n"
        "QUJD=REVG=\n"
        "VGhlIGxhc3QgbGluZSBpcyB0cnVuY2F0ZWQ\n")  # no closing boundary

    def rfc2231(value, lang=""):
        return "UTF-8'%s'%s" % (lang, urllib.parse.quote(value, safe=""))

    def rfc2047(value):
        return "=?UTF-8?B?%s?=" % base64.b64encode(value.encode()).decode()

    pdf_name = "Rechnung für Jürgen.pdf"
    cont = urllib.parse.quote("請求書.txt", safe="")
    cut = cont.index("%E6%9B%B8")  # split the continuation between characters
    rlo_name = "Rechnung\u202efdp.exe"  # shows as "Rechnungexe.pdf"
    # Two B-words, the first padded: GMime 3.2.13 (Debian 12) decodes only
    # "invoice" (its issue #133); the subject above is split the same way.
    split_name = "%s %s" % (rfc2047("invoice"), rfc2047(".exe"))
    ex["07-encoded-names.eml"] = multipart(7, "%s\n %s" % (
        rfc2047("Überweisung: Rechnung für Jürgen"),
        rfc2047(" – 42 € fällig")), [
        text_part("Four attachments with encoded names."),
        attachment((" name*=%s" % rfc2231(pdf_name),
                    " filename*=%s" % rfc2231(pdf_name)),
                   "application/pdf", gen.pdf_like(["Rechnung Nr. 42"])),
        attachment((" name*0*=UTF-8'ja'%s;\n name*1*=%s" % (cont[:cut],
                                                            cont[cut:]),
                    " filename*0*=UTF-8'ja'%s;\n filename*1*=%s" % (
                        cont[:cut], cont[cut:])),
                   "text/plain; charset=utf-8",
                   "請求書: 42 EUR\n".encode()),
        attachment((' name="%s"' % rfc2047(rlo_name),
                    ' filename="%s"' % rfc2047(rlo_name)),
                   "application/octet-stream", pe),
        attachment((' name="%s"' % split_name,
                    ' filename="%s"' % split_name),
                   "application/octet-stream", pe),
    ], sender="=?ISO-8859-1?Q?J=FCrgen_M=FCller?= <juergen@partner.example>")
    return ex


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="compare with the files on disk, write nothing")
    ap.add_argument("outdir", nargs="?", default=HERE)
    args = ap.parse_args()
    stale = 0
    for name, text in sorted(examples().items()):
        data = text.encode("utf-8")
        path = os.path.join(args.outdir, name)
        if args.check:
            try:
                with open(path, "rb") as f:
                    same = f.read() == data
            except OSError:
                same = False
            if not same:
                print("%s: differs from make-examples.py" % path)
                stale += 1
            continue
        with open(path, "wb") as f:
            f.write(data)
        print("wrote %s (%d bytes)" % (path, len(data)))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
