#!/bin/bash
# postfix.sh - vigild end to end behind a real Postfix, the way DESIGN.md
# puts it ("Where it sits"):
#
#   swaks --> Postfix smtpd 127.0.0.1:P1 --content_filter--> vigild :P2
#         --> Postfix re-injection smtpd :P3 --> virtual(8) --> Maildir
#
# Postfix is a PRIVATE instance: its own config_directory, queue_directory
# and data_directory under a temporary directory, `postfix -c DIR start`,
# listening on 127.0.0.1 only, on random free ports. The system's Postfix (if
# any) is neither used nor touched. The re-injection smtpd follows Postfix's
# FILTER_README (content_filter= and receive_override_options=...).
#
# Cases (the shipped policy plus one test drop-in that strips *.js):
#   01-clean        arrives, body byte for byte, original headers in order;
#                   the only added headers are Postfix's trace headers and
#                   vigild's X- headers
#   02-invoice-exe  quarantined (vigil queue list --area quarantine), not
#                   delivered, and the "admin-alert" notification reaches
#                   postmaster@example.com through the next hop
#   03-script       arrives without tracking-label.js (a note instead), with
#                   the subject tagged [SCRIPT]
# and: nothing left in Postfix's queue or vigild's spool; vigild stops
# cleanly on SIGTERM.
#
# Needs root (Postfix's private instance), the postfix and swaks packages
# (installed with apt-get when missing; exit 77, skipped, when that fails).
# Every wait is bounded; the EXIT trap stops Postfix and vigild and removes
# the temporary directory (VIGIL_TEST_KEEP=1 keeps it). Exit 0 only when every
# check passed.
# NEVER: binds anything but 127.0.0.1, or touches /etc/postfix or the system
# mail queue.
set -uo pipefail
: "${top_srcdir:?}" "${top_builddir:?}" "${VIGIL:?}"
VIGILD=$(dirname "$VIGIL")/vigild
EX=$top_srcdir/examples
LIFETIME=170 # s: vigild is killed by timeout(1) after this, whatever happens

say() { echo "postfix.sh: $*"; }
die() { say "FATAL: $*"; exit 1; }
FAILED=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }

[ "$(id -u)" = 0 ] || { say "SKIP: needs root for a private Postfix"; exit 77; }
[ -x "$VIGILD" ] || die "no vigild next to $VIGIL"

# ----------------------------------------------------------- packages --
have_tools() { [ -x /usr/sbin/postfix ] && command -v swaks >/dev/null 2>&1; }
if ! have_tools; then
	say "installing postfix and swaks (apt-get, no configuration)"
	printf '%s\n' "postfix postfix/main_mailer_type select No configuration" \
		"postfix postfix/mailname string localhost" | debconf-set-selections
	inst() { DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q postfix swaks >/dev/null; }
	inst || { timeout 300 apt-get update -q >/dev/null && inst; } ||
		{ say "SKIP: cannot install postfix/swaks"; exit 77; }
	have_tools || { say "SKIP: postfix/swaks still missing after install"; exit 77; }
fi
getent passwd postfix >/dev/null || die "user 'postfix' (mail_owner) missing"
getent group postdrop >/dev/null || die "group 'postdrop' (setgid_group) missing"

# --------------------------------------------------------- work area --
work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-postfix.XXXXXX") || die "mktemp"
chmod 755 "$work" # postfix and virtual(8) (as nobody) walk through it
PF=$work/postfix  # config_directory
Q=$work/queue     # queue_directory
MAIL=$work/mail   # virtual_mailbox_base
VAR=$work/var     # vigild's spool, store and log
vigild_wrap="" vigild_pid="" pf_started=0

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$vigild_pid" ] && kill -0 "$vigild_pid" 2>/dev/null; then
		kill -TERM "$vigild_pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$vigild_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$vigild_pid" 2>/dev/null
	fi
	[ -n "$vigild_wrap" ] && kill -KILL "$vigild_wrap" 2>/dev/null
	if [ "$pf_started" = 1 ]; then
		timeout 30 postfix -c "$PF" stop >/dev/null 2>&1
		local master
		master=$(sed -n '1s/ //gp' "$Q/pid/master.pid" 2>/dev/null)
		if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then
			for _ in $(seq 50); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
			kill -0 "$master" 2>/dev/null && { say "postfix master $master still up: abort"; timeout 10 postfix -c "$PF" abort >/dev/null 2>&1; }
		fi
	fi
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		echo "--- vigild log (last 40 lines)"; tail -n 40 "$VAR/vigild.log" 2>/dev/null
		echo "--- postfix maillog (last 40 lines)"; tail -n 40 "$work/maillog" 2>/dev/null
	fi
	if [ "${VIGIL_TEST_KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_ports() { # N distinct free TCP ports on 127.0.0.1
	python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}
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

read -r P1 P2 P3 < <(free_ports 3)
say "ports: postfix smtpd $P1, vigild $P2, postfix re-injection $P3; work dir $work"

# ----------------------------------------------------- Postfix, private --
mkdir -p "$PF" "$MAIL" "$VAR"
mkdir -m 755 "$Q" # postfix check/post-install make the rest
chown nobody:nogroup "$MAIL"
nobody_uid=$(id -u nobody) nobody_gid=$(id -g nobody)
cat >"$PF/main.cf" <<EOF
# private Postfix instance of tests/postfix.sh
compatibility_level = 3.6
config_directory = $PF
queue_directory = $Q
data_directory = $work/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $work/maillog
maillog_file_prefixes = $work
myhostname = postfix-e2e.example.test
mydomain = example.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
smtp_host_lookup = native
biff = no
alias_maps =
alias_database =
local_recipient_maps =
# final delivery: Maildirs under $MAIL, owned by nobody
virtual_mailbox_domains = example.com
virtual_mailbox_base = $MAIL
virtual_mailbox_maps = inline:{bob@example.com=bob/, postmaster@example.com=postmaster/}
virtual_uid_maps = static:$nobody_uid
virtual_gid_maps = static:$nobody_gid
EOF
# The public smtpd hands every message to vigild through the "vigil"
# transport (an smtp(8) client set up as FILTER_README's "scan"); vigild
# re-injects on P3, where content_filter is off.
cat >"$PF/master.cf" <<EOF
127.0.0.1:$P1 inet n - n - - smtpd
  -o content_filter=vigil:[127.0.0.1]:$P2
127.0.0.1:$P3 inet n - n - - smtpd
  -o content_filter=
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
  -o smtpd_helo_restrictions=
  -o smtpd_client_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
  -o mynetworks=127.0.0.0/8
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8
vigil     unix  -       -       n       -       4       smtp
  -o smtp_send_xforward_command=yes
  -o disable_mime_output_conversion=yes
  -o smtp_generic_maps=
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
# `postfix check` creates the queue's subdirectories with their owners and
# modes and verifies the instance; `postfix start` runs it again. (Not
# set-permissions: it would re-chmod the system's postdrop/postqueue.)
out=$(timeout 60 postfix -c "$PF" check 2>&1) || die "postfix check failed: $out"
[ -z "$out" ] || say "postfix check says: $out"
pf_started=1
timeout 60 postfix -c "$PF" start >/dev/null 2>&1 || die "postfix -c $PF start failed: $(tail -5 "$work/maillog" 2>/dev/null)"
wait_for 20 "postfix on $P1 and $P3" eval "listening $P1 && listening $P3" || die "postfix did not listen"
say "postfix $(postconf -c "$PF" -h mail_version) running privately from $PF (master pid $(sed -n '1s/ //gp' "$Q/pid/master.pid"))"

# ------------------------------------------------------------- vigild --
conf=$VAR/vigil.conf
confd=$VAR/conf.d
mkdir -p "$confd"
"$top_srcdir/tools/dev-config" "$top_builddir" "$conf" "$VAR" || die "tools/dev-config failed"
sed -i -e "s|^include_dir = .*|include_dir = \"$confd\";|" \
	-e "s|^\( *listen = \).*|\1[ \"smtp:127.0.0.1:$P2\" ];|" \
	-e "s|^\( *next_hop = \).*|\1\"smtp:127.0.0.1:$P3\";|" "$conf"
for want in "include_dir = \"$confd\";" "\"smtp:127.0.0.1:$P2\"" "next_hop = \"smtp:127.0.0.1:$P3\";"; do
	grep -qF "$want" "$conf" || die "test config: could not set $want (conf.d/vigil.conf changed shape?)"
done
cp "$top_srcdir"/conf.d/*.conf "$confd/" && rm -f "$confd/vigil.conf"
cp -r "$top_srcdir"/conf.d/atse "$confd/"   # ATSE signatures, beside 40-atse.conf
cat >"$confd/55-test-strip-scripts.conf" <<'EOF'
# tests/postfix.sh: *.js attachments are removed (a note instead) and the
# subject tagged; runs before the shipped "Tag script attachments" (200).
rules = (
  { name = "Strip script attachments";
    enabled = true;
    order = 150;
    match = "any";
    conditions = ( { type = "extension"; names = "*.js"; } );
    actions = { intercept = "pass"; delete_attachments = "matching";
                tag_subject = "[SCRIPT]"; }; }
);
EOF
chmod 644 "$conf" "$confd"/*.conf
out=$(timeout 30 "$VIGIL" --config "$conf" check-config 2>&1) || die "vigil check-config refused the test config: $out"

timeout -k 5 "$LIFETIME" "$VIGILD" -f --config "$conf" </dev/null 2>"$VAR/vigild.log" &
vigild_wrap=$!
wait_for 10 "vigild to start" eval 'vigild_pid=$(pgrep -P "$vigild_wrap"); [ -n "$vigild_pid" ]' ||
	die "vigild did not start: $(cat "$VAR/vigild.log")"
wait_for 20 "vigild on $P2" listening "$P2" || die "vigild not listening on $P2: $(cat "$VAR/vigild.log")"
say "vigild pid $vigild_pid: $VIGILD -f --config $conf"

# ----------------------------------------------------------- helpers --
# send FILE: swaks -> Postfix P1, envelope alice@partner.example -> bob@example.com
send() {
	local f=$1 out
	if out=$(timeout 30 swaks --silent 1 --server "127.0.0.1:$P1" --helo client.example.org \
		--from alice@partner.example --to bob@example.com --data "@$EX/$f" 2>&1); then
		ok "sent $f through Postfix (127.0.0.1:$P1)"
	else
		bad "swaks $f: $out"
	fi
}
# mailbox_file USER MESSAGE-ID: the delivered file carrying that Message-ID
mailbox_file() {
	grep -rlF -- "$2" "$MAIL/$1/new" "$MAIL/$1/cur" 2>/dev/null | head -1
}
has_mail() { [ -n "$(mailbox_file "$1" "$2")" ]; }
quarantine_json() { timeout 20 "$VIGIL" --config "$conf" queue list --area quarantine --format json 2>&1; }
quarantined() { quarantine_json | grep -qF -- "$1"; }
msgid() { sed -n 's/^Message-ID: *//Ip' "$EX/$1" | head -1 | tr -d '\r'; }
subject() { sed -n 's/^Subject: *//Ip' "$EX/$1" | head -1 | tr -d '\r'; }

ID1=$(msgid 01-clean.eml) ID2=$(msgid 02-invoice-exe.eml) ID3=$(msgid 03-script.eml)
SUBJ2=$(subject 02-invoice-exe.eml)

send 01-clean.eml
send 02-invoice-exe.eml
send 03-script.eml

# ----------------------------------------------------- 01: clean message --
echo "== 01-clean.eml: delivered unchanged but for added headers"
if wait_for 30 "01-clean in bob's mailbox" has_mail bob "$ID1"; then
	f=$(mailbox_file bob "$ID1")
	ok "01-clean delivered to bob@example.com: ${f#"$work"/}"
	if python3 - "$EX/01-clean.eml" "$f" <<'PY'; then
import re, sys
def split(path):
    data = open(path, "rb").read().replace(b"\r\n", b"\n")
    head, _, body = data.partition(b"\n\n")
    fields = re.split(rb"\n(?![ \t])", head)  # unfolded header fields
    return fields, body
ofields, obody = split(sys.argv[1])
dfields, dbody = split(sys.argv[2])
# swaks ends DATA with CRLF "." CRLF even after a final newline, so one
# empty line more arrives: trailing newlines are not compared.
obody, dbody = obody.rstrip(b"\n"), dbody.rstrip(b"\n")
if obody != dbody:
    sys.exit("body differs: %d bytes sent, %d delivered" % (len(obody), len(dbody)))
print("   body identical (%d bytes, trailing newlines aside)" % len(dbody))
# The original header fields must all be there, in their order; the others
# must be trace headers (Postfix) or X- headers (vigild).
i, added = 0, []
for f in dfields:
    if i < len(ofields) and f == ofields[i]:
        i += 1
        continue
    added.append(f)
if i != len(ofields):
    sys.exit("original header missing or changed: %r" % ofields[i])
trace = (b"return-path", b"delivered-to", b"x-original-to", b"received")
for f in added:
    name = f.split(b":", 1)[0].lower()
    tag = "postfix trace" if name in trace else "vigild" if name.startswith(b"x-") else None
    if tag is None:
        sys.exit("unexpected added header: %r" % f)
    print("   added header (%s): %s" % (tag, f.split(b"\n")[0].decode("utf-8", "replace")))
print("   all %d original header fields present, in order" % len(ofields))
PY
		ok "01-clean: body and original headers unchanged"
	else
		bad "01-clean: delivered message differs from the original (see above)"
	fi
else
	bad "01-clean not delivered to bob within 30 s"
fi

# ------------------------------------------------ 03: *.js attachment --
echo "== 03-script.eml: attachment removed, note instead, subject tagged"
if wait_for 30 "03-script in bob's mailbox" has_mail bob "$ID3"; then
	f=$(mailbox_file bob "$ID3")
	ok "03-script delivered to bob@example.com: ${f#"$work"/}"
	if python3 - "$f" <<'PY'; then
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
subj = str(m["Subject"])
print("   Subject: %s" % subj)
for h in ("X-Vigil-Rule",):
    if m[h] is not None:
        print("   %s: %s" % (h, m[h]))
errors = []
if "[SCRIPT]" not in subj:
    errors.append("subject not tagged [SCRIPT]: %r" % subj)
names, texts = [], []
for p in m.walk():
    if p.is_multipart():
        continue
    if p.get_filename():
        names.append(p.get_filename())
    if p.get_content_maintype() == "text":
        try:
            texts.append(p.get_content())
        except Exception as e:  # undecodable: keep going, it is reported
            errors.append("cannot decode a text part: %s" % e)
print("   attachments left: %s" % (names or "none"))
if any(n.lower().endswith(".js") for n in names):
    errors.append("the .js attachment is still there: %s" % names)
if any("ActiveXObject" in t for t in texts) or b"ActiveXObject" in open(sys.argv[1], "rb").read():
    errors.append("the script's content is still in the message")
if not any("Open the attached tracking file" in t for t in texts):
    errors.append("the original text part is gone")
notes = [t for t in texts if "tracking-label.js" in t]
if notes:
    print("   note: %s" % " | ".join(notes[0].strip().splitlines()[:3]))
else:
    errors.append("no note naming tracking-label.js in any text part")
if errors:
    sys.exit("; ".join(errors))
PY
		ok "03-script: tracking-label.js removed, note present, subject tagged [SCRIPT]"
	else
		bad "03-script: (see above)"
	fi
else
	bad "03-script not delivered to bob within 30 s"
fi

# -------------------------------------------- 02: executable, quarantine --
echo "== 02-invoice-exe.eml: quarantined, not delivered, postmaster notified"
if wait_for 30 "02 in the quarantine" quarantined "$ID2"; then :; fi
quarantine_json >"$VAR/quarantine.json"
echo "   vigil queue list --area quarantine --format json:"
sed 's/^/     /' "$VAR/quarantine.json"
if python3 - "$SUBJ2" "$VAR/quarantine.json" <<'PY'; then
import json, sys
want = sys.argv[1]
try:
    rows = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
except ValueError as e:
    sys.exit("not one JSON object a line: %s" % e)
hits = [r for r in rows if r.get("subject") == want]
if len(hits) != 1:
    sys.exit("%d quarantined rows with subject %r (want 1)" % (len(hits), want))
r = hits[0]
problems = []
if not str(r.get("area", "")).startswith("quarantine"):
    problems.append("area %r" % r.get("area"))
if r.get("rule") != "Quarantine executables":
    problems.append("rule %r" % r.get("rule"))
if r.get("sender") != "alice@partner.example":
    problems.append("sender %r" % r.get("sender"))
if "bob@example.com" not in str(r.get("rcpts")):
    problems.append("rcpts %r" % r.get("rcpts"))
if problems:
    sys.exit("quarantine row: " + ", ".join(problems))
print("   quarantined as %s in %s by %r" % (r.get("msg_id"), r.get("area"), r.get("rule")))
PY
	ok "02-invoice-exe listed in the quarantine"
else
	bad "02-invoice-exe not (correctly) in the quarantine"
fi

notif() { grep -rlF -- "Quarantine executables" "$MAIL/postmaster/new" "$MAIL/postmaster/cur" 2>/dev/null | head -1; }
if wait_for 30 "the admin notification in postmaster's mailbox" eval '[ -n "$(notif)" ]'; then
	f=$(notif)
	ok "notification delivered to postmaster@example.com: ${f#"$work"/}"
	if python3 - "$f" "$SUBJ2" <<'PY'; then
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
print("   From: %s | To: %s | Subject: %s" % (m["From"], m["To"], m["Subject"]))
body = m.get_body(("plain",)).get_content() if m.get_body(("plain",)) else ""
for line in body.strip().splitlines():
    print("   | " + line)
errors = []
if "vigil@localhost" not in str(m["From"]):
    errors.append("From is not vigil@localhost")
if "postmaster@example.com" not in str(m["To"]):
    errors.append("To is not postmaster@example.com")
if sys.argv[2] not in str(m["Subject"]):
    errors.append("subject does not name the message's subject")
for want in ("alice@partner.example", "invoice.pdf.exe"):
    if want not in body:
        errors.append("body does not mention %s" % want)
if errors:
    sys.exit("; ".join(errors))
PY
		ok "notification names the rule, the message, the sender and the file"
	else
		bad "notification content (see above)"
	fi
else
	bad "no admin notification for postmaster within 30 s"
fi

# 02 went in before 03, and 03 and the notification have arrived: by now 02
# would have been delivered if it were going to be.
if has_mail bob "$ID2"; then
	bad "02-invoice-exe was delivered to bob ($(mailbox_file bob "$ID2"))"
else
	ok "02-invoice-exe not in bob's mailbox"
fi

# ------------------------------------------------------------ queues --
echo "== queues drained"
pfq() { find "$Q/incoming" "$Q/active" "$Q/deferred" "$Q/hold" -type f 2>/dev/null | wc -l; }
if wait_for 20 "Postfix's queue to drain" eval '[ "$(pfq)" = 0 ]'; then
	ok "Postfix queue empty"
else
	bad "Postfix queue still holds $(pfq) message(s)"
fi
status=$(timeout 20 "$VIGIL" --config "$conf" status 2>&1) || bad "vigil status: $status"
echo "   vigil status: $status"
python3 -c '
import json, sys
s = json.loads(sys.argv[1])
print("   accepted %s, delivered %s, quarantined %s, scan_queue %s, deliver_queue %s" % tuple(
    s.get(k) for k in ("accepted", "delivered", "quarantined", "scan_queue", "deliver_queue")))
sys.exit(0 if s.get("scan_queue") == 0 and s.get("deliver_queue") == 0 else 1)' "$status" &&
	ok "vigild's queues are empty" || bad "vigild's queues are not empty"
echo "   vigil log policy --format json:"
timeout 20 "$VIGIL" --config "$conf" log policy --format json 2>&1 | sed 's/^/     /'

# ------------------------------------------------------------- stop --
echo "== vigild stops on SIGTERM"
kill -TERM "$vigild_pid"
if wait_for 20 "vigild to stop" eval '! kill -0 "$vigild_pid" 2>/dev/null'; then
	wait "$vigild_wrap"
	rc=$?
	vigild_pid="" vigild_wrap=""
	[ "$rc" = 0 ] && ok "vigild stopped, exit 0" || bad "vigild exited $rc on SIGTERM"
else
	bad "vigild still running 20 s after SIGTERM"
fi
grep -iE 'error|warn|assert|sanitizer|leak' "$VAR/vigild.log" | head -20 | sed 's/^/   vigild log: /'

if [ "$FAILED" -gt 0 ]; then
	say "$FAILED check(s) FAILED"
	exit 1
fi
say "all checks passed"
exit 0
