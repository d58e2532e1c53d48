#!/bin/bash
# crash.sh - vigild's promises under stress, end to end:
#
# 1. Durability (DESIGN.md "Storage": 250 only once a message is on disk,
#    and never a loss after that). 20 concurrent SMTP senders offer 500
#    clean, uniquely numbered messages; vigild (next hop: a maildir) is
#    killed with SIGKILL while they are at it and started again at once. A
#    sender retries a message that got no 250 (as an MTA would) for up to
#    60 s. Then: every message that was ever answered 250 must be in the
#    maildir once the spool is empty. Duplicates are allowed (at least
#    once: a message can be delivered and the crash come before its spool
#    entry is removed), losses are not. The counts are printed.
# 2. Reload is all or nothing (DESIGN.md "Reload"): SIGHUP with a broken
#    drop-in keeps the running generation (the refusal is logged with
#    FILE:LINE) and mail is still processed under the old policy;
#    `vigil reload` with a broken configuration exits non-zero and prints
#    the errors; once fixed, `vigil reload` loads a new generation.
#
# Needs: python3 (smtplib). Everything on 127.0.0.1, random port, bounded in
# time; the EXIT trap stops vigild and removes the temporary directory
# (VIGIL_TEST_KEEP=1 keeps it). Exit 0 only when every check passed.
# shellcheck disable=SC2317,SC2016  # functions run from traps and eval
set -uo pipefail
: "${top_srcdir:?}" "${top_builddir:?}" "${VIGIL:?}"
VIGILD=$(dirname "$VIGIL")/vigild
EX=$top_srcdir/examples
N=${CRASH_MESSAGES:-500}
SENDERS=${CRASH_SENDERS:-20}
KILL_AT=${CRASH_KILL_AT:-$((N * 2 / 5))} # SIGKILL after this many 250s
LIFETIME=170                               # s, per vigild run (timeout(1))

say() { echo "crash.sh: $*"; }
# mark WHAT: a line in vigild's log, so the log reads with the test's steps
mark() { echo "--- crash.sh $(date +%T.%3N): $*" >>"$LOG"; }
die() { say "FATAL: $*"; exit 1; }
FAILED=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }

[ -x "$VIGILD" ] || die "no vigild next to $VIGIL"
command -v python3 >/dev/null || die "python3 needed"

work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-crash.XXXXXX") || die "mktemp"
VAR=$work/var
conf=$VAR/vigil.conf
confd=$VAR/conf.d
LOG=$VAR/vigild.log
vigild_wrap="" vigild_pid="" sender_pid=""

stop_vigild() { # TERM, then KILL after 5 s
	if [ -n "$vigild_pid" ] && kill -0 "$vigild_pid" 2>/dev/null; then
		kill -TERM "$vigild_pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$vigild_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$vigild_pid" 2>/dev/null
	fi
	[ -z "$vigild_wrap" ] || kill -KILL "$vigild_wrap" 2>/dev/null
	vigild_pid="" vigild_wrap=""
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -z "$sender_pid" ] || kill -TERM "$sender_pid" 2>/dev/null
	stop_vigild
	if [ "$rc" != 0 ]; then
		echo "--- vigild log (last 40 lines)"; tail -n 40 "$LOG" 2>/dev/null
	fi
	if [ "${VIGIL_TEST_KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
# wait_for SECONDS WHAT COMMAND...: poll COMMAND until it succeeds or time is up
wait_for() {
	local secs=$1 what=$2 end
	shift 2
	end=$((SECONDS + secs))
	until "$@"; do
		[ $SECONDS -lt $end ] || { say "timed out after ${secs}s waiting for $what"; return 1; }
		sleep 0.2
	done
}
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# ------------------------------------------------------------ config --
mkdir -p "$VAR" "$confd"
"$top_srcdir/tools/dev-config" "$top_builddir" "$conf" "$VAR" || die "tools/dev-config failed"
sed -i -e "s|^include_dir = .*|include_dir = \"$confd\";|" \
	-e "s|^\( *listen = \).*|\1[ \"smtp:127.0.0.1:$PORT\" ];|" "$conf"
for want in "include_dir = \"$confd\";" "\"smtp:127.0.0.1:$PORT\"" "next_hop = \"maildir:$VAR/delivered\";"; do
	grep -qF "$want" "$conf" || die "test config: $want not set (conf.d/vigil.conf changed shape?)"
done
cp "$top_srcdir"/conf.d/*.conf "$confd/" && rm -f "$confd/vigil.conf"
cp -r "$top_srcdir"/conf.d/atse "$confd/"   # ATSE signatures, beside 40-atse.conf
chmod 644 "$conf" "$confd"/*.conf
MAILDIR=$VAR/delivered
SPOOLQ=$VAR/spool/queue

start_vigild() {
	mark "starting vigild"
	timeout -k 5 "$LIFETIME" "$VIGILD" -f --config "$conf" </dev/null 2>>"$LOG" &
	vigild_wrap=$!
	wait_for 10 "vigild to start" eval 'vigild_pid=$(pgrep -P "$vigild_wrap"); [ -n "$vigild_pid" ]' ||
		die "vigild did not start: $(tail -5 "$LOG")"
	wait_for 30 "vigild on port $PORT" listening "$PORT" || die "vigild not listening: $(tail -5 "$LOG")"
}
spool_count() { find "$SPOOLQ" -maxdepth 2 -type f -name '*.msg' 2>/dev/null | wc -l; }  # queue/X/ID.msg
# A message leaves the spool only once delivered (or quarantined/deleted).
spool_idle() { [ "$(spool_count)" = 0 ]; }

# ------------------------------------------------------ 1. the crash --
echo "== durability: $N messages, $SENDERS concurrent senders, SIGKILL after $KILL_AT accepted"
start_vigild
say "vigild pid $vigild_pid on 127.0.0.1:$PORT, next hop maildir:$MAILDIR"
RUNID=$$.$RANDOM
python3 - "$PORT" "$N" "$SENDERS" "$work/accepted" "$work/sender.json" "$RUNID" <<'PY' &
# Each thread sends its share over one reused SMTP connection, reconnecting
# after any error, and retries a message until it gets a 250 (at most 60 s).
# Every 250 is appended to the accepted file at once (line-buffered).
import json, smtplib, sys, threading, time
port, n, nthreads, acc_path, out_path, runid = sys.argv[1:7]
port, n, nthreads = int(port), int(n), int(nthreads)
acc = open(acc_path, "a", buffering=1)
lock = threading.Lock()
stats = {"sent": 0, "attempts": 0, "accepted": 0, "gave_up": 0, "errors": {}}

def message(i):
    filler = "".join("line %d of message %d: the quick brown fox jumps over the lazy dog\n"
                     % (k, i) for k in range(10 + i % 40))
    return ("From: Sender %d <sender%d@partner.example>\n"
            "To: Bob <bob@example.com>\n"
            "Subject: crash test %05d\n"
            "Date: Tue, 14 Nov 2023 10:00:00 +0000\n"
            "Message-ID: <crash-%05d.%s@test.vigil.example>\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=us-ascii\n\n"
            "%s" % (i % 7, i % 7, i, i, runid, filler)).encode()

def count_error(e):
    key = type(e).__name__ + (" %s" % e.smtp_code if hasattr(e, "smtp_code") else "")
    with lock:
        stats["errors"][key] = stats["errors"].get(key, 0) + 1

def worker(t):
    conn = None
    for i in range(t, n, nthreads):
        data = message(i)
        with lock:
            stats["sent"] += 1
        deadline = time.time() + 60
        while True:
            with lock:
                stats["attempts"] += 1
            try:
                if conn is None:
                    conn = smtplib.SMTP("127.0.0.1", port, "client.example.org", timeout=30)
                refused = conn.sendmail("sender%d@partner.example" % (i % 7), ["bob@example.com"], data)
                if refused:
                    raise smtplib.SMTPRecipientsRefused(refused)
                with lock:
                    stats["accepted"] += 1
                    acc.write("%05d\n" % i)
                break
            except (OSError, smtplib.SMTPException) as e:
                count_error(e)
                try:
                    if conn is not None:
                        conn.close()
                except Exception:
                    pass
                conn = None
                if time.time() > deadline:
                    with lock:
                        stats["gave_up"] += 1
                    break
                time.sleep(0.2)
    if conn is not None:
        try:
            conn.quit()
        except Exception:
            pass

threads = [threading.Thread(target=worker, args=(t,)) for t in range(nthreads)]
for th in threads:
    th.start()
for th in threads:
    th.join()
json.dump(stats, open(out_path, "w"))
PY
sender_pid=$!
accepted_count() { [ -f "$work/accepted" ] && wc -l <"$work/accepted" || echo 0; }
if wait_for 60 "$KILL_AT messages accepted" eval '[ "$(accepted_count)" -ge "$KILL_AT" ] || ! kill -0 "$sender_pid" 2>/dev/null'; then
	before=$(accepted_count)
	if kill -0 "$sender_pid" 2>/dev/null; then
		mark "SIGKILL $vigild_pid"
		kill -KILL "$vigild_pid"
		say "SIGKILL vigild (pid $vigild_pid) after $before messages accepted, senders still running"
	else
		bad "the senders finished before the kill point ($before accepted): no crash under load"
		kill -KILL "$vigild_pid"
	fi
	wait "$vigild_wrap" 2>/dev/null
	vigild_pid="" vigild_wrap=""
	queued=$(spool_count)
	delivered_at_kill=$(find "$MAILDIR/new" -type f 2>/dev/null | wc -l)
	say "at the crash: $queued message(s) in the spool, $delivered_at_kill file(s) in the maildir"
	sleep 0.5
	start_vigild
	say "vigild restarted (pid $vigild_pid): $(grep -h 'resuming' "$LOG" | tail -1)"
else
	die "vigild accepted only $(accepted_count) messages in 60 s"
fi
wait_for 120 "the senders to finish" eval '! kill -0 "$sender_pid" 2>/dev/null' || die "senders still running"
wait "$sender_pid"
sender_rc=$? sender_pid=""
[ "$sender_rc" = 0 ] || bad "sender exited $sender_rc"
wait_for 60 "vigild's spool to empty" spool_idle || bad "spool not empty 60 s after the last message: $(spool_count) left"

python3 - "$work/sender.json" "$work/accepted" "$MAILDIR" "$RUNID" "$N" <<'PY'
import json, os, re, sys
stats_path, acc_path, maildir, runid, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
stats = json.load(open(stats_path))
accepted = set(l.strip() for l in open(acc_path) if l.strip())
tok = re.compile(rb"^Message-ID: <crash-(\d{5})\." + re.escape(runid.encode()) + rb"@", re.M | re.I)
copies, strays = {}, 0
for sub in ("new", "cur"):
    d = os.path.join(maildir, sub)
    for name in (os.listdir(d) if os.path.isdir(d) else []):
        m = tok.search(open(os.path.join(d, name), "rb").read())
        if m is None:
            strays += 1
            continue
        k = m.group(1).decode()
        copies[k] = copies.get(k, 0) + 1
delivered = set(copies)
dups = sum(c - 1 for c in copies.values())
lost = sorted(accepted - delivered)
unaccepted_delivered = len(delivered - accepted)
print("   sent %d (attempts %d, %d gave up), accepted (250) %d, delivered %d distinct "
      "(%d files), duplicates %d, lost %d" % (stats["sent"], stats["attempts"], stats["gave_up"],
      len(accepted), len(delivered), sum(copies.values()), dups, len(lost)))
print("   sender errors: %s" % (", ".join("%s x%d" % kv for kv in sorted(stats["errors"].items())) or "none"))
if unaccepted_delivered:
    print("   %d delivered without a 250 seen by the sender (spooled, answer lost in the crash)" % unaccepted_delivered)
if strays:
    print("   %d maildir file(s) not from this test" % strays)
fails = []
if stats["sent"] != n:
    fails.append("sent %d, expected %d" % (stats["sent"], n))
if lost:
    fails.append("LOST %d accepted message(s): %s" % (len(lost), " ".join(lost[:20])))
if len(accepted) < n:
    fails.append("only %d of %d messages were ever accepted (senders retried 60 s each)" % (len(accepted), n))
if fails:
    sys.exit("; ".join(fails))
PY
if [ $? = 0 ]; then
	ok "no accepted message lost across SIGKILL"
else
	bad "durability (see above)"
fi
tmpleft=$(find "$VAR/spool/tmp" -type f 2>/dev/null | wc -l)
say "spool tmp/ files left after recovery: $tmpleft"

# ----------------------------------------------------- 2. reloading --
echo "== reload: a broken configuration keeps the running generation"
# While the configuration on disk is broken, `vigil` itself cannot read it
# (no status, no queue list): what vigild does is seen in its log, its
# quarantine directory and the maildir.
gen() { sed -n 's/^vigild: generation \([0-9]*\) loaded.*/\1/p' "$LOG" | tail -1; }
# send_example FILE TO: one message through vigild; 0 when answered 250
send_example() {
	timeout 30 python3 - "$PORT" "$EX/$1" "$2" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), "client.example.org", timeout=20) as s:
    s.sendmail("alice@partner.example", [sys.argv[3]], open(sys.argv[2], "rb").read())
PY
}
delivered_has() { grep -rlqF -- "$1" "$MAILDIR/new" "$MAILDIR/cur" 2>/dev/null; }
quarantined_n() { find "$VAR/spool/quarantine" -type f 2>/dev/null | wc -l; }
# still_working LABEL: the old policy still runs: a clean message is
# delivered; an executable is quarantined, not delivered, and the
# admin-alert notification goes out (to the maildir next hop)
still_working() {
	local label=$1 q0 id1 id2 alert="Subject: vigil: Quarantine executables"
	q0=$(quarantined_n)
	id1=$(sed -n 's/^Message-ID: *//Ip' "$EX/01-clean.eml" | head -1 | tr -d '\r')
	id2=$(sed -n 's/^Message-ID: *//Ip' "$EX/02-invoice-exe.eml" | head -1 | tr -d '\r')
	rm -f "$MAILDIR"/new/* # the crash part is checked; only new mail counts
	if send_example 01-clean.eml bob@example.com &&
		wait_for 30 "01-clean delivered" delivered_has "$id1"; then
		ok "$label: a clean message is accepted and delivered"
	else
		bad "$label: clean message not delivered"
	fi
	if send_example 02-invoice-exe.eml bob@example.com &&
		wait_for 30 "02-invoice-exe quarantined" eval '[ "$(quarantined_n)" -gt "$q0" ]' &&
		wait_for 30 "the admin notification" delivered_has "$alert" &&
		! delivered_has "$id2"; then
		ok "$label: an executable is quarantined and the admin notified (old policy at work)"
	else
		bad "$label: executable: quarantine files $q0 -> $(quarantined_n)," \
			"notification $(delivered_has "$alert" && echo sent || echo missing)," \
			"delivered to bob $(delivered_has "$id2" && echo YES || echo no)"
	fi
}

g0=$(gen)
[ -n "$g0" ] || die "no 'generation N loaded' line in vigild's log"
say "running generation $g0"

# 2a. SIGHUP, syntax error in a drop-in
printf '# broken on purpose by tests/crash.sh\nrules = (\n  { name = "broken"; order = ; }\n);\n' >"$confd/60-broken.conf"
chmod 644 "$confd/60-broken.conf"
mark "SIGHUP $vigild_pid, 60-broken.conf has a syntax error"
lines0=$(wc -l <"$LOG")
kill -HUP "$vigild_pid"
if wait_for 15 "the reload refusal in vigild's log" eval 'tail -n +"$((lines0 + 1))" "$LOG" | grep -q "60-broken.conf:[0-9]"'; then
	ok "SIGHUP with a syntax error: refused, logged with FILE:LINE:"
	tail -n +"$((lines0 + 1))" "$LOG" | grep "60-broken.conf" | head -3 | sed 's/^/   /'
else
	bad "SIGHUP with a syntax error: no FILE:LINE refusal in the log; new lines: $(tail -n +"$((lines0 + 1))" "$LOG" | head -5)"
fi
kill -0 "$vigild_pid" 2>/dev/null || die "vigild (pid $vigild_pid) died on SIGHUP with a broken config"
g1=$(gen)
if [ "$g1" = "$g0" ]; then ok "still generation $g1"; else bad "generation $g0 -> $g1 after a refused reload"; fi
still_working "after SIGHUP with a broken config"

# 2b. vigil reload, syntax error: the CLI cannot read the config itself
mark "vigil reload, 60-broken.conf has a syntax error"
rc=0
out=$(timeout 30 "$VIGIL" --config "$conf" reload 2>&1) || rc=$?
if [ "$rc" != 0 ] && grep -q "60-broken.conf:[0-9]" <<<"$out"; then
	ok "vigil reload (syntax error) exits $rc and prints:"
	sed 's/^/   /' <<<"$out" | head -5
else
	bad "vigil reload (syntax error): exit $rc, output: $out"
fi

# 2c. vigil reload, a config that parses but cannot be built (unknown
# condition type): vigild refuses it and the CLI prints its answer
cat >"$confd/60-broken.conf" <<'CONF'
# broken on purpose by tests/crash.sh: no such condition type
rules = (
  { name = "broken"; enabled = true; order = 10;
    conditions = ( { type = "no_such_condition"; } );
    actions = { intercept = "delete"; }; }
);
CONF
mark "vigil reload, 60-broken.conf has an unknown condition type"
rc=0
out=$(timeout 30 "$VIGIL" --config "$conf" reload 2>&1) || rc=$?
if [ "$rc" != 0 ] && grep -q "60-broken.conf:[0-9]" <<<"$out"; then
	ok "vigil reload (unknown condition type) exits $rc and prints:"
	sed 's/^/   /' <<<"$out" | head -5
else
	bad "vigil reload (unknown condition type): exit $rc, output: $out"
fi
kill -0 "$vigild_pid" 2>/dev/null || die "vigild (pid $vigild_pid) died on a refused reload"
g2=$(gen)
if [ "$g2" = "$g0" ]; then ok "still generation $g2"; else bad "generation $g0 -> $g2 after a refused reload"; fi
still_working "after a refused vigil reload"

# 2d. fixed: a new generation
rm -f "$confd/60-broken.conf"
mark "vigil reload, 60-broken.conf removed"
rc=0
out=$(timeout 30 "$VIGIL" --config "$conf" reload 2>&1) || rc=$?
g3=$(gen)
if [ "$rc" = 0 ] && [ "$out" = "ok generation $g3" ] && [ "$g3" != "$g0" ]; then
	ok "vigil reload (fixed config): '$out', generation $g0 -> $g3"
else
	bad "vigil reload (fixed config): exit $rc, '$out', generation in the log $g0 -> $g3"
fi
rc=0
out=$(timeout 20 "$VIGIL" --config "$conf" status 2>&1) || rc=$?
if [ "$rc" = 0 ] && grep -q "\"generation\":$g3," <<<"$out"; then
	ok "vigil status: $out"
else
	bad "vigil status: exit $rc: $out"
fi

echo "== vigild stops on SIGTERM"
kill -TERM "$vigild_pid"
if wait_for 20 "vigild to stop" eval '! kill -0 "$vigild_pid" 2>/dev/null'; then
	wait "$vigild_wrap"
	rc=$?
	vigild_pid="" vigild_wrap=""
	if [ "$rc" = 0 ]; then ok "vigild stopped, exit 0"; else bad "vigild exited $rc on SIGTERM"; fi
else
	bad "vigild still running 20 s after SIGTERM"
fi

if [ "$FAILED" -gt 0 ]; then
	say "$FAILED check(s) FAILED"
	exit 1
fi
say "all checks passed"
exit 0
