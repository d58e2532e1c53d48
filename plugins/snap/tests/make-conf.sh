#!/bin/bash
# make-conf.sh - write the configuration SNAP's end-to-end test and
# `tools/bench snap` scan with: the shipped vigil.conf (internal_domains
# example.com) and conf.d/45-snap.conf, plus the fixtures' executives as
# protected names, in MODE (auto, conservative or aggressive).
# Usage: make-conf.sh SRCDIR PLUGIN_DIR MODE OUT_DIR   (writes OUT_DIR/vigil.conf)
set -euo pipefail
src=$1 plugins=$2 mode=$3 out=$4
mkdir -p "$out/conf.d"
sed -e "s|^\( *mode = \)\"auto\";|\1\"$mode\";|" \
    -e 's|^\( *protected_names = \[\)|\1 "Jane Whitfield", "Robert Hale",|' \
    "$src/conf.d/45-snap.conf" >"$out/conf.d/45-snap.conf"
grep -q "mode = \"$mode\";" "$out/conf.d/45-snap.conf" &&
	grep -q '"Jane Whitfield"' "$out/conf.d/45-snap.conf" ||
	{ echo "make-conf.sh: conf.d/45-snap.conf changed shape" >&2; exit 1; }
cp "$src/conf.d/10-truetype.conf" "$out/conf.d/"
{ echo "plugin_dir = \"$plugins\";"
  echo "include_dir = \"$out/conf.d\";"
  cat "$src/conf.d/vigil.conf"; } >"$out/vigil.conf"
chmod 644 "$out/vigil.conf" "$out"/conf.d/*.conf
