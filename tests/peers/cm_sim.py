#!/usr/bin/env python3
"""cm_sim.py - a strict simulator of the Apex Central / Control Manager
suspicious-object API, for testing vigil's Connected Threat Defense plugin
(plugins/ctd).

Python 3 stdlib only.  Serves HTTPS on 127.0.0.1 with a self-signed
certificate made by the `openssl` command-line tool, and checks every request
the way the server does (see ../shared/DESIGN.md, "Apex Central / Control
Manager suspicious objects").

Command line:
  python3 tests/peers/cm_sim.py --port 0 --port-file DIR/port --state-dir DIR \
      --app-id 8A4B0E0C-1F7A-4B3C-9D2E-5F6A7B8C9D0E --api-key SECRET \
      [--objects objects.json] [--faults faults.json] [--fault KEY[=VALUE]]... \
      [--time-window 300] [--lifetime 300] [--new-cert]

Files in --state-dir: cert.pem / key.pem (reused if present unless --new-cert),
`ca_file` (one line: absolute path of cert.pem) and `pin_sha256` (one line:
"AB:CD:..." SHA-256 of the DER certificate).  The port file (default
STATE_DIR/port) is written last, atomically: its existence means "ready".

The one API: GET /WebApp/api/SuspiciousObjects/UserDefinedSO/?type=TYPE
(path compared without case, as IIS does), TYPE one of file, file_sha1, url,
domain, ip, or no type at all (every object).  Authentication, in order:
  Authorization "Bearer HEADER.PAYLOAD.SIGNATURE"  else 401 missing_token
  three base64url parts, JSON header with typ "JWT" and alg HS256, HS384 or
  HS512, JSON payload                               else 401 bad_token
  signature = HMAC(api_key, "HEADER.PAYLOAD")       else 401 bad_signature
  payload appid == --app-id                         else 401 bad_appid
  payload version == "V1"                           else 401 bad_version
  payload iat a number within --time-window s       else 401 stale_iat
  payload checksum == base64(SHA-256(METHOD + "|" + request path?query in
    lower case + "|" + canonical headers + "|" + body))
                                                    else 401 bad_checksum
  where "path?query" is the request target as sent (no "?" when there is no
  query) and the canonical headers are those whose names start with "API",
  as "name:value" (name in lower case, value trimmed), sorted, concatenated
  (DESIGN leaves their exact form open; vigil sends none, so "").
Then: another method 405 bad_method, another path 404 not_found, an unknown
type 400 bad_type.  Rejections answer {"Data": null, "Meta": {"Result": 0,
"ErrorCode": <status>, "ErrorMsg": <reason>}} and are counted in
/sim/stats "rejected" by reason.

Success: {"Data": [objects of the type], "Meta": {"Result": 1,
"ErrorCode": 0, "ErrorMsg": ""}}.  Objects come from --objects (JSON, a list
of {"type", "content", "notes", "scan_action", "expiration_utc_date"},
re-read when it changes); type "file" also selects "file_sha1" objects and
the other way round.

Faults (--fault KEY[=VALUE], overlaid by --faults FILE, JSON, re-read when it
changes; a missing file means none):
  "status": 500        answer every request with this status (after auth)
  "garbage": true      200 with an HTML error page instead of JSON
  "truncated": true    200 with the JSON cut in half
  "result_error": true 200 with Meta.Result 0 (ErrorCode 500)
  "hang": true         never answer (the connection is dropped after 30 s)

No-auth control endpoints: GET /sim/stats (JSON counters), GET /sim/reset.
Stops by itself after --lifetime seconds; SIGTERM exits at once.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API_PATH = "/webapp/api/suspiciousobjects/userdefinedso/"
TYPES = {"file": ("file", "file_sha1"), "file_sha1": ("file", "file_sha1"),
         "url": ("url",), "domain": ("domain",), "ip": ("ip",)}
ALGS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
        "HS512": hashlib.sha512}


def log(msg):
    sys.stderr.write("%s cm_sim: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def b64url_decode(s):
    s = s.encode("ascii") if isinstance(s, str) else s
    return base64.urlsafe_b64decode(s + b"=" * (-len(s) % 4))


def checksum(method, target, canonical, body):
    """What the server computes: base64(SHA-256(METHOD|target|headers|body))."""
    text = "%s|%s|%s|%s" % (method.upper(), target.lower(), canonical,
                            body.decode("utf-8"))
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def canonical_headers(headers):
    items = sorted("%s:%s" % (k.lower(), v.strip()) for k, v in headers.items()
                   if k.lower().startswith("api"))
    return "".join(items)


class JsonFile:
    """A JSON file re-read whenever its mtime/size/inode changes."""

    def __init__(self, path, default):
        self.path, self.default, self.data, self.sig = path, default, default, None
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
                    self.data = self.default
                else:
                    try:
                        with open(self.path) as f:
                            self.data = json.load(f)
                        log("loaded %s" % self.path)
                    except (OSError, ValueError) as e:
                        log("cannot load %s: %s (keeping the old one)"
                            % (self.path, e))
            return self.data


class Sim:
    def __init__(self, args, base_faults):
        self.args = args
        self.lock = threading.Lock()
        self.objects = JsonFile(args.objects, [])
        self.faults_file = JsonFile(args.faults, {})
        self.base_faults = base_faults
        self.stop = threading.Event()
        self.reset_stats()

    def reset_stats(self):
        with self.lock:
            self.stats = {"requests": 0, "accepted": 0, "types": {},
                          "rejected": {}, "rejected_total": 0,
                          "faulted": 0, "last_checksum_input": ""}

    def bump(self, field, key=None):
        with self.lock:
            if key is None:
                self.stats[field] += 1
            else:
                self.stats[field][key] = self.stats[field].get(key, 0) + 1

    def faults(self):
        f = dict(self.base_faults)
        extra = self.faults_file.get()
        if isinstance(extra, dict):
            f.update(extra)
        return f

    def authenticate(self, method, target, headers, body):
        auth = headers.get("Authorization") or ""
        if not auth.startswith("Bearer "):
            return "missing_token", None
        parts = auth[7:].strip().split(".")
        if len(parts) != 3:
            return "bad_token", "not three parts"
        try:
            head = json.loads(b64url_decode(parts[0]))
            payload = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError) as e:
            return "bad_token", str(e)
        if not isinstance(head, dict) or not isinstance(payload, dict):
            return "bad_token", "not JSON objects"
        if head.get("typ") != "JWT" or head.get("alg") not in ALGS:
            return "bad_token", "header %r" % head
        want = hmac.new(self.args.api_key.encode(),
                        (parts[0] + "." + parts[1]).encode("ascii"),
                        ALGS[head["alg"]]).digest()
        if not hmac.compare_digest(want, sig):
            return "bad_signature", None
        if payload.get("appid") != self.args.app_id:
            return "bad_appid", payload.get("appid")
        if payload.get("version") != "V1":
            return "bad_version", payload.get("version")
        iat = payload.get("iat")
        if (not isinstance(iat, (int, float)) or isinstance(iat, bool)
                or abs(iat - time.time()) > self.args.time_window):
            return "stale_iat", iat
        canon = canonical_headers(headers)
        with self.lock:
            self.stats["last_checksum_input"] = "%s|%s|%s|" % (
                method.upper(), target.lower(), canon)
        if payload.get("checksum") != checksum(method, target, canon, body):
            return "bad_checksum", payload.get("checksum")
        return None, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CM-Sim/1.0"
    sys_version = ""

    def log_message(self, fmt, *a):
        pass

    def reply(self, code, body, ctype="application/json", extra=""):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        log("%s %s -> %d%s" % (self.command, self.path, code,
                               (" " + extra) if extra else ""))

    def reject(self, code, reason, detail=None):
        sim = self.server.sim
        sim.bump("rejected", reason)
        sim.bump("rejected_total")
        self.reply(code, json.dumps({"Data": None, "Meta": {
            "Result": 0, "ErrorCode": code, "ErrorMsg": reason}}),
            extra="rejected=%s%s" % (reason, " (%s)" % (detail,) if detail
                                     is not None else ""))

    def do_GET(self):
        self.dispatch()

    do_PUT = do_POST = do_DELETE = do_GET

    def dispatch(self):
        sim = self.server.sim
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if 0 < n < (1 << 20) else b""
        url = urlsplit(self.path)
        if url.path in ("/sim/stats", "/sim/reset"):
            if url.path == "/sim/reset":
                sim.reset_stats()
            with sim.lock:
                text = json.dumps(sim.stats, indent=1)
            return self.reply(200, text)
        sim.bump("requests")
        reason, detail = sim.authenticate(self.command, self.path,
                                          self.headers, body)
        if reason:
            return self.reject(401, reason, detail)
        if url.path.lower() != API_PATH:
            return self.reject(404, "not_found", url.path)
        if self.command != "GET":
            return self.reject(405, "bad_method", self.command)
        q = parse_qs(url.query, keep_blank_values=True)
        wanted = q.get("type", [None])[0]
        if wanted is not None and wanted.lower() not in TYPES:
            return self.reject(400, "bad_type", wanted)
        sim.bump("types", wanted or "")
        f = sim.faults()
        if f.get("hang"):
            sim.bump("faulted")
            sim.stop.wait(30)
            self.close_connection = True
            return
        if f.get("status"):
            sim.bump("faulted")
            return self.reply(int(f["status"]), "injected failure\n",
                              "text/plain", extra="fault")
        if f.get("garbage"):
            sim.bump("faulted")
            return self.reply(200, "<html><body>Service temporarily "
                              "unavailable</body></html>\n", "text/html",
                              extra="fault garbage")
        objs = sim.objects.get()
        if not isinstance(objs, list):
            objs = []
        types = TYPES[wanted.lower()] if wanted else None
        data = [o for o in objs if isinstance(o, dict) and
                (types is None or str(o.get("type", "")).lower() in types)]
        answer = {"Data": data, "Meta": {"Result": 1, "ErrorCode": 0,
                                         "ErrorMsg": ""},
                  "PermissionCtrl": {"permission": "255"},
                  "FeatureCtrl": {"mode": "0"}, "SystemCtrl":
                  {"TmcmSoDist_Role": "none"}}
        if f.get("result_error"):
            sim.bump("faulted")
            answer = {"Data": None, "Meta": {"Result": 0, "ErrorCode": 500,
                                             "ErrorMsg": "internal error"}}
        text = json.dumps(answer)
        if f.get("truncated"):
            sim.bump("faulted")
            text = text[:len(text) // 2]
        sim.bump("accepted")
        self.reply(200, text, extra="type=%s objects=%d" % (wanted,
                                                            len(data)))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def finish_request(self, request, client_address):
        request.settimeout(30)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as e:
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


def write_atomic(path, text):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


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


def parse_fault(s):
    k, sep, v = s.partition("=")
    if not sep:
        return k, True
    try:
        return k, json.loads(v)
    except ValueError:
        return k, v


def main(argv=None):
    ap = argparse.ArgumentParser(description="Apex Central SO API simulator")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--app-id", required=True)
    ap.add_argument("--api-key", required=True)
    ap.add_argument("--objects")
    ap.add_argument("--faults")
    ap.add_argument("--fault", action="append", default=[])
    ap.add_argument("--time-window", type=float, default=300.0)
    ap.add_argument("--lifetime", type=float, default=300.0)
    ap.add_argument("--new-cert", action="store_true")
    args = ap.parse_args(argv)

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
