"""Tests for tests/peers/ddan_sim.py (the DDAN web service simulator).

Run from the top of the tree:
    python3 -m unittest tests/peers/test_ddan_sim.py -v
"""
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, "ddan_sim.py")
KEY = "91E140D4-2C57-4239-AE55-B26213A63CED"
PREFIX = "/web_service/sample_upload/"
ORDERS = {
    "test_connection": "X-DTAS-ProtocolVersion,X-DTAS-Time,X-DTAS-Challenge",
    "register": "X-DTAS-ProtocolVersion,X-DTAS-ProductName,X-DTAS-ClientHostname,"
                "X-DTAS-ClientUUID,X-DTAS-SourceID,X-DTAS-SourceName,"
                "X-DTAS-Time,X-DTAS-Challenge",
    "unregister": "X-DTAS-ProtocolVersion,X-DTAS-ClientUUID,X-DTAS-Time,"
                  "X-DTAS-Challenge",
    "check_duplicate_sample": "X-DTAS-ProtocolVersion,X-DTAS-ClientUUID,"
                              "X-DTAS-Time,X-DTAS-Challenge",
    "simple_upload_sample": "X-DTAS-ProtocolVersion,X-DTAS-ClientUUID,"
                            "X-DTAS-SourceID,X-DTAS-SourceName,X-DTAS-SHA1,"
                            "X-DTAS-Time,X-DTAS-SampleType,X-DTAS-Challenge",
    "get_brief_report": "X-DTAS-ProtocolVersion,X-DTAS-ClientUUID,X-DTAS-Time,"
                        "X-DTAS-Challenge",
    "get_report": "X-DTAS-ProtocolVersion,X-DTAS-ClientUUID,X-DTAS-SHA1,"
                  "X-DTAS-Time,X-DTAS-Challenge",
}
METHOD = {"check_duplicate_sample": "PUT", "get_brief_report": "PUT",
          "simple_upload_sample": "POST"}


def sha1(b):
    return hashlib.sha1(b).hexdigest()


class Client:
    """A small DDAN client that signs requests as DESIGN describes."""

    def __init__(self, port, ca_file, key=KEY):
        self.port, self.key = port, key
        self.ctx = ssl.create_default_context(cafile=ca_file)
        self.uuid = str(uuid.uuid4()).upper()

    def headers(self, op, extra=None):
        h = {"X-DTAS-ProtocolVersion": "1.5",
             "X-DTAS-Time": str(int(time.time())),
             "X-DTAS-Challenge": str(uuid.uuid4()),
             "X-DTAS-ClientUUID": self.uuid,
             "X-DTAS-ProductName": "vigil",
             "X-DTAS-ClientHostname": "mx.test",
             "X-DTAS-SourceID": "501",
             "X-DTAS-SourceName": "vigil",
             "X-DTAS-ChecksumCalculatingOrder": ORDERS[op]}
        h.update(extra or {})
        return h

    @staticmethod
    def sign(key, h, body=b""):
        vals = "".join(h.get(n.strip(), "")
                       for n in h["X-DTAS-ChecksumCalculatingOrder"].split(","))
        h["X-DTAS-Checksum"] = sha1((key + vals).encode() + body)
        return h

    def call(self, op, body=b"", extra=None, h=None, ctype="text/plain",
             sign_body=True, timeout=5):
        if h is None:
            h = self.sign(self.key, self.headers(op, extra),
                          body if sign_body else b"")
        req = urllib.request.Request(
            "https://127.0.0.1:%d%s%s" % (self.port, PREFIX, op),
            data=body if METHOD.get(op) else None, headers=dict(h),
            method=METHOD.get(op, "GET"))
        if METHOD.get(op):
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, context=self.ctx,
                                        timeout=timeout) as r:
                return r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers

    def register(self):
        return self.call("register")

    def upload(self, data, name="sample.bin", sha=None, sample_type="0"):
        boundary = "----vigil" + uuid.uuid4().hex
        body = (("--%s\r\nContent-Disposition: form-data; name=\"uploadsample\";"
                 " filename=\"%s\"\r\nContent-Type: application/octet-stream"
                 "\r\n\r\n" % (boundary, name)).encode() + data +
                ("\r\n--%s--\r\n" % boundary).encode())
        return self.call("simple_upload_sample", body,
                         extra={"X-DTAS-SHA1": sha or sha1(data),
                                "X-DTAS-SampleType": sample_type},
                         ctype="multipart/form-data; boundary=" + boundary,
                         sign_body=False)

    def brief(self, shas):
        code, body, _ = self.call("get_brief_report", ";".join(shas).encode())
        return code, body

    def brief_map(self, shas):
        code, body = self.brief(shas)
        assert code == 200, (code, body)
        root = ET.fromstring(body)
        return {e.findtext("SHA1"): (e.findtext("STATUS"), e.findtext("RiskLevel"))
                for e in root.findall("BRIEF_REPORT")}

    def report(self, sha):
        return self.call("get_report", extra={"X-DTAS-SHA1": sha})

    def raw_get_report(self, sha):
        """get_report over a raw TLS socket: (all bytes received, closed?)."""
        h = self.sign(self.key, self.headers("get_report", {"X-DTAS-SHA1": sha}))
        req = "GET %sget_report HTTP/1.1\r\nHost: 127.0.0.1\r\n" % PREFIX
        req += "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        t = self.ctx.wrap_socket(s, server_hostname="127.0.0.1")
        t.sendall(req.encode())
        data, closed = b"", False
        try:
            while True:
                b = t.recv(4096)
                if not b:
                    closed = True
                    break
                data += b
        except (ssl.SSLError, ConnectionError):
            closed = True
        except socket.timeout:
            closed = False
        t.close()
        return data, closed


class SimCase(unittest.TestCase):
    sim_args = []

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ddan_sim_test.")
        cls.verdicts = os.path.join(cls.dir, "verdicts.json")
        cls.faults = os.path.join(cls.dir, "faults.json")
        cls.write_json(cls.verdicts, {
            "sha1": {sha1(b"evil payload"): {"risk": 3, "virus": "TROJ_X"},
                     "a" * 40: {"risk": 2, "preloaded": True}},
            "name": {"*.exe": {"risk": 3, "virus": "TROJ_EXE"},
                     "*.js": {"risk": 1}},
            "default": {"risk": 0}})
        port_file = os.path.join(cls.dir, "port")
        cls.log = open(os.path.join(cls.dir, "sim.log"), "w")
        cls.proc = subprocess.Popen(
            [sys.executable, SIM, "--port", "0", "--port-file", port_file,
             "--state-dir", cls.dir, "--api-key", KEY,
             "--verdicts", cls.verdicts, "--faults", cls.faults,
             "--processing-seconds", "1", "--lifetime", "120",
             "--hang-seconds", "3", "--io-timeout", "5"] + cls.sim_args,
            stderr=cls.log)
        for _ in range(200):
            if os.path.exists(port_file):
                break
            if cls.proc.poll() is not None:
                raise RuntimeError("simulator died")
            time.sleep(0.05)
        with open(port_file) as f:
            cls.port = int(f.read())
        with open(os.path.join(cls.dir, "ca_file")) as f:
            cls.ca = f.read().strip()
        cls.c = Client(cls.port, cls.ca)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(5)
        cls.log.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @staticmethod
    def write_json(path, obj):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(obj, f)
        os.replace(tmp, path)

    def set_faults(self, obj):
        if obj is None:
            try:
                os.unlink(self.faults)
            except FileNotFoundError:
                pass
        else:
            self.write_json(self.faults, obj)

    def stats(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        with urllib.request.urlopen("https://127.0.0.1:%d/sim/stats" % self.port,
                                    context=ctx, timeout=5) as r:
            return json.loads(r.read())

    def wait_done(self, sha, limit=5):
        end = time.time() + limit
        while time.time() < end:
            st, risk = self.c.brief_map([sha])[sha]
            if st == "done":
                return risk
            time.sleep(0.1)
        self.fail("sample %s never done" % sha)


class TestProtocol(SimCase):
    def setUp(self):
        self.set_faults(None)
        self.assertEqual(self.c.register()[0], 200)

    def test_cert_files(self):
        with open(os.path.join(self.dir, "pin_sha256")) as f:
            pin = f.read().strip()
        out = subprocess.run(["openssl", "x509", "-in", self.ca, "-noout",
                              "-fingerprint", "-sha256"], capture_output=True,
                             text=True, check=True).stdout
        self.assertEqual(out.strip().split("=", 1)[1], pin)

    def test_test_connection_and_reply_checksum(self):
        code, body, h = self.c.call("test_connection")
        self.assertEqual(code, 200)
        self.assertEqual(h["X-DTAS-Checksum"], sha1(KEY.encode() + body))

    def test_register_unregister(self):
        c = Client(self.port, self.ca)
        n = self.rejected("unregistered")
        code, _ = c.brief(["b" * 40])
        self.assertEqual(code, 401)             # not registered yet
        self.assertEqual(self.rejected("unregistered"), n + 1)
        self.assertEqual(c.register()[0], 200)
        self.assertIn(c.uuid.lower(), self.stats()["registered_clients"])
        self.assertEqual(c.brief(["b" * 40])[0], 200)
        self.assertEqual(c.call("unregister")[0], 200)
        self.assertNotIn(c.uuid.lower(), self.stats()["registered_clients"])
        self.assertEqual(c.brief(["b" * 40])[0], 401)

    def rejected(self, reason):
        return self.stats()["rejected"].get(reason, 0)

    def test_wrong_checksum(self):
        n = self.rejected("bad_checksum")
        h = Client.sign("00000000-0000-0000-0000-000000000000",
                        self.c.headers("test_connection"))
        self.assertEqual(self.c.call("test_connection", h=h)[0], 401)
        # body is part of the checksum for text bodies
        h = Client.sign(KEY, self.c.headers("get_brief_report"), b"x")
        self.assertEqual(self.c.call("get_brief_report", b"c" * 40, h=h)[0], 401)
        self.assertEqual(self.rejected("bad_checksum"), n + 2)

    def test_old_time(self):
        n = self.rejected("bad_time")
        for t in (time.time() - 400, time.time() + 400):
            h = Client.sign(KEY, self.c.headers(
                "test_connection", {"X-DTAS-Time": str(int(t))}))
            self.assertEqual(self.c.call("test_connection", h=h)[0], 401)
        h = Client.sign(KEY, self.c.headers(
            "test_connection", {"X-DTAS-Time": str(int(time.time() - 200))}))
        self.assertEqual(self.c.call("test_connection", h=h)[0], 200)
        self.assertEqual(self.rejected("bad_time"), n + 2)

    def test_reused_challenge(self):
        n = self.rejected("replayed_challenge")
        h = Client.sign(KEY, self.c.headers("test_connection"))
        self.assertEqual(self.c.call("test_connection", h=h)[0], 200)
        self.assertEqual(self.c.call("test_connection", h=h)[0], 401)
        self.assertEqual(self.rejected("replayed_challenge"), n + 1)
        h = Client.sign(KEY, self.c.headers(
            "test_connection", {"X-DTAS-Challenge": "not-a-uuid"}))
        self.assertEqual(self.c.call("test_connection", h=h)[0], 401)

    def test_wrong_order(self):
        n = self.rejected("bad_order")
        for order in ("X-DTAS-Time,X-DTAS-ProtocolVersion,X-DTAS-Challenge",
                      "X-DTAS-ProtocolVersion, X-DTAS-Time, X-DTAS-Challenge",
                      "X-DTAS-ProtocolVersion,X-DTAS-Time"):
            h = Client.sign(KEY, self.c.headers(
                "test_connection", {"X-DTAS-ChecksumCalculatingOrder": order}))
            self.assertEqual(self.c.call("test_connection", h=h)[0], 401)
        self.assertEqual(self.rejected("bad_order"), n + 3)

    def test_missing_protocol_version(self):
        h = self.c.headers("test_connection")
        Client.sign(KEY, h)
        del h["X-DTAS-ProtocolVersion"]
        self.assertEqual(self.c.call("test_connection", h=h)[0], 401)

    def test_upload_sha1_mismatch(self):
        n = self.rejected("sha1_mismatch")
        code, _, _ = self.c.upload(b"real bytes", sha=sha1(b"other bytes"))
        self.assertEqual(code, 400)
        self.assertEqual(self.rejected("sha1_mismatch"), n + 1)
        self.assertNotIn(sha1(b"real bytes"), self.stats()["uploads"])

    def test_upload_bad_sample_type(self):
        self.assertEqual(self.c.upload(b"x", sample_type="7")[0], 400)

    def test_lifecycle_and_reports(self):
        data = b"evil payload"
        s = sha1(data)
        self.assertEqual(self.c.brief_map([s])[s][0], "not found")
        self.assertEqual(self.c.report(s)[0], 404)
        self.assertEqual(self.c.call("check_duplicate_sample",
                                     s.encode())[1], b"")
        self.assertEqual(self.c.upload(data, "x.doc")[0], 200)
        self.assertIn(self.c.brief_map([s])[s][0], ("arrived", "processing"))
        # bare 102 as final status, then the connection closes
        raw, closed = self.c.raw_get_report(s)
        self.assertTrue(raw.startswith(b"HTTP/1.1 102 "), raw)
        self.assertEqual(raw.count(b"HTTP/1.1"), 1)
        self.assertTrue(closed)
        code, dup, _ = self.c.call("check_duplicate_sample",
                                   ("%s;%s" % (s, "d" * 40)).encode())
        self.assertEqual((code, dup.decode()), (200, s))
        self.assertEqual(self.wait_done(s), "3")
        code, body, _ = self.c.report(s)
        self.assertEqual(code, 200)
        root = ET.fromstring(body)
        self.assertEqual(root.tag, "REPORTS")
        self.assertEqual(root.findtext("OVERALL_RISK_LEVEL"), "3")
        self.assertEqual(root.findtext("FILE_ANALYZE_REPORT/FileSHA1"), s)
        self.assertEqual(root.findtext("FILE_ANALYZE_REPORT/VirusName"), "TROJ_X")

    def test_verdict_by_name_and_default_and_batch(self):
        exe, js, txt = b"MZ fake exe 1", b"alert(1) // 1", b"plain text 1"
        for d, n in ((exe, "setup.EXE"), (js, "a.js"), (txt, "a.txt")):
            self.assertEqual(self.c.upload(d, n)[0], 200)
        shas = [sha1(exe), sha1(js), sha1(txt)]
        time.sleep(1.1)
        m = self.c.brief_map(shas + ["a" * 40])
        self.assertEqual(m[shas[0]], ("done", "3"))
        self.assertEqual(m[shas[1]], ("done", "1"))
        self.assertEqual(m[shas[2]], ("done", "0"))
        self.assertEqual(m["a" * 40], ("done", "2"))     # preloaded
        self.assertEqual(ET.fromstring(self.c.report(shas[0])[1]).findtext(
            "FILE_ANALYZE_REPORT/TrueFileType"), "WIN32 EXE")

    def test_verdicts_reload(self):
        data = b"reload me"
        with open(self.verdicts) as f:
            v = json.load(f)
        v["sha1"][sha1(data)] = {"risk": 2, "virus": "NEW"}
        self.write_json(self.verdicts, v)
        self.c.upload(data)
        self.assertEqual(self.wait_done(sha1(data)), "2")

    def test_stats_count_uploads(self):
        data = b"counted upload"
        for _ in range(3):
            self.assertEqual(self.c.upload(data)[0], 200)
        st = self.stats()
        self.assertEqual(st["uploads"][sha1(data)], 3)
        self.assertGreaterEqual(st["requests"]["simple_upload_sample"], 3)
        self.assertGreaterEqual(st["requests"]["register"], 1)


class TestFaults(SimCase):
    def setUp(self):
        self.set_faults(None)
        self.assertEqual(self.c.register()[0], 200)

    def tearDown(self):
        self.set_faults(None)

    def test_refuse(self):
        self.set_faults({"refuse": True})
        with self.assertRaises((urllib.error.URLError, ConnectionError,
                                ssl.SSLError, OSError)):
            self.c.call("test_connection", timeout=3)
        self.assertGreaterEqual(self.stats_after_clear()["refused_connections"], 1)

    def stats_after_clear(self):
        self.set_faults(None)
        return self.stats()

    def test_hang(self):
        self.set_faults({"hang": True, "hang_seconds": 2})
        t = time.time()
        with self.assertRaises((socket.timeout, urllib.error.URLError,
                                TimeoutError)):
            self.c.call("test_connection", timeout=0.5)
        self.assertLess(time.time() - t, 2)
        self.assertGreaterEqual(self.stats_after_clear()["hung_requests"], 1)

    def test_hang_is_bounded(self):
        self.set_faults({"hang": True, "hang_seconds": 1})
        t = time.time()
        with self.assertRaises((urllib.error.URLError, ConnectionError,
                                OSError)):
            self.c.call("test_connection", timeout=4)
        self.assertLess(time.time() - t, 3.5)

    def test_status(self):
        for code in (500, 503):
            self.set_faults({"status": code})
            self.assertEqual(self.c.call("test_connection")[0], code)
        self.set_faults({"status": 503, "ops": ["get_brief_report"]})
        self.assertEqual(self.c.call("test_connection")[0], 200)
        self.assertEqual(self.c.brief(["e" * 40])[0], 503)

    def test_malformed_xml(self):
        data = b"malformed sample"
        self.c.upload(data)
        time.sleep(1.1)
        self.set_faults({"malformed_xml": True})
        code, body = self.c.brief([sha1(data)])
        self.assertEqual(code, 200)
        with self.assertRaises(ET.ParseError):
            ET.fromstring(body)
        code, body, _ = self.c.report(sha1(data))
        self.assertEqual(code, 200)
        with self.assertRaises(ET.ParseError):
            ET.fromstring(body)

    def test_wrong_risk_values(self):
        data = b"risky sample"
        self.c.upload(data)
        time.sleep(1.1)
        for val, text in (("high", "high"), (7, "7"), (-5, "-5")):
            self.set_faults({"risk_value": val})
            self.assertEqual(self.c.brief_map([sha1(data)])[sha1(data)],
                             ("done", text))
            self.assertEqual(ET.fromstring(self.c.report(sha1(data))[1])
                             .findtext("OVERALL_RISK_LEVEL"), text)

    def test_always_processing(self):
        data = b"slow sample"
        self.set_faults({"always_processing": True})
        self.c.upload(data)
        time.sleep(1.2)
        self.assertEqual(self.c.brief_map([sha1(data)])[sha1(data)][0],
                         "processing")
        raw, closed = self.c.raw_get_report(sha1(data))
        self.assertTrue(raw.startswith(b"HTTP/1.1 102 "))
        self.set_faults(None)
        self.assertEqual(self.c.brief_map([sha1(data)])[sha1(data)][0], "done")

    def test_bad_checksum_reply(self):
        self.set_faults({"bad_checksum_reply": True})
        code, body, h = self.c.call("test_connection")
        self.assertEqual(code, 200)
        self.assertNotEqual(h["X-DTAS-Checksum"], sha1(KEY.encode() + body))

    def test_stats_reset(self):
        self.c.call("test_connection")
        ctx = ssl.create_default_context(cafile=self.ca)
        urllib.request.urlopen("https://127.0.0.1:%d/sim/reset" % self.port,
                               context=ctx, timeout=5).read()
        self.assertEqual(self.stats()["requests"], {})


class TestCommandLineFaultAndLifetime(unittest.TestCase):
    def test_cli_fault_and_lifetime(self):
        d = tempfile.mkdtemp(prefix="ddan_sim_test.")
        try:
            pf = os.path.join(d, "p")
            p = subprocess.Popen(
                [sys.executable, SIM, "--port", "0", "--port-file", pf,
                 "--state-dir", d, "--api-key", KEY, "--fault", "status=503",
                 "--lifetime", "2"], stderr=subprocess.DEVNULL)
            for _ in range(200):
                if os.path.exists(pf):
                    break
                time.sleep(0.05)
            with open(pf) as f:
                port = int(f.read())
            c = Client(port, os.path.join(d, "cert.pem"))
            self.assertEqual(c.call("test_connection")[0], 503)
            self.assertEqual(p.wait(5), 0)      # exits by itself
        finally:
            if p.poll() is None:
                p.kill()
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
