#!/bin/bash
# ddan_sim.sh - the Deep Discovery Analyzer simulator (tests/peers/ddan_sim.py)
# against its own strict client: the peer later tests of plugins/ddan rely on.
set -euo pipefail
: "${top_srcdir:?}"
command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }
cd "$top_srcdir"
exec python3 -m unittest tests/peers/test_ddan_sim.py
