#!/usr/bin/env python3
"""bench-va.py - `tools/bench va`: many messages held for the Virtual
Analyzer at once, against the DDAN simulator (tests/peers/ddan_sim.py).

Sends COUNT messages, each with its own small executable, to vigild over
SMTP; a rule sends executables to the sandbox (va_submit), which answers
"no risk" PROCESSING seconds after each upload, so every message is held,
then delivered. Prints, one line each (goals from the Virtual Analyzer
issue): the most messages held at once; HTTP requests per held message per
polling round (batched get_brief_report: goal <= 0.05) and per verdict;
vigild's peak RSS (goal < 150 MB); and the time from the poll that brings
a verdict to the message's delivery (goal p99 < 2 s), measured from the
simulator's first "done" answer for the sample to the maildir file's mtime.

Usage: tools/bench-va.py --src SRC --build BUILD --cache DIR [--count N]
       [--processing S] [--interval S] [--senders N]
Exit: 0 measured (goals are reported, not enforced), 2 invalid run.
"""
import argparse
import email.parser
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
import threading
import time
import urllib.request
from email.message import EmailMessage

API_KEY = "91E140D4-2C57-4239-AE55-B26213A63CED"
GOAL_REQ = 0.05
GOAL_RSS_MB = 150
GOAL_P99_S = 2.0


def log(msg):
    sys.stderr.write("bench va: %s\n" % msg)
    sys.stderr.flush()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, cond, timeout, step=0.2):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise SystemExit("bench va: timed out waiting for " + what)


def executable(i):
    body = b"MZ" + b"\x90" * 58 + b"\x80\x00\x00\x00" + b"\x00" * 64
    return body + b"PE\x00\x00\x4c\x01" + b"\x00" * 200 + b"sample %d " % i * 8


def message(i):
    data = executable(i)
    sha = hashlib.sha1(data).hexdigest()
    m = EmailMessage()
    m["From"] = "sender@partner.example"
    m["To"] = "bob@example.com"
    m["Subject"] = "va-bench " + sha
    m["Message-ID"] = "<va-bench-%d@partner.example>" % i
    m.set_content("sample %d\n" % i)
    m.add_attachment(data, maintype="application", subtype="octet-stream",
                     filename="tool%d.exe" % i)
    return m.as_bytes(policy=email.policy.SMTP)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--processing", type=int, default=240)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--senders", type=int, default=16)
    a = ap.parse_args()

    run = os.path.join(a.cache, "va")
    shutil.rmtree(run, ignore_errors=True)
    os.makedirs(os.path.join(run, "conf.d"))
    simdir = os.path.join(run, "sim")
    os.makedirs(simdir)
    with open(os.path.join(simdir, "verdicts.json"), "w") as f:
        json.dump({"default": {"risk": 0}}, f)
    sim = subprocess.Popen(
        [sys.executable, os.path.join(a.src, "tests/peers/ddan_sim.py"),
         "--port", "0", "--state-dir", simdir, "--api-key", API_KEY,
         "--verdicts", os.path.join(simdir, "verdicts.json"),
         "--processing-seconds", str(a.processing), "--lifetime", "1800"],
        stderr=subprocess.DEVNULL)
    vigild = None
    try:
        portfile = os.path.join(simdir, "port")
        wait_for("the simulator", lambda: os.path.exists(portfile), 60)
        sim_port = int(open(portfile).read())
        ca_file = open(os.path.join(simdir, "ca_file")).read().strip()

        confd = os.path.join(run, "conf.d")
        shutil.copy(os.path.join(a.src, "conf.d", "10-truetype.conf"), confd)
        with open(os.path.join(confd, "30-ddan.conf"), "w") as f:
            f.write("""plugins = ( { name = "ddan"; security_level = "high";
  query_delay = %d; query_interval = %d; max_attempts = 1000; max_wait = 1800;
  servers = ( { host = "127.0.0.1"; port = %d; api_key = "%s"; ca_file = "%s"; } ); } );
rules = ( { name = "VA: executables"; order = 50;
  conditions = ( { type = "truetype"; categories = [ "executable" ]; va_submit = true; } );
  actions = { intercept = "delete"; }; } );
""" % (a.interval, a.interval, sim_port, API_KEY, ca_file))
        conf = os.path.join(run, "vigil.conf")
        subprocess.run([os.path.join(a.src, "tools/dev-config"), a.build, conf,
                        run], check=True)
        smtp_port = free_port()
        with open(conf) as f:
            text = f.read()
        text = "\n".join('include_dir = "%s";' % confd
                         if l.startswith("include_dir =") else l
                         for l in text.splitlines())
        text = text.replace('"smtp:127.0.0.1:10024"',
                            '"smtp:127.0.0.1:%d"' % smtp_port)
        with open(conf, "w") as f:
            f.write(text + "\n")
        for n in os.listdir(confd):
            os.chmod(os.path.join(confd, n), 0o644)
        os.chmod(conf, 0o644)

        vlog = open(os.path.join(run, "vigild.log"), "w")
        vigild = subprocess.Popen(
            ["timeout", "1800", os.path.join(a.build, "core/vigild"), "-f",
             "--config", conf], stderr=vlog)

        def listening():
            try:
                socket.create_connection(("127.0.0.1", smtp_port), 1).close()
                return True
            except OSError:
                return False
        wait_for("vigild", listening, 60)
        pid = int(subprocess.run(["pgrep", "-P", str(vigild.pid), "vigild"],
                                 capture_output=True, text=True).stdout.split()[0])

        log("sending %d messages (%d sessions)" % (a.count, a.senders))
        t0 = time.time()
        errors = []

        def sender(k):
            try:
                with smtplib.SMTP("127.0.0.1", smtp_port, timeout=120) as s:
                    for i in range(k, a.count, a.senders):
                        s.sendmail("sender@partner.example",
                                   ["bob@example.com"], message(i))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
        threads = [threading.Thread(target=sender, args=(k,))
                   for k in range(a.senders)]
        for t in threads:
            t.start()
        db = os.path.join(run, "vigil.db")
        held_max = 0

        def held():
            try:
                con = sqlite3.connect(db, timeout=10)
                n = con.execute("SELECT count(*) FROM queue WHERE area = 'va'"
                                ).fetchone()[0]
                con.close()
                return n
            except sqlite3.Error:
                return 0
        while any(t.is_alive() for t in threads):
            held_max = max(held_max, held())
            time.sleep(0.5)
        if errors:
            raise SystemExit("bench va: sending failed: %s" % errors[:3])
        log("sent in %.1f s" % (time.time() - t0))
        maildir = os.path.join(run, "delivered", "new")

        def delivered():
            nonlocal held_max
            held_max = max(held_max, held())
            return os.path.isdir(maildir) and len(os.listdir(maildir)) >= a.count
        wait_for("every delivery", delivered,
                 a.processing + 30 * a.interval + a.count / 20, 1.0)
        with open("/proc/%d/status" % pid) as f:
            hwm = [l for l in f if l.startswith("VmHWM:")][0].split()[1]
        rss_mb = int(hwm) / 1024

        ctx = ssl.create_default_context(cafile=ca_file)
        ctx.check_hostname = False
        with urllib.request.urlopen("https://127.0.0.1:%d/sim/stats" % sim_port,
                                    context=ctx, timeout=60) as r:
            st = json.loads(r.read())
        done = st["done_reported"]
        parser = email.parser.BytesHeaderParser()
        lat = []
        for n in os.listdir(maildir):
            path = os.path.join(maildir, n)
            with open(path, "rb") as f:
                subj = str(parser.parse(f)["Subject"] or "")
            sha = subj.split()[-1] if subj.startswith("va-bench") else ""
            if sha in done:
                lat.append(os.stat(path).st_mtime - done[sha])
        lat.sort()
        if len(lat) < a.count:
            raise SystemExit("bench va: %d of %d deliveries have a verdict time"
                             % (len(lat), a.count))
        req = st["requests"]
        brief = req.get("get_brief_report", 0)
        per_round = brief / max(1, st["brief_report_items"])
        total = st["total_requests"]
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
        print("va held at once: %d of %d messages (%d distinct samples, %d "
              "uploads)" % (held_max, a.count, len(done), st["upload_total"]))
        print("va requests per held message per polling round: %.4f "
              "(%d get_brief_report for %d sample-polls; goal <= %.2f) %s"
              % (per_round, brief, st["brief_report_items"], GOAL_REQ,
                 "ok" if per_round <= GOAL_REQ else "MISSED"))
        print("va http requests per verdict: %.2f (%s)" % (
            total / a.count, ", ".join("%s %d" % kv for kv in sorted(req.items()))))
        print("va vigild peak RSS: %.1f MB (goal < %d MB) %s" % (
            rss_mb, GOAL_RSS_MB, "ok" if rss_mb < GOAL_RSS_MB else "MISSED"))
        print("va verdict-to-delivery: p50 %.2f s, p99 %.2f s, max %.2f s "
              "(goal p99 < %.0f s) %s" % (p(0.5), p(0.99), lat[-1], GOAL_P99_S,
                                          "ok" if p(0.99) < GOAL_P99_S else "MISSED"))
        return 0
    finally:
        if vigild is not None:
            vigild.send_signal(signal.SIGTERM)
            try:
                vigild.wait(60)
            except subprocess.TimeoutExpired:
                vigild.kill()
        sim.terminate()
        sim.wait(10)


if __name__ == "__main__":
    sys.exit(main())
