#!/bin/bash
# delivery.sh - vigild's delivery side against scripted next hops: BCC,
# change recipient, handoff, delete, archive copy, postpone (and release
# with `vigil deliver`), a permanent failure that bounces to the sender, a
# temporary one that lands in the deferred queue, and LMTP in.
set -euo pipefail
: "${top_srcdir:?}" "${top_builddir:?}" "${VIGIL:?}"
VIGILD=$(dirname "$VIGIL")/vigild
work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-delivery.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- vigild log"; tail -n 30 "$work/vigild.log"; exit 1; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

peer() { # name: start a peer in the background, its port in $work/NAME.port
	timeout 150 python3 "$top_srcdir/tests/peers/smtp_peer.py" 0 "$work/$1.port" \
		"$work/$1" 140 >"$work/$1.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do [ -f "$work/$1.port" ] && break; sleep 0.1; done
	[ -f "$work/$1.port" ] || fail "peer $1 did not start"
}
peer hop
peer other
p1=$(cat "$work/hop.port")
p2=$(cat "$work/other.port")
smtp=$(freeport)
lmtp=$(freeport)
later=$(date -d '+3 hours' +%H:%M)

mkdir -p "$work/conf.d"
cp "$top_srcdir"/conf.d/[0-9]*.conf "$work/conf.d/"
cp -r "$top_srcdir"/conf.d/atse "$work/conf.d/"   # ATSE signatures, beside 40-atse.conf
cat >"$work/conf.d/60-test.conf" <<CONF
areas = ( { name = "archive"; retention_days = 7; } );
rules = (
  { name = "bcc"; order = 10; conditions = ( { type = "extension"; names = "*.bcc"; } );
    actions = { bcc = [ "audit@example.com" ]; }; },
  { name = "redirect"; order = 20; conditions = ( { type = "extension"; names = "*.redirect"; } );
    actions = { intercept = "change_recipient"; recipient = "security@example.com"; }; },
  { name = "handoff"; order = 30; conditions = ( { type = "extension"; names = "*.handoff"; } );
    actions = { intercept = "handoff"; handoff = "127.0.0.1:$p2"; }; },
  { name = "later"; order = 40; conditions = ( { type = "extension"; names = "*.later"; } );
    actions = { postpone = "$later"; }; },
  { name = "drop"; order = 50; conditions = ( { type = "extension"; names = "*.delete"; } );
    actions = { intercept = "delete"; }; },
  { name = "keep a copy"; order = 60; conditions = ( { type = "extension"; names = "*.archive"; } );
    actions = { archive = "archive"; }; }
);
CONF
chmod 644 "$work"/conf.d/*.conf
"$top_srcdir/tools/dev-config" "$top_builddir" "$work/vigil.conf" "$work"
sed -i -e "s|^include_dir = .*|include_dir = \"$work/conf.d\";|" \
       -e "s|\"smtp:127.0.0.1:10024\"|\"smtp:127.0.0.1:$smtp\", \"lmtp:127.0.0.1:$lmtp\"|" \
       -e "s|next_hop = \"maildir:[^\"]*\"|next_hop = \"smtp:127.0.0.1:$p1\"|" "$work/vigil.conf"
V() { "$VIGIL" --config "$work/vigil.conf" "$@"; }
V check-config >/dev/null || fail "config"

timeout 140 "$VIGILD" -f --config "$work/vigil.conf" >/dev/null 2>"$work/vigild.log" &
pids+=($!)
for _ in $(seq 300); do # up to 30 s: slow under sanitizers
	python3 -c "import socket; socket.create_connection(('127.0.0.1',$smtp),1)" 2>/dev/null && break
	sleep 0.1
done

send() { # proto port attachment-name rcpt...
	python3 - "$@" <<'PY'
import smtplib, sys
from email.message import EmailMessage
proto, port, name, rcpts = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
m = EmailMessage()
m["From"] = "alice@partner.example"; m["To"] = ", ".join(rcpts); m["Subject"] = "test " + name
m.set_content("hello\n")
m.add_attachment(b"just data\n", maintype="application", subtype="octet-stream", filename=name)
cls = smtplib.LMTP if proto == "lmtp" else smtplib.SMTP
s = cls("127.0.0.1", port, timeout=30)
s.sendmail("alice@partner.example", rcpts, m.as_bytes())
s.quit()
PY
}
# wait until DIR has N messages carrying TEXT in the peer's header line
wait_for() { # dir text
	for _ in $(seq 100); do
		grep -qs -- "$2" "$work/$1"/*.eml && return 0
		sleep 0.1
	done
	fail "no message with '$2' in $1"
}

send smtp "$smtp" a.bcc bob@example.com
wait_for hop "X-Peer-Rcpts: bob@example.com,audit@example.com"
echo "ok: bcc"
send smtp "$smtp" b.redirect bob@example.com
wait_for hop "X-Peer-Rcpts: security@example.com"
echo "ok: change_recipient"
send smtp "$smtp" c.handoff bob@example.com
wait_for other "test c.handoff"
echo "ok: handoff"
send smtp "$smtp" e.archive bob@example.com
wait_for hop "test e.archive"
ls "$work"/spool/quarantine/archive/*.eml >/dev/null 2>&1 || fail "no archive copy"
echo "ok: archive copy + delivery"
send smtp "$smtp" d.delete bob@example.com
for _ in $(seq 50); do grep -q '"final_action":"delete"' <<<"$(V log tracking --format json)" && break; sleep 0.1; done
grep -q '"final_action":"delete"' <<<"$(V log tracking --format json)" || fail "delete not tracked"
grep -qs "test d.delete" "$work"/hop/*.eml && fail "deleted message delivered"
echo "ok: delete"

send smtp "$smtp" f.txt bob@example.com reject-me@example.com
wait_for hop "test f.txt"
wait_for hop "Undelivered Mail Returned to Sender"
grep -ls "Undelivered Mail" "$work"/hop/*.eml | xargs grep -q "X-Peer-Rcpts: alice@partner.example" || fail "bounce not to the sender"
grep -ls "Undelivered Mail" "$work"/hop/*.eml | xargs grep -q $'X-Peer-Sender: \r$' || fail "bounce must have the null sender"
echo "ok: permanent failure bounced to the sender"

send smtp "$smtp" g.txt defer-me@example.com
for _ in $(seq 50); do [ -n "$(V queue list --area deferred --format json)" ] && break; sleep 0.1; done
row=$(V queue list --area deferred --format json)
[[ $row == *'"attempts":1'* ]] || fail "deferred: $row"
id=$(echo "$row" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["msg_id"])')
grep -q '^ok' <<<"$(V deliver "$id")" || fail "deliver $id"
for _ in $(seq 50); do grep -q '"attempts":2' <<<"$(V queue list --area deferred --format json)" && break; sleep 0.1; done
grep -q '"attempts":2' <<<"$(V queue list --area deferred --format json)" || fail "retry did not happen"
echo "ok: temporary failure deferred, retried on demand"

send smtp "$smtp" h.later bob@example.com
for _ in $(seq 50); do [ -n "$(V queue list --area postponed --format json)" ] && break; sleep 0.1; done
row=$(V queue list --area postponed --format json)
[ -n "$row" ] || fail "not postponed"
grep -qs "test h.later" "$work"/hop/*.eml && fail "postponed message delivered early"
id=$(echo "$row" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["msg_id"])')
grep -q '^ok' <<<"$(V deliver "$id")" || fail "deliver $id"
wait_for hop "test h.later"
echo "ok: postpone, released by hand"

send lmtp "$lmtp" i.txt bob@example.com carol@example.com
wait_for hop "X-Peer-Rcpts: bob@example.com,carol@example.com"
echo "ok: LMTP in"
echo "PASS: delivery"
