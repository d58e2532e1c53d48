#!/bin/bash
# atse-scan.sh - ATSE end to end: `vigil scan --json` with the shipped
# conf.d/40-atse.conf (its signature set found relative to the file) at
# aggressiveness 2 and 3, over messages built at test time: EICAR plain, in
# the body, zipped, zipped twice, in a password-protected zip; OLE2 and
# OOXML documents with and without macros; droppers, exploits, PDF actions;
# and every Debian clamav-testfiles sample when that package is installed.
# Then the configuration errors an administrator sees.
set -euo pipefail
: "${top_srcdir:?}" "${top_builddir:?}" "${VIGIL:?}"
work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-atse.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# conf.d copies with the shipped files; atse/ beside 40-atse.conf, as
# installed, so that the default builtin_dir ("atse") is found from there.
make_conf() { # NAME AGGRESSIVENESS
	local d=$work/$1
	mkdir -p "$d/conf.d"
	cp "$top_srcdir"/conf.d/{10-truetype,20-extension,40-atse,50-default-rules}.conf "$d/conf.d/"
	sed -i "s/^\( *aggressiveness = \)2;/\1$2;/" "$d/conf.d/40-atse.conf"
	grep -q "aggressiveness = $2;" "$d/conf.d/40-atse.conf" || fail "cannot set aggressiveness $2"
	ln -s "$top_srcdir/conf.d/atse" "$d/conf.d/atse"
	{ echo "plugin_dir = \"$top_builddir/plugins/built\";"
	  echo "include_dir = \"$d/conf.d\";"
	  cat "$top_srcdir/conf.d/vigil.conf"; } >"$d/vigil.conf"
	chmod 644 "$d/vigil.conf" "$d"/conf.d/*.conf
}
make_conf l2 2
make_conf l3 3

out=$("$VIGIL" --config "$work/l2/vigil.conf" check-config) || fail "shipped config refused: $out"
echo "$out"
[[ $out == *"plugins: truetype extension atse"* ]] || fail "summary: $out"
[[ $out == *"virus 1"* ]] || fail "summary: $out"

# The messages: samples.py's attachments, EICAR in a body, the test files.
python3 "$top_srcdir/plugins/atse/tests/samples.py" --eml "$work/s"
python3 - "$work/s" <<'PY'
import os, sys
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "plugins/atse/tests"))
import samples
from email.message import EmailMessage
out = sys.argv[1]
m = EmailMessage()
m["From"] = "alice@partner.example"; m["To"] = "bob@example.com"
m["Subject"] = "test"; m.set_content(samples.EICAR.decode() + "\n")
open(os.path.join(out, "body-eicar.eml"), "wb").write(bytes(m))
tf = "/usr/share/clamav-testfiles"
if os.path.isdir(tf):
    os.makedirs(os.path.join(out, "testfiles"))
    for name in sorted(os.listdir(tf)):
        if name.startswith("clam"):
            data = open(os.path.join(tf, name), "rb").read()
            with open(os.path.join(out, "testfiles", name + ".eml"), "wb") as f:
                f.write(samples.eml(name, data))
PY
[ -d "$work/s/testfiles" ] || echo "note: clamav-testfiles not installed: those samples skipped"

mapfile -t msgs < <(find "$work/s" -name '*.eml' | LC_ALL=C sort)
for l in l2 l3; do
	rc=0
	"$VIGIL" --config "$work/$l/vigil.conf" scan --json "${msgs[@]}" >"$work/$l.jsonl" || rc=$?
	[ $rc = 1 ] || fail "$l: vigil scan exit $rc (1 expected: some are quarantined)"
done

python3 - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
# file -> (at aggressiveness 2, at 3): the ATSE detection name (its
# start), or None when the ATSE rule must not match.
want = {
    "eicar.com.eml": ("Eicar_test_file", "Eicar_test_file"),
    "body-eicar.eml": ("Eicar_test_file", "Eicar_test_file"),
    "eicar.zip.eml": ("Eicar_test_file", "Eicar_test_file"),
    "eicar-zip.zip.eml": ("Eicar_test_file", "Eicar_test_file"),
    "eicar-protected.zip.eml": (None, "HEUR_ENCRYPTED.A"),
    "plain-protected.zip.eml": (None, "HEUR_ENCRYPTED.A"),
    "macro.doc.eml": (None, "HEUR_OLEMACRO.A"),
    "macro.docm.eml": (None, "HEUR_OLEMACRO.A"),
    "plain.doc.eml": (None, None),
    "plain.docx.eml": (None, None),
    "exe-in.doc.eml": ("HEUR_EXEINDOC.A", "HEUR_EXEINDOC.A"),
    "tool.zip.eml": (None, "HEUR_EXEINARC.A"),
    "broken.exe.eml": (None, "HEUR_BROKENEXE.A"),
    "smuggle.html.eml": ("HEUR_HTMLDROP.A", "HEUR_HTMLDROP.A"),
    "dropper.js.eml": ("HEUR_SCRDROP.", "HEUR_SCRDROP."),
    "follina.html.eml": ("EXPL_CVE202230190.A", "EXPL_CVE202230190.A"),
    "autojs.pdf.eml": ("HEUR_PDFJS.A", "HEUR_PDFJS.A"),
    "launch.pdf.eml": ("HEUR_PDFLAUNCH.A", "HEUR_PDFLAUNCH.A"),
    "names-js.pdf.eml": (None, None),
    "plain.pdf.eml": (None, None),
    "minutes.txt.eml": (None, None),
}
errors, checked = [], 0
for col, level in enumerate(("l2", "l3")):
    reports = {}
    for line in open(os.path.join(work, level + ".jsonl")):
        r = json.loads(line)
        reports[os.path.relpath(r["file"], os.path.join(work, "s"))] = r
    cases = dict((k, v[col]) for k, v in want.items())
    for k in reports:
        if k.startswith("testfiles/"):
            cases[k] = "ClamAV-Test-File"
    for name, expect in sorted(cases.items()):
        r = reports.get(name)
        if r is None:
            errors.append("%s %s: no report" % (level, name)); continue
        checked += 1
        rule = [x for x in r["rules"] if x["name"] == "Virus scan (ATSE)"]
        if len(rule) != 1 or rule[0]["phase"] != "virus":
            errors.append("%s %s: no ATSE rule in the virus phase" % (level, name)); continue
        cond = rule[0]["conditions"][0]
        if cond.get("error"):
            errors.append("%s %s: condition error: %s" % (level, name, cond["detail"])); continue
        if expect is None:
            if rule[0]["matched"]:
                errors.append("%s %s: unexpected detection %s" % (level, name, cond["detail"]))
            continue
        if not rule[0]["matched"] or not cond["detail"].startswith(expect):
            errors.append("%s %s: want %s, got %r" % (level, name, expect, cond["detail"])); continue
        if "(engine: " not in cond["detail"] or cond.get("threat") != "possible virus":
            errors.append("%s %s: detail/threat %r %r" % (level, name, cond["detail"], cond.get("threat")))
        if r["final_action"] != "quarantine" or r.get("decided_by") != "Virus scan (ATSE)":
            errors.append("%s %s: final %s by %s" % (level, name, r["final_action"], r.get("decided_by")))
        want_part = "1" if name == "body-eicar.eml" else "2"
        if cond.get("part") != want_part:
            errors.append("%s %s: part %s" % (level, name, cond.get("part")))
for e in errors:
    print("FAIL:", e)
print("checked %d reports, %d failures" % (checked, len(errors)))
sys.exit(1 if errors else 0)
PY

# Configuration errors name the file and line.
d=$work/l2/conf.d
sed -i 's|^\( *\)# signature_dirs = .*|\1signature_dirs = [ "/nonexistent/clamav" ];|' "$d/40-atse.conf"
rc=0; err=$("$VIGIL" --config "$work/l2/vigil.conf" check-config 2>&1) || rc=$?
[ $rc = 1 ] || fail "missing signature dir: exit $rc: $err"
[[ $err == *"40-atse.conf:"*": signature directory '/nonexistent/clamav': No such file or directory"* ]] ||
	fail "missing signature dir: $err"
sed -i 's|"/nonexistent/clamav"|"atse"|; s|^\( *aggressiveness = \)2;|\17;|' "$d/40-atse.conf"
rc=0; err=$("$VIGIL" --config "$work/l2/vigil.conf" check-config 2>&1) || rc=$?
[ $rc = 1 ] && [[ $err == *"40-atse.conf:"*"aggressiveness must be 1"* ]] || fail "aggressiveness 7: exit $rc: $err"
echo "PASS: atse end to end"
