#!/usr/bin/env python3
"""smtp_peer.py - a scripted next hop for vigild's delivery tests.

Listens on 127.0.0.1:PORT (0 = pick one; the port is written to PORTFILE),
speaks enough SMTP (EHLO with PIPELINING, MAIL, RCPT, DATA, RSET, QUIT) and
stores each message as OUTDIR/N.eml with X-Peer-Rcpts / X-Peer-Sender
headers prepended. Recipients whose local part starts with "reject" get
550, "defer" get 451. Stops by itself after LIFETIME seconds.
Usage: smtp_peer.py PORT PORTFILE OUTDIR [LIFETIME]
"""
import os
import socket
import sys
import threading
import time


def serve(conn, outdir, counter):
    f = conn.makefile("rb")
    out = conn.makefile("wb")

    def say(line):
        out.write(line.encode() + b"\r\n")
        out.flush()

    say("220 peer ESMTP")
    sender, rcpts = None, []
    while True:
        line = f.readline(4096)
        if not line:
            return
        cmd = line.decode("latin-1").strip()
        verb = cmd[:4].upper()
        if verb in ("EHLO", "HELO", "LHLO"):
            say("250-peer\r\n250-PIPELINING\r\n250 8BITMIME")
        elif verb == "MAIL":
            sender, rcpts = cmd[10:].split(">")[0].lstrip("<"), []
            say("250 ok")
        elif verb == "RCPT":
            addr = cmd[8:].split(">")[0].lstrip("<")
            local = addr.split("@")[0]
            if local.startswith("reject"):
                say("550 5.1.1 no such user")
            elif local.startswith("defer"):
                say("451 4.3.0 try later")
            else:
                rcpts.append(addr)
                say("250 ok")
        elif verb == "DATA":
            if not rcpts:
                say("503 no recipients")
                continue
            say("354 go")
            data = []
            while True:
                l = f.readline(1 << 20)
                if not l or l in (b".\r\n", b".\n"):
                    break
                data.append(l[1:] if l.startswith(b"..") else l)
            with counter["lock"]:
                counter["n"] += 1
                n = counter["n"]
            tmp = os.path.join(outdir, ".%d.tmp" % n)
            with open(tmp, "wb") as m:
                m.write(b"X-Peer-Sender: %s\r\nX-Peer-Rcpts: %s\r\n" % (sender.encode(), ",".join(rcpts).encode()))
                m.writelines(data)
            os.rename(tmp, os.path.join(outdir, "%d.eml" % n))
            say("250 2.0.0 stored %d" % n)
        elif verb == "RSET":
            sender, rcpts = None, []
            say("250 ok")
        elif verb == "QUIT":
            say("221 bye")
            return
        else:
            say("250 ok")


def main():
    port, portfile, outdir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    lifetime = float(sys.argv[4]) if len(sys.argv) > 4 else 120
    os.makedirs(outdir, exist_ok=True)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    with open(portfile + ".tmp", "w") as p:
        p.write(str(s.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    counter = {"n": 0, "lock": threading.Lock()}
    s.settimeout(0.5)
    end = time.time() + lifetime
    while time.time() < end:
        try:
            conn, _ = s.accept()
        except socket.timeout:
            continue
        conn.settimeout(30)
        threading.Thread(target=serve, args=(conn, outdir, counter), daemon=True).start()


if __name__ == "__main__":
    main()
