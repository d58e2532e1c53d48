#!/bin/bash
# daemon.sh - vigild end to end without an MTA: SMTP in on a random
# loopback port, a maildir as next hop. Checks each kind of decision on the
# example messages, the admin tool against the store and the control
# socket, quarantine release, and reload (good and bad).
set -euo pipefail
: "${top_srcdir:?}" "${top_builddir:?}" "${VIGIL:?}"
VIGILD=$(dirname "$VIGIL")/vigild
work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-daemon.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- vigild log"; tail -n 40 "$work/vigild.log"; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/conf.d"
cp "$top_srcdir"/conf.d/[0-9]*.conf "$work/conf.d/"
cp -r "$top_srcdir"/conf.d/atse "$work/conf.d/"   # ATSE signatures, beside 40-atse.conf
cat >"$work/conf.d/60-test.conf" <<'CONF'
rules = ( { name = "Strip scripts"; order = 150;
            conditions = ( { type = "extension"; names = "*.js"; } );
            actions = { delete_attachments = "matching"; tag_subject = "[SCRIPT]";
                        stamp = "Scanned by vigil"; }; } );
CONF
"$top_srcdir/tools/dev-config" "$top_builddir" "$work/vigil.conf" "$work"
sed -i -e "s|^include_dir = .*|include_dir = \"$work/conf.d\";|" \
       -e "s|\"smtp:127.0.0.1:10024\"|\"smtp:127.0.0.1:$port\"|" "$work/vigil.conf"
chmod 644 "$work"/conf.d/*.conf
V() { "$VIGIL" --config "$work/vigil.conf" "$@"; }

timeout 120 "$VIGILD" -f --config "$work/vigil.conf" 2>"$work/vigild.log" &
pid=$!
for _ in $(seq 300); do # up to 30 s: slow under sanitizers
	python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && break
	sleep 0.1
done

send() { # file sender rcpt...
	python3 - "$port" "$@" <<'PY'
import smtplib, sys
port, path, sender, rcpts = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
    data = open(path, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    s.sendmail(sender, rcpts, data)  # bytes go as they are: CRLF them
PY
}
ex="$top_srcdir/examples"
send "$ex/01-clean.eml" alice@partner.example bob@example.com
send "$ex/02-invoice-exe.eml" alice@partner.example bob@example.com
send "$ex/03-script.eml" alice@partner.example bob@example.com

# wait for: clean + script delivered, the exe's notification delivered
for _ in $(seq 100); do
	[ "$(ls "$work/delivered/new" 2>/dev/null | wc -l)" -ge 3 ] && break
	sleep 0.1
done
n=$(ls "$work/delivered/new" | wc -l)
[ "$n" = 3 ] || fail "expected 3 deliveries (clean, script, notification), got $n"

EX=$ex python3 - "$work/delivered/new" <<'PY' || fail "delivered messages"
import email, email.policy, os, sys
d = sys.argv[1]
msgs = [email.message_from_binary_file(open(os.path.join(d, f), "rb"), policy=email.policy.default) for f in os.listdir(d)]
script = [m for m in msgs if str(m["Subject"]).startswith("[SCRIPT]")]
note = [m for m in msgs if str(m["Subject"]).startswith("vigil:")]
assert len(script) == 1, [m["Subject"] for m in msgs]
s = script[0]
names = [p.get_filename() for p in s.walk() if p.get_filename()]
assert not any(n and n.endswith(".js") for n in names), names
body = "".join(p.get_content() for p in s.walk() if p.get_content_type() == "text/plain")
assert "removed" in body and "Strip scripts" in body, body
assert "Scanned by vigil" in body, body
assert s["X-Vigil-Rule"] == "script", s["X-Vigil-Rule"]
assert len(note) == 1 and "Quarantine executables" in str(note[0]["Subject"]), [m["Subject"] for m in msgs]
assert note[0]["To"] == "postmaster@example.com"
clean = [m for m in msgs if m not in script and m not in note]
assert len(clean) == 1 and clean[0]["X-Vigil-Rule"] is None, clean
orig = email.message_from_binary_file(open(os.environ["EX"] + "/01-clean.eml", "rb"), policy=email.policy.default)
assert clean[0].get_content() == orig.get_content(), "clean body changed"
assert clean[0]["Subject"] == orig["Subject"]
print("ok: clean delivered, script stripped+tagged+stamped, notification sent")
PY

# the executable is in quarantine, visible without the daemon's help
q=$(V queue list --area quarantine --format json)
echo "$q" | grep -q '"rule":"Quarantine executables"' || fail "quarantine list: $q"
id=$(echo "$q" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["msg_id"])')
grep -q "invoice.pdf.exe" <<<"$(V quarantine show "$id")" || fail "quarantine show"
grep -q "Quarantine executables" <<<"$(V log policy --format csv)" || fail "log policy"
grep -q '"final_action":"quarantine"' <<<"$(V log tracking --format json)" || fail "log tracking"
grep -q '"final_action":"pass"' <<<"$(V log tracking --subject 'lunch*' --format json)" || fail "tracking by subject"
grep -q '"generation":1' <<<"$(V status)" || fail "status"

# release: delivered to the original recipient, gone from the quarantine
grep -q "^ok" <<<"$(V quarantine release "$id")" || fail "release"
for _ in $(seq 100); do
	[ "$(ls "$work/delivered/new" | wc -l)" -ge 4 ] && break
	sleep 0.1
done
[ "$(ls "$work/delivered/new" | wc -l)" = 4 ] || fail "released message not delivered"
[ -z "$(V queue list --area quarantine --format json)" ] || fail "still in quarantine"

# reprocess runs the current policy again (quarantined again); delete
# removes it for good
send "$ex/02-invoice-exe.eml" alice@partner.example bob@example.com
for _ in $(seq 100); do [ -n "$(V queue list --area quarantine --format json)" ] && break; sleep 0.1; done
id=$(V queue list --area quarantine --format json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["msg_id"])')
grep -q "^ok" <<<"$(V quarantine reprocess "$id")" || fail "reprocess"
for _ in $(seq 100); do
	id2=$(V queue list --area quarantine --format json | python3 -c 'import json,sys; l=sys.stdin.readline(); print(json.loads(l)["msg_id"] if l else "")')
	[ -n "$id2" ] && [ "$id2" != "$id" ] && break
	sleep 0.1
done
[ -n "$id2" ] && [ "$id2" != "$id" ] || fail "reprocessed message not quarantined again"
grep -q "^ok" <<<"$(V quarantine delete "$id2")" || fail "delete"
[ -z "$(V queue list --area quarantine --format json)" ] || fail "deleted message still listed"
V status | python3 -c 'import json,sys; s=json.load(sys.stdin); assert s["workers"] >= 1 and s["uptime"] >= 0, s' || fail "status fields"

# reload: a broken config is refused with FILE:LINE and the old policy stays
echo 'rules = ( { name = "broken"; conditions = ( { type = "nosuch"; } ); actions = { intercept = "pass"; }; } );' >"$work/conf.d/70-broken.conf"
chmod 644 "$work/conf.d/70-broken.conf"
out=$(V reload 2>&1) && fail "bad reload accepted: $out"
[[ $out == *"70-broken.conf:1: unknown condition type 'nosuch'"* ]] || fail "reload errors: $out"
kill -HUP "$pid"
sleep 0.5
send "$ex/02-invoice-exe.eml" alice@partner.example bob@example.com
for _ in $(seq 100); do
	[ "$(V queue list --area quarantine --format json | wc -l)" -ge 1 ] && break
	sleep 0.1
done
[ "$(V queue list --area quarantine --format json | wc -l)" = 1 ] || fail "old policy not applied after bad reload"
rm "$work/conf.d/70-broken.conf"
V reload | grep -q "^ok generation 2" || fail "good reload"

kill -TERM "$pid"
wait "$pid" || fail "vigild did not exit 0 on SIGTERM"
pid=
grep -q "stopped" "$work/vigild.log" || fail "no clean stop"
echo "PASS: daemon end to end"
