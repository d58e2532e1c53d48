#!/bin/bash
# ctd.sh - Connected Threat Defense end to end: `vigil scan --json` on
# messages built here for the seed scenarios (a file the virus rule and the
# SO list both know is reported by the virus rule; a file only on the list,
# inside a zip, is quarantined by "Suspicious file detection"; a log-only
# URL passes and is logged; CSV and STIX feeds; URLs in header fields but
# not in Received; a clean message), a missing
# list file that is a sync error and not a config error, `vigil so
# sync|list|lookup` against tests/peers/cm_sim.py through the store, a
# garbage sync that keeps the old list, a wrong API key the simulator
# rejects, and vigild's timer syncing by itself (`vigil status`).
set -euo pipefail
: "${top_srcdir:?}" "${top_builddir:?}" "${VIGIL:?}"
command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }
VIGILD=$(dirname "$VIGIL")/vigild
fx=$top_srcdir/plugins/ctd/tests/fixtures
work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-ctd.XXXXXX")
sim_pid= vigild_pid=
cleanup() {
	[ -n "$vigild_pid" ] && kill "$vigild_pid" 2>/dev/null
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	for f in "$work/sim.log" "$work/vigild.log"; do
		[ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }
	done
	exit 1
}

# --- messages and lists, made now
python3 - "$work" <<'PY'
import email.message, hashlib, io, json, os, sys, zipfile
work = sys.argv[1]
os.makedirs(work + "/msg")
def msg(name, subject, text, html=None, attachments=()):
    m = email.message.EmailMessage()
    m["From"] = "alice@partner.example"
    m["To"] = "bob@example.com"
    m["Subject"] = subject
    m["Message-ID"] = "<%s@ctd.test>" % name
    m.set_content(text)
    if html:
        m.add_alternative(html, subtype="html")
    for fname, data, ctype in attachments:
        main, sub = ctype.split("/")
        m.add_attachment(data, maintype=main, subtype=sub, filename=fname)
    with open("%s/msg/%s.eml" % (work, name), "wb") as f:
        f.write(bytes(m))
known = b"vigil ctd test: a file the antivirus side knows as well\n"
only_so = b"vigil ctd test: a file only the suspicious-object list knows\n"
apex_only = b"vigil ctd test: a file only Apex Central knows\n"
z = io.BytesIO()
with zipfile.ZipFile(z, "w") as zf:
    zf.writestr("inner/payload.bin", only_so)
msg("1-virus-and-so", "scenario one", "see the attachment",
    attachments=[("known.vir", known, "application/octet-stream")])
msg("2-so-only", "scenario two", "see the attachment",
    attachments=[("archive.zip", z.getvalue(), "application/zip")])
msg("3-url-log", "scenario three", "plain text",
    html='<p><a href="https://WWW.Tracker.Example:443/t?id=1&amp;x=2">hi</a></p>')
msg("4-url-csv", "scenario four",
    "Your invoice: https://files.badcdn.example/dl/invoice.zip")
msg("5-url-stix", "scenario five", "C2 at http://beacon.c2.example.org/x")
msg("6-clean", "clean", "nothing to see at https://www.example.com/",
    attachments=[("notes.txt", b"hello\n", "text/plain")])
def with_header(name, field, value):
    path = "%s/msg/6-clean.eml" % work
    data = open(path, "rb").read()
    with open("%s/msg/%s.eml" % (work, name), "wb") as f:
        f.write(("%s: %s\n" % (field, value)).encode() + data)
with_header("7-url-header", "List-Unsubscribe",
            "<https://unsub.header-listed.example/u?id=1>")
with_header("8-url-received", "Received",
            "from relay (https://relay.header-listed.example/) by mx")
sha = lambda b: hashlib.sha1(b).hexdigest()
with open(work + "/so-local.txt", "w") as f:
    f.write("# local suspicious objects\n%s block\n%s block\ntracker.example\n"
            "header-listed.example block\n" % (sha(known), sha(only_so)))
os.chmod(work + "/so-local.txt", 0o644)
with open(work + "/objects.json", "w") as f:
    json.dump([{"type": "file_sha1", "content": sha(apex_only).upper(),
                "notes": "", "scan_action": "block",
                "expiration_utc_date": "2099-01-01T00:00:00"},
               {"type": "domain", "content": "cm-listed.example",
                "scan_action": "log", "expiration_utc_date": None},
               {"type": "url", "content": "http://gone.example/",
                "scan_action": "block",
                "expiration_utc_date": "2001-01-01T00:00:00"}], f)
with open(work + "/sha1s", "w") as f:
    f.write("%s %s %s\n" % (sha(known), sha(only_so), sha(apex_only)))
PY
read -r sha_known sha_only sha_apex <"$work/sha1s"

# --- the Control Manager simulator
app_id=6B1C4E1A-2B3C-4D5E-8F90-A1B2C3D4E5F6
api_key=M2Y0ZTY1YjItY3RkLXRlc3Qta2V5
python3 "$top_srcdir/tests/peers/cm_sim.py" --state-dir "$work/sim" \
	--port-file "$work/sim.port" --app-id "$app_id" --api-key "$api_key" \
	--objects "$work/objects.json" --faults "$work/faults.json" \
	--lifetime 120 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 200); do [ -s "$work/sim.port" ] && break; sleep 0.1; done
[ -s "$work/sim.port" ] || fail "simulator not ready"
port=$(cat "$work/sim.port")
ca=$(cat "$work/sim/ca_file")
stat() { # KEY -> the simulator's counter
	curl -s --cacert "$ca" "https://127.0.0.1:$port/sim/stats" |
		python3 -c 'import json,sys; s=json.load(sys.stdin); k=sys.argv[1]; print(s.get(k, s["rejected"].get(k, 0)))' "$1"
}

# --- configuration: plugins, a virus-phase rule, the SO sources
vport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/conf.d"
"$top_srcdir/tools/dev-config" "$top_builddir" "$work/vigil.conf" "$work"
sed -i -e "s|^include_dir = .*|include_dir = \"$work/conf.d\";|" \
	-e "s|\"smtp:127.0.0.1:10024\"|\"smtp:127.0.0.1:$vport\"|" "$work/vigil.conf"
sources() { # API_KEY
	cat <<CONF
plugins = ( { name = "truetype"; }, { name = "extension"; },
  { name = "ctd"; sync_interval = 300;
    sources = ( { type = "list"; path = "$work/so-local.txt"; },
                { type = "list"; name = "missing"; path = "$work/no-such-list.txt"; },
                { type = "csv"; path = "$fx/urlhaus-recent.csv"; action = "block";
                  columns = { url = "url"; }; },
                { type = "stix"; path = "$fx/bundle.json"; action = "quarantine"; },
                { type = "apex_central"; url = "https://127.0.0.1:$port"; app_id = "$app_id";
                  api_key = "$1"; ca_file = "$ca"; file_list = true; url_list = true; } ); } );
rules = (
  { name = "Virus: known test file"; phase = "virus";
    conditions = ( { type = "extension"; names = "*.vir"; } );
    actions = { intercept = "quarantine"; }; },
  { name = "Tag text attachments"; order = 10;
    conditions = ( { type = "extension"; names = "*.txt"; } );
    actions = { intercept = "pass"; tag_subject = "[TXT]"; }; } );
CONF
}
sources "$api_key" >"$work/conf.d/60-ctd-test.conf"
chmod 644 "$work/vigil.conf" "$work/conf.d/60-ctd-test.conf"
V() { "$VIGIL" --config "$work/vigil.conf" "$@"; }

# a missing list file is a logged sync error, not a configuration error
out=$(V check-config 2>&1) || fail "check-config refused the config: $out"
[[ $out == *"source 'missing': sync failed: cannot read $work/no-such-list.txt"* ]] ||
	fail "no sync error for the missing list: $out"
[[ $out == *"hidden 2"* ]] || fail "hidden rules not registered: $out"

# --- vigil scan: the seed scenarios
scan() { # NAME FINAL PYTHON-EXPR
	local rc=0 json want=1
	json=$(V scan --json "$work/msg/$1.eml" 2>/dev/null) || rc=$?
	[ "$2" = pass ] && want=0
	[ $rc = $want ] || fail "$1: exit $rc, expected $want: $json"
	FINAL=$2 EXPR=$3 SHA_KNOWN=$sha_known SHA_ONLY=$sha_only python3 -c '
import json, os, sys
r = json.loads(sys.stdin.read())
rules = r["rules"]
matched = [x["name"] for x in rules if x["matched"]]
evaluated = [x["name"] for x in rules]
cond = {x["name"]: x["conditions"][0] for x in rules}
acts = {x["name"]: x.get("actions") for x in rules}
known, only = os.environ["SHA_KNOWN"], os.environ["SHA_ONLY"]
assert r["final_action"] == os.environ["FINAL"], r["final_action"]
assert eval(os.environ["EXPR"]), (os.environ["EXPR"], json.dumps(rules, indent=1))
' <<<"$json" || fail "$1: report check failed"
	echo "ok: $1 -> $2"
}
# 1: the virus rule (phase virus) reports it; the hidden rule never runs
scan 1-virus-and-so quarantine \
	'matched == ["Virus: known test file"] and "Suspicious file detection" not in evaluated'
# 2: only on the list, inside a zip: "Suspicious file detection", after
#    the virus rule, before the user rules
scan 2-so-only quarantine \
	'matched == ["Suspicious file detection"] and evaluated[:2] == ["Virus: known test file", "Suspicious file detection"] and only in cond["Suspicious file detection"]["detail"] and "on list local (so-local.txt), action block" in cond["Suspicious file detection"]["detail"] and cond["Suspicious file detection"]["part"].endswith("inner/payload.bin") and cond["Suspicious file detection"]["threat"] == "Suspicious object"'
# 3: a log object: pass, and the rule is logged with intercept pass
scan 3-url-log pass \
	'"Suspicious URL detection" in matched and "domain tracker.example in https://www.tracker.example/t?id=1&x=2 on list local" in cond["Suspicious URL detection"]["detail"] and any("pass" in str(a) for a in acts["Suspicious URL detection"])'
# 4, 5: open feeds
scan 4-url-csv quarantine \
	'matched == ["Suspicious URL detection"] and "url https://files.badcdn.example/dl/invoice.zip on list csv (urlhaus-recent.csv), action block" in cond["Suspicious URL detection"]["detail"]'
scan 5-url-stix quarantine \
	'matched == ["Suspicious URL detection"] and "domain c2.example.org in http://beacon.c2.example.org/x on list stix (bundle.json), action quarantine" in cond["Suspicious URL detection"]["detail"]'
# URLs in header fields count, but not in trace fields (Received ...)
scan 7-url-header quarantine \
	'matched == ["Suspicious URL detection"] and "domain header-listed.example in https://unsub.header-listed.example/u?id=1 on list local" in cond["Suspicious URL detection"]["detail"]'
scan 8-url-received pass \
	'"Suspicious URL detection" not in matched'
scan 6-clean pass \
	'matched == ["Tag text attachments"] and not cond["Suspicious file detection"]["matched"] and not cond["Suspicious URL detection"]["matched"]'

# --- vigil so: sync from the simulator into the store
rc=0; out=$(V so sync 2>/dev/null) || rc=$?
[ $rc = 1 ] || fail "so sync with a missing list: exit $rc: $out"
[[ $out == *"apex: ok, 2 objects"* ]] || fail "so sync: $out"
[[ $out == *"missing: failed: cannot read"* ]] || fail "so sync: $out"
[ "$(stat accepted)" = 4 ] || fail "simulator: $(stat accepted) accepted requests, expected 4"
out=$(V so lookup "$sha_apex" 2>/dev/null) || fail "so lookup apex object: $out"
[[ $out == *"on list apex (127.0.0.1:$port), action block, expires 2099-01-01"* ]] || fail "so lookup: $out"
out=$(V so lookup https://a.cm-listed.example/x 2>/dev/null) || fail "so lookup domain: $out"
[[ $out == *"domain cm-listed.example in https://a.cm-listed.example/x: on list apex"*"action log"* ]] || fail "so lookup: $out"
rc=0; out=$(V so lookup http://gone.example/ 2>/dev/null) || rc=$?
[ $rc = 1 ] && [[ $out == *"not on any list"* ]] || fail "expired object listed: $out"
out=$(V so list 2>/dev/null) || fail "so list"
grep -Eq '^apex +apex_central +127\.0\.0\.1:[0-9]+ +2 ' <<<"$out" || fail "so list: $out"
grep -Eq '^missing +list .*cannot read' <<<"$out" || fail "so list: $out"
out=$(V so list apex 2>/dev/null) || fail "so list apex"
[[ $out == *"$sha_apex"* ]] || fail "so list apex: $out"

# a sync that returns garbage keeps the old list
echo '{"garbage": true}' >"$work/faults.json"
rc=0; out=$(V so sync apex 2>/dev/null) || rc=$?
[ $rc = 1 ] && [[ $out == *"apex: failed: type file: not JSON"*"keeping 2 objects"* ]] ||
	fail "garbage sync: exit $rc: $out"
V so lookup "$sha_apex" >/dev/null 2>&1 || fail "garbage sync lost the list"
V so list 2>/dev/null | grep -q "not JSON" || fail "so list does not show the error"
echo '{}' >"$work/faults.json"

# a wrong API key: the simulator rejects the signature, the list stays
sources wrong-key >"$work/conf.d/60-ctd-test.conf"
rc=0; out=$(V so sync apex 2>/dev/null) || rc=$?
[ $rc = 1 ] && [[ $out == *"HTTP 401"* ]] || fail "wrong key: exit $rc: $out"
[[ $out != *wrong-key* ]] || fail "the key is in the error: $out"
[ "$(stat bad_signature)" = 1 ] || fail "simulator did not reject the signature"
V so lookup "$sha_apex" >/dev/null 2>&1 || fail "failed sync lost the list"
sources "$api_key" >"$work/conf.d/60-ctd-test.conf"
echo "ok: vigil so sync|list|lookup, garbage and wrong key keep the list"

# --- vigild: the timer starts the sync thread, which syncs by itself
before=$(stat accepted)
timeout 60 "$VIGILD" -f --config "$work/vigil.conf" 2>"$work/vigild.log" &
vigild_pid=$!
# the stored state says the last attempt was just now: the next sync is
# due in sync_interval; a new object shows only after `so sync` here
for _ in $(seq 200); do V status >/dev/null 2>&1 && break; sleep 0.1; done
st=$(V status) || fail "vigil status"
STATUS=$st python3 -c '
import json, os
s = json.loads(os.environ["STATUS"])["plugins"]["so"]
assert "so source apex (apex_central 127.0.0.1:" in s and ": 2 objects" in s, s
assert "so source missing (list no-such-list.txt): 0 objects, last success never, last error cannot read" in s, s
' || fail "vigil status: $st"
out=$(V so sync apex) || fail "so sync in vigild: $out"
[[ $out == *"apex: ok, 2 objects (unchanged)"* ]] || fail "so sync in vigild: $out"
[ "$(stat accepted)" = $((before + 4)) ] || fail "so sync did not reach the simulator"
kill -TERM "$vigild_pid"; wait "$vigild_pid" || true; vigild_pid=

# without a stored state the first sync is due at once: a fresh store
rm -f "$work/vigil.db"*
before=$(stat accepted)
timeout 60 "$VIGILD" -f --config "$work/vigil.conf" 2>"$work/vigild.log" &
vigild_pid=$!
for _ in $(seq 300); do
	[ "$(stat accepted)" -ge $((before + 4)) ] && break
	sleep 0.1
done
[ "$(stat accepted)" -ge $((before + 4)) ] || fail "vigild never synced by itself"
for _ in $(seq 100); do V so lookup "$sha_apex" >/dev/null 2>&1 && break; sleep 0.1; done
out=$(V so lookup "$sha_apex") || fail "vigild's own sync: $out"
kill -TERM "$vigild_pid"; wait "$vigild_pid" || true; vigild_pid=
echo "PASS: ctd end to end"
