#!/usr/bin/env python3
"""gen-attach-corpus.py - write an attachment-heavy corpus of RFC 822 messages.

PURPOSE: give `vigil scan` (through tools/bench) realistic MIME and archive
work to measure MB/s: each message carries 1-3 attachments of 100 KB-5 MB
(zip, some nested and some holding a PE-like file; tar.gz; OOXML-like docx;
PDF; PNG/JPEG-like images; plain PE-like executables), a mix of compressible
text and incompressible random bytes. The same --seed gives the same bytes.

NEVER: real malware or EICAR. The "executables" are well-formed PE32 headers
whose entry point is a single `ret`, followed by random filler.

Python 3 standard library only; examples/make-examples.py imports the file
builders below (pe_like, zip_bytes, docx_like, pdf_like, ...).
"""
import argparse
import email.utils
import gzip
import io
import math
import os
import random
import struct
import sys
import tarfile
import zipfile
import zlib
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.generator import BytesGenerator

KB = 1000
MB = 1000 * 1000  # decimal, like tools/bench's figures
EPOCH = 1700000000  # every Date header and archive timestamp derives from it
ZIP_TIME = (2024, 1, 2, 3, 4, 6)


# ------------------------------------------------------------ file builders --

def _align(n, a):
    return (n + a - 1) // a * a


def pe_like(filler=b""):
    """A well-formed PE32 console executable: one .text section whose entry
    point is `ret` (0xC3), then `filler`. Runs, if ever run, to an exit."""
    dos_stub = (b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21"
                b"This program cannot be run in DOS mode.\r\r\n$")
    e_lfanew = 0x80
    dos = struct.pack("<2s13H8x2H20xI", b"MZ", 0x90, 3, 0, 4, 0, 0xFFFF, 0,
                      0xB8, 0, 0, 0, 0x40, 0, 0, 0, e_lfanew)
    head = (dos + dos_stub).ljust(e_lfanew, b"\0")
    code = b"\xc3" + filler
    raw = _align(len(code), 0x200)
    image = 0x1000 + _align(len(code), 0x1000)
    coff = struct.pack("<4sHHIIIHH", b"PE\0\0", 0x014C, 1, 0, 0, 0, 0xE0,
                       0x0103)  # executable, 32-bit, relocations stripped
    opt = struct.pack("<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII",
                      0x10B, 14, 0, raw, 0, 0, 0x1000, 0x1000, 0x1000,
                      0x400000, 0x1000, 0x200, 6, 0, 0, 0, 6, 0, 0,
                      image, 0x200, 0, 3, 0x8500,
                      0x100000, 0x1000, 0x100000, 0x1000, 0, 16)
    opt += b"\0" * (16 * 8)
    section = struct.pack("<8sIIIIIIHHI", b".text", len(code), 0x1000, raw,
                          0x200, 0, 0, 0, 0, 0x60000020)
    headers = (head + coff + opt + section).ljust(0x200, b"\0")
    return headers + code.ljust(raw, b"\0")


def zip_bytes(members):
    """members: (name, bytes, deflate?) tuples -> zip archive bytes, with a
    fixed timestamp so the output only depends on the members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, deflate in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = (zipfile.ZIP_DEFLATED if deflate
                                  else zipfile.ZIP_STORED)
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return buf.getvalue()


def tar_gz(members):
    """members: (name, bytes) -> .tar.gz bytes (fixed mtime, no owner)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), EPOCH, 0o644
            t.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


_CT_XML = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
           'content-types">'
           '<Default Extension="rels" ContentType="application/'
           'vnd.openxmlformats-package.relationships+xml"/>'
           '<Default Extension="xml" ContentType="application/xml"/>'
           '<Default Extension="png" ContentType="image/png"/>%s'
           '<Override PartName="/word/document.xml" ContentType="%s"/>'
           '</Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
         '<Relationships xmlns="http://schemas.openxmlformats.org/package/'
         '2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
         'openxmlformats.org/officeDocument/2006/relationships/'
         'officeDocument" Target="word/document.xml"/></Relationships>')
_DOC_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<Relationships xmlns="http://schemas.openxmlformats.org/package/'
             '2006/relationships"><Relationship Id="rId9" Type="http://'
             'schemas.microsoft.com/office/2006/relationships/vbaProject" '
             'Target="vbaProject.bin"/></Relationships>')


def docx_like(paragraphs, media=(), vba_project=None):
    """An OOXML word-processing package. With vba_project (bytes) it is a
    .docm: macroEnabled main part plus word/vbaProject.bin."""
    body = "".join("<w:p><w:r><w:t>%s</w:t></w:r></w:p>" % p
                   for p in paragraphs)
    document = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<w:document xmlns:w="http://schemas.openxmlformats.org/'
                'wordprocessingml/2006/main"><w:body>%s</w:body>'
                '</w:document>' % body)
    if vba_project is None:
        main = ("application/vnd.openxmlformats-officedocument."
                "wordprocessingml.document.main+xml")
        extra = ""
    else:
        main = "application/vnd.ms-word.document.macroEnabled.main+xml"
        extra = ('<Default Extension="bin" '
                 'ContentType="application/vnd.ms-office.vbaProject"/>')
    members = [("[Content_Types].xml", (_CT_XML % (extra, main)).encode(), True),
               ("_rels/.rels", _RELS.encode(), True),
               ("word/document.xml", document.encode(), True)]
    if vba_project is not None:
        members += [("word/_rels/document.xml.rels", _DOC_RELS.encode(), True),
                    ("word/vbaProject.bin", vba_project, True)]
    for i, data in enumerate(media, 1):
        members.append(("word/media/image%d.png" % i, data, False))
    return zip_bytes(members)


def pdf_like(lines, gray=b""):
    """A minimal valid PDF: one page whose content stream shows `lines`
    (compressible) and, when given, draws `gray` as an 8-bit DeviceGray
    image 1024 pixels wide (incompressible). Offsets in xref are exact."""
    def esc(s):
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    content = ["BT /F1 10 Tf 12 TL 40 800 Td"]
    content += ["(%s) '" % esc(line) for line in lines]
    content.append("ET")
    width = 1024
    height = len(gray) // width
    gray = gray[:width * height]
    if height:
        content.append("q 500 0 0 300 40 40 cm /Im1 Do Q")
    stream = "\n".join(content).encode("latin-1", "replace")
    xobj = b" /XObject << /Im1 6 0 R >>" if height else b""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >>" + xobj + b" >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream +
        b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if height:
        objs.append(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d"
                    b" /ColorSpace /DeviceGray /BitsPerComponent 8 /Length %d"
                    b" >>\nstream\n" % (width, height, len(gray)) + gray +
                    b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += (b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objs) + 1, xref))
    return bytes(out)


def _png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data)))


def png_like(filler):
    """PNG signature, a real IHDR and IEND, and `filler` as the IDAT data."""
    ihdr = struct.pack(">IIBBBBB", 1024, max(1, len(filler) // 3072), 8, 2,
                       0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) +
            _png_chunk(b"IDAT", filler) + _png_chunk(b"IEND", b""))


def jpeg_like(filler):
    """SOI + JFIF APP0 header, `filler`, EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    return b"\xff\xd8" + app0 + filler + b"\xff\xd9"


# ------------------------------------------------------------- the corpus --

class Corpus:
    """All randomness comes from one random.Random(seed)."""

    def __init__(self, seed, min_size, max_size):
        self.rng = random.Random(seed)
        self.min_size, self.max_size = min_size, max_size
        letters = "abcdefghijklmnopqrstuvwxyz"
        self.vocab = ["".join(self.rng.choice(letters)
                              for _ in range(self.rng.randint(2, 10)))
                      for _ in range(2000)]
        self.count = 0

    def rand(self, n):
        return self.rng.randbytes(n)

    def text(self, n):
        """About n bytes of word salt: compresses roughly 2:1 with deflate."""
        words = self.rng.choices(self.vocab, k=max(1, n // 7))
        lines = [" ".join(words[i:i + 12]) for i in range(0, len(words), 12)]
        return ("\n".join(lines) + "\n").encode()[:n]

    def size(self):
        """Log-uniform between min and max: many small, a few large."""
        lo, hi = math.log(self.min_size), math.log(self.max_size)
        return int(math.exp(self.rng.uniform(lo, hi)))

    def name(self, ext):
        self.count += 1
        stem = self.rng.choice(["invoice", "report", "scan", "photo",
                                "backup", "contract", "statement", "order",
                                "setup", "minutes", "budget", "draft"])
        return "%s-%04d.%s" % (stem, self.count, ext)

    def split(self, size):
        """(random part, compressible text part) of an archive of ~size."""
        r = self.rng.uniform(0.3, 0.7)
        rnd = int(size * r)
        return rnd, (size - rnd) * 2  # text deflates ~2:1

    def zip_members(self, size, depth):
        rnd, txt = self.split(size)
        members = [(self.name("bin"), self.rand(rnd), True),
                   (self.name("txt"), self.text(txt), True)]
        if self.rng.random() < 0.3:
            members.append(("tools/" + self.name("exe"),
                            pe_like(self.rand(self.rng.randint(4, 60) * KB)),
                            True))
        if depth < 3 and self.rng.random() < 0.35:
            inner = self.zip_members(size // 3, depth + 1)
            members.append((self.name("zip"), zip_bytes(inner), False))
        self.rng.shuffle(members)
        return members

    def attachment(self):
        """-> (filename, maintype, subtype, bytes), the bytes within
        [min_size, max_size]: archives land near their target size only,
        so an attachment outside is rebuilt to a corrected target."""
        kind = self.rng.choices(
            ["zip", "tgz", "docx", "pdf", "png", "jpeg", "exe"],
            weights=[25, 10, 15, 15, 10, 10, 15])[0]
        size = self.size()
        while True:
            att = self.build(kind, size)
            n = len(att[3])
            if n > self.max_size:
                size = int(size * self.max_size / n * 0.97)
            elif n < self.min_size:
                size = int(size * self.min_size / n * 1.03) + 1
            else:
                return att

    def build(self, kind, size):
        if kind == "zip":
            data = zip_bytes(self.zip_members(size, 1))
            return self.name("zip"), "application", "zip", data
        if kind == "tgz":
            rnd, txt = self.split(size)
            members = [("data/" + self.name("dat"), self.rand(rnd)),
                       ("data/" + self.name("log"), self.text(txt))]
            if self.rng.random() < 0.3:
                members.append(("bin/" + self.name("exe"),
                                pe_like(self.rand(32 * KB))))
            return self.name("tar.gz"), "application", "gzip", tar_gz(members)
        if kind == "docx":
            rnd, txt = self.split(size)
            paras = self.text(txt).decode().split("\n")
            data = docx_like(paras, media=[png_like(self.rand(rnd))])
            return (self.name("docx"), "application",
                    "vnd.openxmlformats-officedocument.wordprocessingml."
                    "document", data)
        if kind == "pdf":
            rnd, txt = self.split(size)
            lines = self.text(txt // 2).decode().split("\n")
            return self.name("pdf"), "application", "pdf", pdf_like(
                lines, self.rand(rnd))
        if kind == "png":
            return self.name("png"), "image", "png", png_like(self.rand(size))
        if kind == "jpeg":
            return self.name("jpg"), "image", "jpeg", jpeg_like(self.rand(size))
        return (self.name("exe"), "application", "octet-stream",
                pe_like(self.rand(size)))

    def message(self, i):
        msg = MIMEMultipart("mixed", boundary="=_vigil_bench_%d_mixed" % i)
        sender = "user%d@sender%d.example" % (self.rng.randint(1, 99), i % 17)
        msg["From"] = sender
        msg["To"] = "staff%d@vigil.example" % self.rng.randint(1, 20)
        msg["Subject"] = "Bench message %d: %s" % (
            i, " ".join(self.rng.choices(self.vocab, k=4)))
        msg["Date"] = email.utils.formatdate(EPOCH + i * 97, localtime=False)
        msg["Message-ID"] = "<bench.%d.%d@gen.vigil.example>" % (i, EPOCH)
        body = self.text(self.rng.randint(300, 6000)).decode()
        if self.rng.random() < 0.5:
            alt = MIMEMultipart("alternative",
                                boundary="=_vigil_bench_%d_alt" % i)
            alt.attach(MIMEText(body, "plain", "utf-8"))
            html = "<html><body><p>%s</p></body></html>" % body.replace(
                "\n", "</p>\n<p>")
            alt.attach(MIMEText(html, "html", "utf-8"))
            msg.attach(alt)
        else:
            msg.attach(MIMEText(body, "plain", "utf-8"))
        sizes = []
        for _ in range(self.rng.randint(1, 3)):
            name, maintype, subtype, data = self.attachment()
            if maintype == "image":
                part = MIMEImage(data, subtype)
            else:
                part = MIMEApplication(data, subtype)
            part.add_header("Content-Disposition", "attachment",
                            filename=name)
            part.set_param("name", name)
            msg.attach(part)
            sizes.append(len(data))
        return msg, sizes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("-n", "--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-size", type=int, default=100 * KB,
                    help="smallest attachment, bytes (100 KB)")
    ap.add_argument("--max-size", type=int, default=5 * MB,
                    help="largest attachment, bytes (5 MB)")
    args = ap.parse_args()
    if not 0 < args.min_size * 2 <= args.max_size or args.count < 1:
        ap.error("need --count >= 1 and 0 < 2 * --min-size <= --max-size")
    os.makedirs(args.outdir, exist_ok=True)
    corpus = Corpus(args.seed, args.min_size, args.max_size)
    total = 0
    sizes = []
    for i in range(1, args.count + 1):
        msg, msg_sizes = corpus.message(i)
        path = os.path.join(args.outdir, "attach-%04d.eml" % i)
        with open(path, "wb") as f:
            BytesGenerator(f, mangle_from_=False).flatten(msg)
            total += f.tell()
        sizes += msg_sizes
    print("wrote %d messages to %s: %d bytes (%.1f MB); %d attachments, "
          "%.1f MB decoded, %d KB to %d KB" % (
              args.count, args.outdir, total, total / 1e6, len(sizes),
              sum(sizes) / 1e6, min(sizes) // KB, max(sizes) // KB))
    return 0


if __name__ == "__main__":
    sys.exit(main())
