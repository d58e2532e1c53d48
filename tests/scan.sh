#!/bin/bash
# scan.sh - `vigil scan` and `vigil check-config` end to end, on the shipped
# configuration and the example messages: exit codes, the JSON contract,
# and what the default policy decides.
set -euo pipefail
: "${top_srcdir:?}" "${top_builddir:?}" "${VIGIL:?}"
work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-scan.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

conf="$work/vigil.conf"
{ echo "plugin_dir = \"$top_builddir/plugins/built\";"
  echo "include_dir = \"$top_srcdir/conf.d\";"
  cat "$top_srcdir/conf.d/vigil.conf"; } >"$conf"
chmod 644 "$conf"

out=$("$VIGIL" --config "$conf" check-config) || fail "shipped config refused"
echo "$out"
[[ $out == *"plugins: truetype extension"* ]] || fail "summary: $out"
[[ $out == *"user 4 (2 disabled)"* ]] || fail "summary: $out"

ex="$top_srcdir/examples"
# file -> expected final action and a python check on the JSON report
check() {
	local file=$1 final=$2 expr=$3 rc=0 json
	json=$("$VIGIL" --config "$conf" scan --json "$ex/$file") || rc=$?
	local want=1; [ "$final" = pass ] && want=0
	[ $rc = $want ] || fail "$file: exit $rc, expected $want"
	FINAL=$final EXPR=$expr python3 -c '
import json, os, sys
r = json.loads(sys.stdin.read())
for key in ("file", "message_id", "from", "subject", "final_action", "exceptions", "parts", "rules"):
    assert key in r, "missing " + key
for p in r["parts"]:
    for key in ("path", "name", "content_type", "true_type", "category", "size", "sha1", "sha256", "depth", "encrypted"):
        assert key in p, "part lacks " + key
    assert len(p["sha1"]) == 40 and len(p["sha256"]) == 64
for rule in r["rules"]:
    for key in ("name", "phase", "matched", "conditions"):
        assert key in rule, "rule lacks " + key
assert r["final_action"] == os.environ["FINAL"], r["final_action"]
matched = [x["name"] for x in r["rules"] if x["matched"]]
parts = r["parts"]
assert eval(os.environ["EXPR"]), (os.environ["EXPR"], matched, [(p["path"], p["true_type"]) for p in parts])
' <<<"$json" || fail "$file: report check failed: $json"
	echo "ok: $file -> $final"
}
check 01-clean.eml pass 'matched == []'
check 02-invoice-exe.eml quarantine '"Quarantine executables" in matched and any(p["true_type"] in ("exe", "exe64") for p in parts)'
check 03-script.eml pass '"Tag script attachments" in matched'
check 04-zipped-exe.eml quarantine 'any(p["depth"] == 2 and p["category"] == "executable" for p in parts)'
check 05-macro-doc.eml pass '"Tag macro documents" in matched'
check 06-malformed.eml pass 'r["exceptions"] == ["malformed"]'
check 07-encoded-names.eml quarantine 'any(not p["name"].isascii() for p in parts) and "Quarantine executables" in matched'

# stdin, the human form, several files at once
out=$("$VIGIL" --config "$conf" scan - <"$ex/01-clean.eml") || fail "stdin: exit $?"
[[ $out == *": pass"* ]] || fail "stdin: $out"
rc=0; "$VIGIL" --config "$conf" scan "$ex/01-clean.eml" "$ex/02-invoice-exe.eml" >"$work/h.txt" || rc=$?
[ $rc = 1 ] || fail "two files: exit $rc"
grep -q 'quarantine (area default) by "Quarantine executables"' "$work/h.txt" || fail "human report"

# errors: a missing file is exit 2, a broken config is FILE:LINE and exit 1/2
rc=0; "$VIGIL" --config "$conf" scan "$work/nosuch.eml" 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "missing file: exit $rc"
printf 'plugin_dir = "%s";\nrules = ( { name = "x"; conditions = ( { type = "nosuch"; } ); actions = { intercept = "pass"; }; } );\n' \
	"$top_builddir/plugins/built" >"$work/bad.conf"
chmod 644 "$work/bad.conf"
rc=0; err=$("$VIGIL" --config "$work/bad.conf" check-config 2>&1) || rc=$?
[ $rc = 1 ] || fail "bad config: exit $rc"
[[ $err == *"bad.conf:2: unknown condition type 'nosuch'"* ]] || fail "bad config: $err"
rc=0; "$VIGIL" --config "$work/bad.conf" scan "$ex/01-clean.eml" 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "scan with bad config: exit $rc"
echo "PASS: scan and check-config"
