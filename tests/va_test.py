#!/usr/bin/env python3
"""va_test.py - the Virtual Analyzer plugin (plugins/ddan) end to end:
vigild with the ddan plugin against two strict DDAN simulators
(tests/peers/ddan_sim.py) over HTTPS, messages in by SMTP, decisions read
from the maildir next hop and the store.

Run by tests/va.sh (make check) with top_srcdir, top_builddir and VIGIL in
the environment. Every wait is bounded; the simulators stop by themselves.
"""
import email
import email.policy
import hashlib
import json
import os
import shutil
import signal
import smtplib
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from email.message import EmailMessage

SRC = os.environ["top_srcdir"]
BUILD = os.environ["top_builddir"]
VIGIL = os.environ["VIGIL"]
VIGILD = os.path.join(os.path.dirname(VIGIL), "vigild")
API_KEY = "91E140D4-2C57-4239-AE55-B26213A63CED"
# The EICAR test file, reversed so that no scanner flags this script.
EICAR_REVERSED = ("*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\\4[PA@%P!O5X")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, cond, timeout=40, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


class Sim:
    """One ddan_sim.py process."""

    def __init__(self, work, name, verdicts):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.faults = os.path.join(self.dir, "faults.json")
        self.verdicts = os.path.join(self.dir, "verdicts.json")
        with open(self.verdicts, "w") as f:
            json.dump(verdicts, f)
        self.set_faults({})
        self.log = open(os.path.join(self.dir, "sim.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(SRC, "tests/peers/ddan_sim.py"),
             "--port", "0", "--state-dir", self.dir, "--api-key", API_KEY,
             "--verdicts", self.verdicts, "--faults", self.faults,
             "--processing-seconds", "1", "--lifetime", "240",
             "--hang-seconds", "5"],
            stderr=self.log)
        portfile = os.path.join(self.dir, "port")
        wait_for("simulator " + name, lambda: os.path.exists(portfile), 30)
        self.port = int(open(portfile).read())
        self.ca_file = open(os.path.join(self.dir, "ca_file")).read().strip()
        self.pin = open(os.path.join(self.dir, "pin_sha256")).read().strip()

    def set_faults(self, faults):
        tmp = self.faults + ".tmp"
        with open(tmp, "w") as f:
            json.dump(faults, f)
        os.replace(tmp, self.faults)
        # the simulator re-reads it at once: os.replace gives a new inode

    def stats(self):
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.check_hostname = False
        with urllib.request.urlopen("https://127.0.0.1:%d/sim/stats" % self.port,
                                    context=ctx, timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


def exe(tag):
    """A small PE-looking executable, unique per tag."""
    body = b"MZ" + b"\x90" * 58 + b"\x80\x00\x00\x00" + b"\x00" * 64
    body += b"PE\x00\x00\x4c\x01" + b"\x00" * 200 + tag.encode() * 20
    return body


def message(subject, name, data, ctype="application/octet-stream"):
    m = EmailMessage()
    m["From"] = "alice@partner.example"
    m["To"] = "bob@example.com"
    m["Subject"] = subject
    m["Message-ID"] = "<%s@partner.example>" % hashlib.sha1(
        (subject + name).encode()).hexdigest()[:16]
    m.set_content("see attached\n")
    maintype, subtype = ctype.split("/")
    m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return m.as_bytes(policy=email.policy.SMTP)


class VATest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="vigil-va.")
        verdicts = {"name": {"evil*.exe": {"risk": 3, "virus": "TROJ_TEST.A",
                                           "type": "WIN32 EXE"},
                             "*.js": {"risk": 1, "virus": "JS_DROPPER"},
                             "async*.exe": {"risk": 3, "virus": "TROJ_ASYNC"},
                             "urls.txt": {"risk": 2, "virus": "URL_PHISH"}},
                    "default": {"risk": 0}}
        cls.a = Sim(cls.work, "simA", verdicts)
        cls.b = Sim(cls.work, "simB", verdicts)
        cls.port = free_port()
        cls.vigild = None
        cls.write_config(mode="sync")
        cls.start()

    @classmethod
    def tearDownClass(cls):
        cls.stop_vigild()
        cls.a.stop()
        cls.b.stop()
        if os.environ.get("VIGIL_TEST_KEEP"):
            print("kept", cls.work)
        else:
            shutil.rmtree(cls.work, ignore_errors=True)

    @classmethod
    def write_config(cls, mode):
        w = cls.work
        confd = os.path.join(w, "conf.d")
        os.makedirs(confd, exist_ok=True)
        for f in ("10-truetype.conf", "20-extension.conf", "40-atse.conf",
                  "45-snap.conf"):
            shutil.copy(os.path.join(SRC, "conf.d", f), confd)
        if not os.path.isdir(os.path.join(confd, "atse")):
            shutil.copytree(os.path.join(SRC, "conf.d", "atse"),
                            os.path.join(confd, "atse"))
        with open(os.path.join(confd, "30-ddan.conf"), "w") as f:
            f.write("""plugins = ( { name = "ddan";
  security_level = "high"; max_wait = 300;
  query_delay = 1; query_interval = 1; max_attempts = 4; timeout = 3;
  mode = "%s"; cache_ttl = 82800;
  exception = { intercept = "quarantine"; area = "default"; notify = [ "admin-alert" ]; };
  product_name = "vigil"; source_id = 501; source_name = "vigil";
  servers = ( { host = "127.0.0.1"; port = %d; api_key = "%s"; preference = 10;
                ca_file = "%s"; },
              { host = "127.0.0.1"; port = %d; api_key = "%s"; preference = 20;
                pin_sha256 = "%s"; } ); } );
""" % (mode, cls.a.port, API_KEY, cls.a.ca_file, cls.b.port, API_KEY, cls.b.pin))
        with open(os.path.join(confd, "50-va-rules.conf"), "w") as f:
            f.write("""rules = (
  { name = "VA: executables"; order = 50;
    conditions = ( { type = "truetype"; categories = [ "executable" ]; va_submit = true; } );
    actions = { intercept = "delete"; notify = [ "admin-alert" ]; }; },
  { name = "VA: scripts"; order = 60;
    conditions = ( { type = "extension"; names = "*.js;*.vbs"; va_submit = true; } );
    actions = { intercept = "quarantine"; area = "default"; notify = [ "admin-alert" ]; }; },
  { name = "Tag executables"; order = 100;
    conditions = ( { type = "truetype"; categories = [ "executable" ]; } );
    actions = { intercept = "pass"; tag_subject = "[EXE]"; }; } );
""")
        subprocess.run([os.path.join(SRC, "tools/dev-config"), BUILD,
                        os.path.join(w, "vigil.conf"), w], check=True)
        with open(os.path.join(w, "vigil.conf")) as f:
            conf = f.read()
        conf = "\n".join(
            'include_dir = "%s";' % confd if l.startswith("include_dir =") else l
            for l in conf.splitlines())
        conf = conf.replace('"smtp:127.0.0.1:10024"', '"smtp:127.0.0.1:%d"' % cls.port)
        with open(os.path.join(w, "vigil.conf"), "w") as f:
            f.write(conf + "\n")
        for root, _, files in os.walk(w):
            for n in files:
                if n.endswith(".conf"):
                    os.chmod(os.path.join(root, n), 0o644)

    @classmethod
    def start(cls):
        cls.log = open(os.path.join(cls.work, "vigild.log"), "a")
        cls.vigild = subprocess.Popen(
            ["timeout", "300", VIGILD, "-f", "--config",
             os.path.join(cls.work, "vigil.conf")], stderr=cls.log)

        def up():
            try:
                socket.create_connection(("127.0.0.1", cls.port), 1).close()
                return True
            except OSError:
                return False
        wait_for("vigild to listen", up, 30)

    @classmethod
    def stop_vigild(cls):
        if cls.vigild is not None:
            cls.vigild.send_signal(signal.SIGTERM)
            cls.vigild.wait(30)
            cls.vigild = None
            cls.log.close()

    # ---- helpers ----
    def send(self, data, rcpt="bob@example.com"):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.sendmail("alice@partner.example", [rcpt], data)

    def vigil(self, *args, ok=(0,)):
        r = subprocess.run([VIGIL, "--config", os.path.join(self.work, "vigil.conf")]
                           + list(args), capture_output=True, text=True, timeout=60)
        self.assertIn(r.returncode, ok, "vigil %s: %s %s" % (args, r.stdout, r.stderr))
        return r.stdout + r.stderr

    def db(self, sql, *params):
        con = sqlite3.connect(os.path.join(self.work, "vigil.db"), timeout=10)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def events(self, subject):
        return self.db("SELECT rule, action, threat_type, detected, ticket, msg_id "
                       "FROM events WHERE subject = ? ORDER BY id", subject)

    def delivered(self):
        d = os.path.join(self.work, "delivered", "new")
        out = []
        for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            with open(os.path.join(d, n), "rb") as f:
                out.append(email.message_from_binary_file(f, policy=email.policy.default))
        return out

    def subjects(self):
        return [str(m["Subject"]) for m in self.delivered()]

    def final(self, subject):
        rows = self.db("SELECT final_action FROM tracking WHERE subject = ?", subject)
        return rows[0][0] if rows and rows[0][0] else None

    def wait_final(self, subject, timeout=40):
        return wait_for("final action of " + subject,
                        lambda: self.final(subject), timeout)

    # ---- the tests, in order (unittest sorts by name) ----
    def test_1_executable_risk3_deleted_and_notified(self):
        """The seed's first sample rule: an executable with risk 3 is deleted
        and the administrator notified; the event says what the VA found."""
        self.send(message("evil one", "evil1.exe", exe("evil1")))
        self.assertEqual(self.wait_final("evil one"), "delete")
        ev = self.events("evil one")
        self.assertEqual(ev[0][0], "VA: executables", ev)
        self.assertEqual(ev[0][2], "Analyzed advanced threat", ev)
        self.assertIn("risk 3 (high)", ev[0][3])
        self.assertIn("TROJ_TEST.A", ev[0][3])
        wait_for("notification", lambda: any(
            "VA: executables" in s for s in self.subjects()))
        self.assertNotIn("evil one", self.subjects())

    def test_2_script_risk1_high_level_quarantined(self):
        """The seed's second: *.js, security level high, risk 1 ->
        quarantined and notified."""
        self.send(message("script one", "invoice.js",
                          b"var x = new ActiveXObject('WScript.Shell');\n",
                          "application/javascript"))
        self.assertEqual(self.wait_final("script one"), "quarantine")
        ev = self.events("script one")
        self.assertEqual(ev[0][0], "VA: scripts")
        self.assertIn("risk 1 (low)", ev[0][3])
        wait_for("notification", lambda: any(
            "VA: scripts" in s for s in self.subjects()))

    def test_3_risk0_outside_level_goes_on(self):
        """No risk: the VA rule does not match and the next rule decides."""
        self.send(message("harmless tool", "tool.exe", exe("harmless")))
        self.assertEqual(self.wait_final("harmless tool"), "pass")
        wait_for("delivery", lambda: "[EXE] harmless tool" in self.subjects())

    def test_4_fifty_messages_one_upload(self):
        """50 messages with the same attachment: exactly one upload, and
        every message gets the verdict."""
        before = self.a.stats()["upload_total"] + self.b.stats()["upload_total"]
        data = exe("shared")
        for i in range(50):
            self.send(message("shared %02d" % i, "evil-shared.exe", data))
        for i in range(50):
            self.assertEqual(self.wait_final("shared %02d" % i), "delete")
        sha = hashlib.sha1(data).hexdigest()
        sa, sb = self.a.stats(), self.b.stats()
        self.assertEqual(sa["upload_total"] + sb["upload_total"] - before, 1)
        self.assertEqual(sa["uploads"].get(sha, 0) + sb["uploads"].get(sha, 0), 1)
        self.assertEqual(sa["rejected_total"], 0, sa["rejected"])

    def test_5_always_busy_exception(self):
        """The appliance never finishes: after max_attempts the scanning
        exception quarantines, logged "Probable advanced threat"; while it
        waits, the VA queue shows its progress."""
        self.a.set_faults({"always_processing": True})
        try:
            self.send(message("busy one", "busy.exe", exe("busy")))
            rows = wait_for("VA queue row", lambda: [
                l for l in self.vigil("queue", "list", "--area", "va",
                                      "--format", "csv").splitlines()
                if "busy one" in l and ",1," not in l], 20)
            head = self.vigil("queue", "list", "--area", "va", "--format",
                              "csv").splitlines()[0]
            self.assertEqual(head, "msg_id,time,sender,rcpts,subject,submitted,"
                                   "last_query,attempts,expires,rule")
            self.assertEqual(self.wait_final("busy one"), "quarantine")
        finally:
            self.a.set_faults({})
        ev = self.events("busy one")
        exc = [e for e in ev if e[0] == "Virtual Analyzer scanning exception"]
        self.assertTrue(exc, ev)
        self.assertEqual(exc[0][2], "Probable advanced threat")
        self.assertIn("no verdict after 4 queries", exc[0][3])
        self.assertFalse([l for l in self.vigil("queue", "list", "--area", "va",
                                                 "--format", "csv").splitlines()
                          if "busy one" in l])

    def test_5b_lying_or_hanging_appliance_exception(self):
        """Malformed XML, an impossible risk value, a hanging server: each
        ends in the scanning exception, never in a verdict or a crash."""
        cases = [("garbage xml", {"malformed_xml": True}, "no verdict after 4 queries"),
                 ("risk seven", {"risk_value": 7}, "unreadable risk level"),
                 ("hanging", {"hang": True, "ops": ["get_brief_report", "get_report"]},
                  "no verdict after 4 queries")]
        for subject, faults, why in cases:
            self.a.set_faults(faults)
            self.b.set_faults(faults)
            try:
                tag = subject.replace(" ", "")
                self.send(message(subject, tag + ".exe", exe(tag)))
                self.assertEqual(self.wait_final(subject, 90), "quarantine", subject)
            finally:
                self.a.set_faults({})
                self.b.set_faults({})
            exc = [e for e in self.events(subject)
                   if e[0] == "Virtual Analyzer scanning exception"]
            self.assertTrue(exc, subject)
            self.assertEqual(exc[0][2], "Probable advanced threat")
            self.assertIn(why, exc[0][3], subject)

    def test_6_release_from_va(self):
        """vigil va release ID: the message leaves VA scanning and the
        other rules decide."""
        self.a.set_faults({"always_processing": True})
        try:
            self.send(message("held one", "held.exe", exe("held")))
            line = wait_for("held row", lambda: [
                l for l in self.vigil("queue", "list", "--area", "va",
                                      "--format", "csv").splitlines()
                if "held one" in l], 20)[0]
            msg_id = line.split(",")[0]
            out = self.vigil("va", "release", msg_id)
            self.assertIn("released", out)
            self.assertEqual(self.wait_final("held one"), "pass")
            wait_for("delivery", lambda: "[EXE] held one" in self.subjects())
            self.vigil("va", "release", msg_id, ok=(1,))  # not held any more
        finally:
            self.a.set_faults({})

    def test_7_status_and_cache(self):
        out = self.vigil("va", "status")
        self.assertIn("127.0.0.1:%d preference 10: reachable" % self.a.port, out)
        self.assertIn("127.0.0.1:%d preference 20: reachable" % self.b.port, out)
        self.assertNotIn(API_KEY, out)
        cache = self.vigil("va", "cache", "list")
        self.assertIn(hashlib.sha1(exe("evil1")).hexdigest() + "  risk 3 (high)", cache)
        va = json.loads(self.vigil("status"))["plugins"]["va"]
        self.assertIn("server 127.0.0.1:%d: " % self.a.port, va)
        self.assertRegex(va, r"samples: \d+ queued, \d+ submitted, \d+ done")

    def test_8_cache_survives_restart(self):
        """A verdict cached before a restart answers after it: no upload,
        no request at all for that sample."""
        type(self).stop_vigild()
        type(self).start()
        before = self.a.stats()["total_requests"] + self.b.stats()["total_requests"]
        before_up = self.a.stats()["upload_total"] + self.b.stats()["upload_total"]
        self.send(message("evil again", "evil1.exe", exe("evil1")))
        self.assertEqual(self.wait_final("evil again"), "delete")
        after_up = self.a.stats()["upload_total"] + self.b.stats()["upload_total"]
        self.assertEqual(after_up, before_up)
        ev = self.events("evil again")
        self.assertEqual(ev[0][2], "Analyzed advanced threat")

    def test_9_held_message_survives_restart(self):
        """A message held for a verdict when vigild stops is held again
        after the restart and gets its verdict."""
        self.a.set_faults({"always_processing": True})
        self.send(message("evil held", "evil-held.exe", exe("evilheld")))
        wait_for("held row", lambda: [
            l for l in self.vigil("queue", "list", "--area", "va", "--format",
                                  "csv").splitlines() if "evil held" in l], 20)
        type(self).stop_vigild()
        self.a.set_faults({})
        type(self).start()
        self.assertEqual(self.wait_final("evil held"), "delete")

    def test_a_failover_to_second_server(self):
        """The first server refuses connections: new submissions go to the
        second."""
        self.a.set_faults({"refuse": True, "status": 503})
        try:
            data = exe("failover")
            self.send(message("evil failover", "evil-failover.exe", data))
            self.assertEqual(self.wait_final("evil failover"), "delete")
            sha = hashlib.sha1(data).hexdigest()
            self.assertEqual(self.b.stats()["uploads"].get(sha), 1)
        finally:
            self.a.set_faults({})

    def test_b_async_mode(self):
        """Async: the message is delivered at once; the event is updated
        when the verdict arrives."""
        type(self).write_config(mode="async")
        self.assertIn("ok", self.vigil("reload"))
        self.send(message("async one", "async1.exe", exe("async1")))
        self.assertEqual(self.wait_final("async one"), "pass")
        wait_for("delivery", lambda: "[EXE] async one" in self.subjects())
        ev = wait_for("the verdict noted", lambda: [
            e for e in self.events("async one")
            if e[2] == "Analyzed advanced threat"], 30)
        self.assertEqual(ev[0][0], "VA: executables")
        self.assertIn("risk 3 (high)", ev[0][3])
        self.assertEqual(ev[0][4], "")  # the ticket is settled

    def test_b2_snap_double_verification(self):
        """SNAP with a Virtual Analyzer is aggressive: its detection's URLs
        go to the sandbox as a URL sample, and the verdict confirms it."""
        path = os.path.join(SRC, "plugins/snap/tests/phish/09-link-text-mismatch.eml")
        with open(path, "rb") as f:
            data = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        before = self.a.stats()["upload_total"] + self.b.stats()["upload_total"]
        self.send(data, rcpt="staff@example.com")
        self.assertEqual(self.wait_final("Action required on your account"),
                         "quarantine")
        ev = [e for e in self.events("Action required on your account")
              if e[0] == "Social engineering attack"]
        self.assertTrue(ev)
        self.assertEqual(ev[0][2], "Analyzed advanced threat")
        self.assertIn("confirmed by ddan", ev[0][3])
        after = self.a.stats()["upload_total"] + self.b.stats()["upload_total"]
        self.assertGreaterEqual(after - before, 1)

    def test_b3_atse_double_confirmation(self):
        """An ATSE detection goes to the Virtual Analyzer: risk inside the
        level confirms it (the virus rule acts, "Analyzed advanced
        threat"); no risk dismisses it and the message goes on."""
        eicar = EICAR_REVERSED[::-1].encode()
        confirm, dismiss = eicar + b"\n", eicar + b"\r\n"
        with open(self.a.verdicts) as f:
            v = json.load(f)
        v["sha1"] = {hashlib.sha1(confirm).hexdigest(): {"risk": 3, "virus": "EICAR_TEST"},
                     hashlib.sha1(dismiss).hexdigest(): {"risk": 0}}
        for sim in (self.a, self.b):
            with open(sim.verdicts + ".tmp", "w") as f:
                json.dump(v, f)
            os.replace(sim.verdicts + ".tmp", sim.verdicts)
        self.send(message("eicar confirmed", "test-a.com", confirm))
        self.send(message("eicar dismissed", "test-b.com", dismiss))
        self.assertEqual(self.wait_final("eicar confirmed"), "quarantine")
        ev = self.events("eicar confirmed")
        self.assertEqual(ev[0][0], "Virus scan (ATSE)", ev)
        self.assertEqual(ev[0][2], "Analyzed advanced threat", ev)
        self.assertEqual(self.wait_final("eicar dismissed"), "pass")
        self.assertFalse([e for e in self.events("eicar dismissed")
                          if e[0] == "Virus scan (ATSE)"])

    def test_c_tls_pin_mismatch_is_a_clear_error(self):
        """A wrong pinned fingerprint: the server is unreachable with a
        clear reason, and the API key is never printed. (vigild is
        stopped, so `vigil va` builds its own generation from the file.)"""
        type(self).stop_vigild()
        conf = os.path.join(self.work, "conf.d", "30-ddan.conf")
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace(self.b.pin, "AB:" * 31 + "AB"))
        out = self.vigil("va", "status", ok=(0,))  # server A still answers
        self.assertIn("preference 10: reachable", out)
        self.assertIn("preference 20: UNREACHABLE", out)
        self.assertIn("certificate fingerprint mismatch", out)
        self.assertNotIn(API_KEY, out)
        with open(conf, "w") as f:
            f.write(text.replace(API_KEY, "not-a-key"))
        out = self.vigil("check-config", ok=(1, 2))
        self.assertIn("api_key", out)
        self.assertNotIn("not-a-key", out)
        with open(conf, "w") as f:
            f.write(text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
