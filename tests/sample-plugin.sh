#!/bin/bash
# sample-plugin.sh - the third-party proof: install vigil into a staging
# prefix, build tests/sample-plugin/ out of tree with nothing but the
# installed headers and `pkg-config vigil-plugin`, load it, and see its
# condition work through `vigil scan`.
set -euo pipefail
: "${top_srcdir:?}" "${top_builddir:?}" "${MAKE:=make}"
work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-sample.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage="$work/stage"

$MAKE -s -C "$top_builddir" install prefix="$stage" >"$work/install.log" 2>&1 ||
	{ cat "$work/install.log"; echo "FAIL: make install into $stage"; exit 1; }

# Build with the staged SDK only: copy the sources away from the tree.
cp -r "$top_srcdir/tests/sample-plugin" "$work/src"
chmod -R u+w "$work/src"
PKG_CONFIG_PATH="$stage/lib/pkgconfig" make -s -C "$work/src" >"$work/build.log" 2>&1 ||
	{ cat "$work/build.log"; echo "FAIL: out-of-tree build"; exit 1; }
grep -q -- "-I$stage/include" <(PKG_CONFIG_PATH="$stage/lib/pkgconfig" pkg-config --cflags vigil-plugin) ||
	{ echo "FAIL: vigil-plugin.pc does not point at the staged headers"; exit 1; }

# Only vigil_plugin may be exported.
exported=$(nm -D --defined-only "$work/src/sample.so" | awk '$2 ~ /[A-Z]/ {print $3}' | grep -v '^_' || true)
[ "$exported" = "vigil_plugin" ] || { echo "FAIL: exports: $exported"; exit 1; }

mkdir -p "$work/etc/conf.d" "$work/plugins"
install -m 644 "$work/src/sample.so" "$work/plugins/sample.so"
cat >"$work/etc/vigil.conf" <<CONF
plugin_dir = "$work/plugins";
plugins = ( { name = "sample"; } );
rules = ( { name = "invoices"; conditions = ( { type = "subject_contains"; text = "INVOICE"; } );
            actions = { intercept = "quarantine"; }; } );
CONF
printf 'From: a@example.org\nTo: b@example.com\nSubject: your invoice 42\n\nhi\n' >"$work/hit.eml"
printf 'From: a@example.org\nTo: b@example.com\nSubject: lunch\n\nhi\n' >"$work/miss.eml"

vigil="$stage/bin/vigil"
"$vigil" --config "$work/etc/vigil.conf" check-config
rc=0; out=$("$vigil" --config "$work/etc/vigil.conf" scan --json "$work/hit.eml") || rc=$?
[ $rc = 1 ] || { echo "FAIL: hit: exit $rc"; exit 1; }
echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["final_action"]=="quarantine", r; assert r["rules"][0]["conditions"][0]["type"]=="subject_contains"'
"$vigil" --config "$work/etc/vigil.conf" scan --json "$work/miss.eml" >/dev/null ||
	{ echo "FAIL: miss did not pass"; exit 1; }
echo "PASS: sample plugin built out of tree, loaded, condition works"
