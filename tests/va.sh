#!/bin/bash
# va.sh - the Virtual Analyzer plugin end to end (tests/va_test.py): vigild
# with plugins/ddan against two strict DDAN simulators over HTTPS.
set -euo pipefail
: "${top_srcdir:?}" "${top_builddir:?}" "${VIGIL:?}"
command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }
exec timeout 600 python3 "$top_srcdir/tests/va_test.py"
