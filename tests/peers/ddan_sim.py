#!/usr/bin/env python3
"""ddan_sim.py - a strict simulator of the Deep Discovery Analyzer (DDAN) web
service API, for testing vigil's Virtual Analyzer plugin (plugins/ddan).

Python 3 stdlib only.  Serves HTTPS on 127.0.0.1 with a self-signed
certificate made by the `openssl` command-line tool, and checks every request
the way the appliance would (see ../shared/DESIGN.md, "DDAN Web Service API").

Command line:
  python3 tests/peers/ddan_sim.py --port 0 --port-file DIR/port --state-dir DIR \
      --api-key 91E140D4-2C57-4239-AE55-B26213A63CED \
      [--verdicts verdicts.json] [--faults faults.json] [--fault KEY[=VALUE]]... \
      [--processing-seconds 2] [--lifetime 300] [--hang-seconds 30] \
      [--allow-unregistered] [--new-cert]

Files in --state-dir: cert.pem / key.pem (reused if present unless --new-cert),
`ca_file` (one line: absolute path of cert.pem, for ca_file = ...) and
`pin_sha256` (one line: "AB:CD:..." uppercase colon hex SHA-256 of the DER
certificate, as `openssl x509 -fingerprint -sha256` prints, for pin_sha256).
The port file (default STATE_DIR/port) is written last, atomically: its
existence means the simulator is ready.

Protocol checks (every /web_service/sample_upload/<op> request):
  X-DTAS-ProtocolVersion present; X-DTAS-Time all digits and within +-300 s;
  X-DTAS-Challenge a UUID never accepted before; X-DTAS-ChecksumCalculatingOrder
  exactly (byte for byte) the ORDERS entry below; every header in the order
  present; X-DTAS-Checksum == sha1(api_key + values in order + body) in
  lowercase hex, the body counted for text bodies only (not for the multipart
  simple_upload_sample).  Ops other than test_connection/register also need a
  registered X-DTAS-ClientUUID (unless --allow-unregistered).
  The orders of check_duplicate_sample and get_report are NOT given by DESIGN;
  this simulator assumes:
    check_duplicate_sample: X-DTAS-ProtocolVersion,X-DTAS-ClientUUID,X-DTAS-Time,X-DTAS-Challenge
    get_report:             X-DTAS-ProtocolVersion,X-DTAS-ClientUUID,X-DTAS-SHA1,X-DTAS-Time,X-DTAS-Challenge

HTTP codes:
  401  authentication rejected: missing header, wrong order, stale time, bad or
       replayed challenge, bad checksum, unregistered client
  400  malformed request: bad body, no `uploadsample` part, X-DTAS-SHA1 not the
       SHA-1 of the uploaded bytes, bad X-DTAS-SampleType, missing X-DTAS-SHA1
  404  unknown path/op; get_report for a sample never uploaded
  405  wrong method for the op
  102  get_report while the sample is arrived/processing: the raw status line
       "HTTP/1.1 102 Processing" + headers, then TLS close_notify and close
       (libcurl: CURLE_GOT_NOTHING with response code 102)
  200  success.  Every /web_service 2xx reply carries X-DTAS-Checksum =
       sha1(api_key + response body), lowercase hex (the simulator's model of
       a signed reply; see the bad_checksum_reply fault).
Rejected requests are counted in /sim/stats "rejected" by reason:
  missing_header, bad_order, bad_time, bad_challenge, replayed_challenge,
  bad_checksum, unregistered, bad_request, sha1_mismatch, bad_sample_type,
  unknown_op, bad_method, not_found.

Sample life: uploaded -> "arrived" for min(0.5, P/2) s -> "processing" until P
(--processing-seconds) s after the first upload -> "done" (or the verdict's
"status", e.g. "error"/"timeout").  Not uploaded -> "not found".  RiskLevel is
empty in get_brief_report until the sample is done.

Verdicts (--verdicts FILE, JSON, reloaded when it changes):
  {"sha1": {"<sha1>": {"risk": 3, "virus": "TROJ_X", "type": "WIN32 EXE",
                       "status": "done", "preloaded": false}},
   "name": {"*.exe": {"risk": 3}, "*.js": {"risk": 1}},   # fnmatch, no case
   "default": {"risk": 0}}
  Lookup: sha1 (any case), then the first matching name pattern on the
  upload's filename, then default.  "preloaded": true makes the sample already
  known to the appliance (check_duplicate_sample lists it, reports are done)
  without any upload.

Faults (--fault KEY[=VALUE] on the command line, overlaid by --faults FILE,
JSON, reloaded when it changes, a missing file meaning "no faults"):
  "refuse": true          accept TCP connections and close them at once (before TLS)
  "hang": true            read the request and never answer; the connection
                          is dropped after "hang_seconds" (default --hang-seconds)
  "status": 500 | 503     answer every op with this status (before auth checks)
  "malformed_xml": true   get_brief_report / get_report XML is truncated garbage
  "risk_value": "high"    RiskLevel / OVERALL_RISK_LEVEL of done samples is this
                          literal value (e.g. "high", 7, -5)
  "always_processing": true  samples never leave "processing" (get_report: 102)
  "bad_checksum_reply": true the X-DTAS-Checksum of replies is wrong: a client
                          that verifies it must treat the reply as untrusted
                          (-> scanning exception), not act on its content
  "ops": ["get_report"]   restrict hang/status/malformed_xml/bad_checksum_reply
                          to these ops (default: all ops)

No-auth control endpoints: GET /sim/stats (JSON counters; "done_reported":
sha1 -> when a get_brief_report first answered "done" for it, epoch
seconds, for verdict-to-delivery timing), GET /sim/reset
(zero the counters; samples and clients are kept).
Stops by itself after --lifetime seconds (default 300); SIGTERM exits at once.
One log line per request on stderr.
"""
import argparse
import fnmatch
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

PREFIX = "/web_service/sample_upload/"
PV, CU, TM, CH = ("X-DTAS-ProtocolVersion", "X-DTAS-ClientUUID",
                  "X-DTAS-Time", "X-DTAS-Challenge")
ORDERS = {
    "test_connection": [PV, TM, CH],
    "register": [PV, "X-DTAS-ProductName", "X-DTAS-ClientHostname", CU,
                 "X-DTAS-SourceID", "X-DTAS-SourceName", TM, CH],
    "unregister": [PV, CU, TM, CH],
    "check_duplicate_sample": [PV, CU, TM, CH],
    "simple_upload_sample": [PV, CU, "X-DTAS-SourceID", "X-DTAS-SourceName",
                             "X-DTAS-SHA1", TM, "X-DTAS-SampleType", CH],
    "get_brief_report": [PV, CU, TM, CH],
    "get_report": [PV, CU, "X-DTAS-SHA1", TM, CH],
}
METHODS = {"test_connection": "GET", "register": "GET", "unregister": "GET",
           "check_duplicate_sample": "PUT", "simple_upload_sample": "POST",
           "get_brief_report": "PUT", "get_report": "GET"}
NEED_REGISTERED = {"check_duplicate_sample", "simple_upload_sample",
                   "get_brief_report", "get_report", "unregister"}
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SHA1_RE = re.compile(r"^[0-9a-fA-F]{40}$")
TIME_SKEW = 300
MAX_BODY = 64 << 20


def log(msg):
    sys.stderr.write("%s ddan_sim: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class JsonFile:
    """A JSON file re-read whenever its mtime/size/inode changes."""

    def __init__(self, path, what):
        self.path, self.what, self.data, self.sig = path, what, {}, None
        self.lock = threading.Lock()

    def get(self):
        if not self.path:
            return self.data
        with self.lock:
            try:
                st = os.stat(self.path)
                sig = (st.st_mtime_ns, st.st_size, st.st_ino)
            except OSError:
                sig = None
            if sig != self.sig:
                self.sig = sig
                if sig is None:
                    self.data = {}
                else:
                    try:
                        with open(self.path) as f:
                            d = json.load(f)
                        if not isinstance(d, dict):
                            raise ValueError("not a JSON object")
                        self.data = d
                        log("loaded %s from %s" % (self.what, self.path))
                    except (OSError, ValueError) as e:
                        log("cannot load %s %s: %s (keeping the old one)"
                            % (self.what, self.path, e))
            return self.data


class Sim:
    def __init__(self, args, base_faults):
        self.args = args
        self.key = args.api_key
        self.lock = threading.Lock()
        self.samples = {}       # sha1 lower -> {"t": upload time, "name": str}
        self.clients = set()    # registered client UUIDs (lower)
        self.challenges = {}    # challenge lower -> time accepted
        self.verdicts = JsonFile(args.verdicts, "verdicts")
        self.faults_file = JsonFile(args.faults, "faults")
        self.base_faults = base_faults
        self.stop = threading.Event()
        self.started = time.time()
        self.reset_stats()

    def reset_stats(self):
        with self.lock:
            self.stats = {"requests": {}, "total_requests": 0, "uploads": {},
                          "upload_total": 0, "rejected": {},
                          "rejected_total": 0, "responses": {},
                          "brief_report_items": 0, "refused_connections": 0,
                          "hung_requests": 0, "tls_failures": 0,
                          "faulted_requests": 0, "done_reported": {}}

    def bump(self, field, key=None, n=1):
        with self.lock:
            if key is None:
                self.stats[field] += n
            else:
                d = self.stats[field]
                d[key] = d.get(key, 0) + n

    def faults(self):
        f = dict(self.base_faults)
        f.update(self.faults_file.get())
        return f

    def faults_for(self, op):
        f = self.faults()
        ops = f.get("ops")
        if ops and op not in ops:
            return {k: v for k, v in f.items()
                    if k in ("refuse", "risk_value", "always_processing")}
        return f

    # ---- verdicts / samples ----
    def verdict(self, sha1, name):
        v = self.verdicts.get()
        for k, e in (v.get("sha1") or {}).items():
            if k.lower() == sha1:
                return e
        if name:
            for pat, e in (v.get("name") or {}).items():
                if fnmatch.fnmatch(name.lower(), pat.lower()):
                    return e
        return v.get("default") or {"risk": 0}

    def sample(self, sha1):
        """Return (known, upload time, name) for a lower-case sha1."""
        with self.lock:
            s = self.samples.get(sha1)
        if s:
            return True, s["t"], s["name"]
        for k, e in (self.verdicts.get().get("sha1") or {}).items():
            if k.lower() == sha1 and isinstance(e, dict) and e.get("preloaded"):
                return True, 0.0, e.get("name", "")
        return False, None, None

    def status(self, sha1):
        """(status, verdict) of a sample; status is a DESIGN state name."""
        known, t, name = self.sample(sha1)
        if not known:
            return "not found", None
        v = self.verdict(sha1, name)
        if self.faults().get("always_processing"):
            return "processing", v
        p = self.args.processing_seconds
        el = time.time() - t
        if el < min(0.5, p / 2.0):
            return "arrived", v
        if el < p:
            return "processing", v
        return str(v.get("status", "done")), v

    def risk_text(self, v, faults):
        if "risk_value" in faults:
            return str(faults["risk_value"])
        return str(v.get("risk", 0))

    # ---- authentication ----
    def authenticate(self, op, headers, body, text_body):
        order = ORDERS[op]
        for h in (PV, TM, CH, "X-DTAS-ChecksumCalculatingOrder",
                  "X-DTAS-Checksum"):
            if not headers.get(h):
                return "missing_header", h
        if headers.get("X-DTAS-ChecksumCalculatingOrder") != ",".join(order):
            return "bad_order", headers.get("X-DTAS-ChecksumCalculatingOrder")
        vals = []
        for h in order:
            v = headers.get(h)
            if v is None:
                return "missing_header", h
            vals.append(v)
        t = headers.get(TM)
        if not t.isdigit() or abs(int(t) - time.time()) > TIME_SKEW:
            return "bad_time", t
        ch = headers.get(CH)
        if not UUID_RE.match(ch):
            return "bad_challenge", ch
        data = (self.key + "".join(vals)).encode("utf-8")
        if text_body:
            data += body
        if headers.get("X-DTAS-Checksum") != hashlib.sha1(data).hexdigest():
            return "bad_checksum", None
        now = time.time()
        with self.lock:
            if ch.lower() in self.challenges:
                return "replayed_challenge", ch
            self.challenges[ch.lower()] = now
            if len(self.challenges) > 10000:
                for c in [c for c, a in self.challenges.items()
                          if now - a > 2 * TIME_SKEW + 60]:
                    del self.challenges[c]
            if (op in NEED_REGISTERED and not self.args.allow_unregistered
                    and (headers.get(CU) or "").lower() not in self.clients):
                return "unregistered", headers.get(CU)
        return None, None

    def snapshot(self):
        with self.lock:
            st = json.loads(json.dumps(self.stats))
            st["registered_clients"] = sorted(self.clients)
            shas = list(self.samples)
        st["samples"] = {s: self.status(s)[0] for s in shas}
        st["faults"] = self.faults()
        st["uptime"] = round(time.time() - self.started, 3)
        return st


def parse_multipart(ctype, body):
    """Return {field: (filename, bytes)} of a multipart/form-data body."""
    m = re.search(r'boundary="?([^";]+)"?', ctype or "")
    if not m or not ctype.lower().startswith("multipart/form-data"):
        raise ValueError("not multipart/form-data")
    delim = b"--" + m.group(1).encode("latin-1")
    parts = body.split(delim)
    out = {}
    for part in parts[1:]:
        if part.startswith(b"--"):
            break
        if part.startswith(b"\r\n"):
            part = part[2:]
        if part.endswith(b"\r\n"):
            part = part[:-2]
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("bad part")
        disp = ""
        for line in head.decode("latin-1").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                disp = line.split(":", 1)[1]
        nm = re.search(r'\bname="([^"]*)"', disp)
        fn = re.search(r'\bfilename="([^"]*)"', disp)
        if nm:
            out[nm.group(1)] = (fn.group(1) if fn else "", data)
    return out


def guess_type(name, data):
    if data[:2] == b"MZ":
        return "WIN32 EXE"
    if data[:4] == b"%PDF":
        return "PDF"
    if data[:4] == b"PK\x03\x04":
        return "ZIP"
    ext = os.path.splitext(name or "")[1].lower().lstrip(".")
    return ext.upper() if ext else "Unknown"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "DDAN-Sim/1.0"
    sys_version = ""

    def log_message(self, fmt, *a):
        pass

    def note(self, code, op, extra=""):
        self.server.sim.bump("responses", str(code))
        log("%s %s %s op=%s -> %s%s" % (self.client_address[0],
                                        self.command, self.path, op, code,
                                        (" " + extra) if extra else ""))

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = b""
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"x", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline(16)
                if len(out) > MAX_BODY:
                    raise ValueError("body too large")
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(n) if n else b""

    def reply(self, code, body=b"", ctype="text/plain", op="-", extra="",
              sign=False, bad_sign=False):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if sign:
            digest = hashlib.sha1(self.server.sim.key.encode() + body)
            if bad_sign:
                digest = hashlib.sha1(b"wrong" + body)
            self.send_header("X-DTAS-Checksum", digest.hexdigest())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.note(code, op, extra)

    def reject(self, code, reason, op, detail=None):
        sim = self.server.sim
        sim.bump("rejected", reason)
        sim.bump("rejected_total")
        self.reply(code, "rejected: %s\n" % reason, op=op,
                   extra="rejected=%s%s" % (reason,
                                            (" (%s)" % detail) if detail else ""))

    def send_102(self, op):
        self.wfile.write(("HTTP/1.1 102 Processing\r\nServer: %s\r\nDate: %s\r\n"
                          "Connection: close\r\n\r\n"
                          % (self.server_version,
                             formatdate(usegmt=True))).encode())
        self.wfile.flush()
        self.close_connection = True
        self.note(102, op, "processing (bare 102, closing)")

    def do_GET(self):
        self.dispatch()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def dispatch(self):
        sim = self.server.sim
        path = urlsplit(self.path).path
        try:
            body = self.read_body()
        except (ValueError, OSError) as e:
            self.close_connection = True
            return self.reject(400, "bad_request", "-", str(e))
        if path in ("/sim/stats", "/sim/reset"):
            if path == "/sim/reset":
                sim.reset_stats()
            return self.reply(200, json.dumps(sim.snapshot(), indent=1),
                              "application/json", op=path)
        sim.bump("total_requests")
        if not path.startswith(PREFIX):
            return self.reject(404, "unknown_op", "-")
        op = path[len(PREFIX):].strip("/")
        if op not in ORDERS:
            return self.reject(404, "unknown_op", op)
        sim.bump("requests", op)
        if self.command != METHODS[op]:
            return self.reject(405, "bad_method", op, self.command)
        f = sim.faults_for(op)
        if f.get("hang"):
            sim.bump("hung_requests")
            cap = float(f.get("hang_seconds", self.server.sim.args.hang_seconds))
            log("%s %s %s op=%s -> hanging up to %gs"
                % (self.client_address[0], self.command, self.path, op, cap))
            sim.stop.wait(cap)
            self.close_connection = True
            return
        if f.get("status"):
            sim.bump("faulted_requests")
            self.close_connection = True
            return self.reply(int(f["status"]), "injected failure\n", op=op,
                              extra="fault")
        text_body = op != "simple_upload_sample"
        reason, detail = sim.authenticate(op, self.headers, body, text_body)
        if reason:
            return self.reject(401, reason, op, detail)
        getattr(self, "op_" + op)(op, body, f)

    def ok(self, op, body, f, ctype="text/plain", extra=""):
        bad = bool(f.get("bad_checksum_reply"))
        self.reply(200, body, ctype, op=op, extra=extra, sign=True,
                   bad_sign=bad)

    # ---- operations ----
    def op_test_connection(self, op, body, f):
        self.ok(op, b"", f)

    def op_register(self, op, body, f):
        cu = self.headers.get(CU)
        if not UUID_RE.match(cu):
            return self.reject(400, "bad_request", op, "ClientUUID not a UUID")
        with self.server.sim.lock:
            self.server.sim.clients.add(cu.lower())
        self.ok(op, b"", f, extra="client=" + cu)

    def op_unregister(self, op, body, f):
        with self.server.sim.lock:
            self.server.sim.clients.discard(self.headers.get(CU).lower())
        self.ok(op, b"", f)

    def sha1_list(self, op, body):
        try:
            items = [s.strip() for s in body.decode("ascii").split(";")]
        except UnicodeDecodeError:
            return None
        items = [s for s in items if s]
        if not items or not all(SHA1_RE.match(s) for s in items):
            return None
        return items

    def op_check_duplicate_sample(self, op, body, f):
        items = self.sha1_list(op, body)
        if items is None:
            return self.reject(400, "bad_request", op, "body is not sha1;sha1")
        known = [s for s in items if self.server.sim.sample(s.lower())[0]]
        self.ok(op, ";".join(known), f,
                extra="asked=%d known=%d" % (len(items), len(known)))

    def op_simple_upload_sample(self, op, body, f):
        sim = self.server.sim
        st = self.headers.get("X-DTAS-SampleType")
        if st not in ("0", "1"):
            return self.reject(400, "bad_sample_type", op, st)
        try:
            parts = parse_multipart(self.headers.get("Content-Type"), body)
        except ValueError as e:
            return self.reject(400, "bad_request", op, str(e))
        if "uploadsample" not in parts:
            return self.reject(400, "bad_request", op, "no uploadsample part")
        name, data = parts["uploadsample"]
        want = self.headers.get("X-DTAS-SHA1").lower()
        got = hashlib.sha1(data).hexdigest()
        if want != got:
            return self.reject(400, "sha1_mismatch", op,
                               "header %s data %s" % (want, got))
        with sim.lock:
            if want not in sim.samples:
                sim.samples[want] = {"t": time.time(), "name": name,
                                     "type": guess_type(name, data)}
        sim.bump("uploads", want)
        sim.bump("upload_total")
        self.ok(op, b"", f, extra="sha1=%s name=%s size=%d" % (want, name,
                                                               len(data)))

    def op_get_brief_report(self, op, body, f):
        sim = self.server.sim
        items = self.sha1_list(op, body)
        if items is None:
            return self.reject(400, "bad_request", op, "body is not sha1;sha1")
        sim.bump("brief_report_items", n=len(items))
        out = ['<?xml version="1.0" encoding="UTF-8"?>', "<REPORT>"]
        now = time.time()
        for s in items:
            status, v = sim.status(s.lower())
            risk = sim.risk_text(v, f) if status == "done" else ""
            if status == "done":
                with sim.lock:
                    sim.stats["done_reported"].setdefault(s.lower(), now)
            if status != "done" and v and status in ("error", "timeout"):
                risk = str(v.get("risk", -1))
            out.append("<BRIEF_REPORT><SHA1>%s</SHA1><STATUS>%s</STATUS>"
                       "<RiskLevel>%s</RiskLevel></BRIEF_REPORT>"
                       % (escape(s), escape(status), escape(risk)))
        out.append("</REPORT>")
        xml = "\n".join(out) + "\n"
        if f.get("malformed_xml"):
            xml = xml[:len(xml) // 2] + "<<garbage & </RiskLevel"
        self.ok(op, xml, f, "text/xml", extra="items=%d" % len(items))

    def op_get_report(self, op, body, f):
        sim = self.server.sim
        sha = self.headers.get("X-DTAS-SHA1")
        if not SHA1_RE.match(sha):
            return self.reject(400, "bad_request", op, "X-DTAS-SHA1")
        status, v = sim.status(sha.lower())
        if status == "not found":
            return self.reject(404, "not_found", op, sha)
        if status in ("arrived", "processing"):
            return self.send_102(op)
        with sim.lock:
            s = sim.samples.get(sha.lower()) or {}
        risk = sim.risk_text(v, f)
        if status != "done":
            risk = str(v.get("risk", -1)) if int_or(v.get("risk"), 0) < 0 else "-1"
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<REPORTS>\n'
               "<OVERALL_RISK_LEVEL>%s</OVERALL_RISK_LEVEL>\n"
               "<FILE_ANALYZE_REPORT><FileSHA1>%s</FileSHA1>"
               "<OrigFileName>%s</OrigFileName>"
               "<TrueFileType>%s</TrueFileType><VirusName>%s</VirusName>"
               "<RiskLevel>%s</RiskLevel></FILE_ANALYZE_REPORT>\n</REPORTS>\n"
               % (escape(risk), escape(sha), escape(s.get("name", "")),
                  escape(str(v.get("type", s.get("type", "Unknown")))),
                  escape(str(v.get("virus", ""))), escape(risk)))
        if f.get("malformed_xml"):
            xml = xml[:len(xml) // 2] + "<<garbage & </REPORTS"
        self.ok(op, xml, f, "text/xml", extra="status=%s risk=%s" % (status,
                                                                    risk))


def int_or(v, d):
    try:
        return int(v)
    except (TypeError, ValueError):
        return d


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def verify_request(self, request, client_address):
        if self.sim.faults().get("refuse"):
            self.sim.bump("refused_connections")
            log("%s connection refused (fault)" % client_address[0])
            return False
        return True

    def finish_request(self, request, client_address):
        request.settimeout(self.sim.args.io_timeout)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as e:
            self.sim.bump("tls_failures")
            log("%s TLS handshake failed: %s" % (client_address[0], e))
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                tls.settimeout(0.3)
                tls.unwrap().close()
            except (OSError, ssl.SSLError, ValueError):
                pass
            tls.close()

    def handle_error(self, request, client_address):
        log("%s internal error: %s" % (client_address[0], sys.exc_info()[1]))


def make_cert(state_dir, fresh):
    cert = os.path.abspath(os.path.join(state_dir, "cert.pem"))
    key = os.path.abspath(os.path.join(state_dir, "key.pem"))
    if fresh or not (os.path.exists(cert) and os.path.exists(key)):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", key, "-out", cert,
                        "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1",
                        "-days", "2"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(cert) as fh:
        der = ssl.PEM_cert_to_DER_cert(fh.read())
    fp = ":".join("%02X" % b for b in hashlib.sha256(der).digest())
    write_atomic(os.path.join(state_dir, "ca_file"), cert + "\n")
    write_atomic(os.path.join(state_dir, "pin_sha256"), fp + "\n")
    return cert, key, fp


def write_atomic(path, text):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def parse_fault(s):
    k, sep, v = s.partition("=")
    if not sep:
        return k, True
    if k == "ops":
        return k, [o for o in v.split(",") if o]
    try:
        return k, json.loads(v)
    except ValueError:
        return k, v


def main(argv=None):
    ap = argparse.ArgumentParser(description="DDAN web service simulator")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--api-key", required=True)
    ap.add_argument("--verdicts")
    ap.add_argument("--faults")
    ap.add_argument("--fault", action="append", default=[])
    ap.add_argument("--processing-seconds", type=float, default=2.0)
    ap.add_argument("--lifetime", type=float, default=300.0)
    ap.add_argument("--hang-seconds", type=float, default=30.0)
    ap.add_argument("--io-timeout", type=float, default=30.0)
    ap.add_argument("--allow-unregistered", action="store_true")
    ap.add_argument("--new-cert", action="store_true")
    args = ap.parse_args(argv)
    if not UUID_RE.match(args.api_key):
        ap.error("--api-key must be UUID-shaped")
    args.hang_seconds = min(args.hang_seconds, args.lifetime)

    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    os.makedirs(args.state_dir, exist_ok=True)
    cert, key, fp = make_cert(args.state_dir, args.new_cert)
    sim = Sim(args, dict(parse_fault(s) for s in args.fault))
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.sim = sim
    srv.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.ctx.load_cert_chain(cert, key)

    def expire():
        log("lifetime of %gs over, exiting" % args.lifetime)
        os._exit(0)
    t = threading.Timer(args.lifetime, expire)
    t.daemon = True
    t.start()

    port = srv.server_address[1]
    write_atomic(args.port_file or os.path.join(args.state_dir, "port"),
                 "%d\n" % port)
    log("listening on https://127.0.0.1:%d/ cert %s sha256 %s" % (port, cert,
                                                                  fp))
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
