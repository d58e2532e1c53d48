#!/bin/bash
# privdrop.sh - started as root, vigild binds, then runs as daemon.user:
# the process's uid changes, and it can still spool, scan, log to the store
# and deliver. Skipped (77) when not run as root.
set -euo pipefail
: "${top_srcdir:?}" "${top_builddir:?}" "${VIGIL:?}"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
VIGILD=$(dirname "$VIGIL")/vigild
work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-priv.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -n 20 "$work/vigild.log"; exit 1; }

chmod 755 "$work"
mkdir -p "$work/var" "$work/var/delivered"
chown nobody "$work/var/delivered" "$work/var" # the store's directory
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$top_srcdir/tools/dev-config" "$top_builddir" "$work/vigil.conf" "$work/var"
sed -i -e "s|\"smtp:127.0.0.1:10024\"|\"smtp:127.0.0.1:$port\"|" \
       -e 's|^\( *user = \)"";|\1"nobody";|' "$work/vigil.conf"
grep -q 'user = "nobody"' "$work/vigil.conf" || fail "config"

timeout 60 "$VIGILD" -f --config "$work/vigil.conf" >/dev/null 2>"$work/vigild.log" &
pid=$!
for _ in $(seq 300); do # up to 30 s: slow under sanitizers
	python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && break
	sleep 0.1
done
vpid=$(pgrep -P "$pid" -x vigild || pgrep -P "$pid")  # timeout's child
uid=$(awk '/^Uid:/ {print $2}' "/proc/$vpid/status")
[ "$uid" = "$(id -u nobody)" ] || fail "runs as uid $uid, not nobody"
python3 - "$port" "$top_srcdir/examples/01-clean.eml" <<'PY'
import smtplib, sys
data = open(sys.argv[2], "rb").read().replace(b"\n", b"\r\n")
smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30).sendmail("a@partner.example", ["bob@example.com"], data)
PY
for _ in $(seq 100); do
	[ -n "$(ls "$work/var/delivered/new" 2>/dev/null)" ] && break
	sleep 0.1
done
[ -n "$(ls "$work/var/delivered/new" 2>/dev/null)" ] || fail "not delivered as nobody"
"$VIGIL" --config "$work/vigil.conf" log tracking --format json | grep -q '"final_action":"pass"' ||
	fail "store not written as nobody"
kill -TERM "$pid"
wait "$pid" || fail "exit status"
pid=
echo "PASS: vigild dropped to nobody and kept working"
