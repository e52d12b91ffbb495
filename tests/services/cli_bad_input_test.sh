#!/usr/bin/env bash
# The CLI bad-input catalogue (tests/services/cli_bad_input.py) through the
# real binary: each bad flag, file, model folder, event log and OPE input
# gets its exit code and one-line message, never a crash or a hang. The
# README's table must equal the catalogue.
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init

"$PY" "$SRC/tests/services/cli_bad_input.py" "$BIN" "$work"
"$PY" "$SRC/tests/services/cli_bad_input.py" --markdown >"$work/table.md"
expect_readme_table "$work/table.md" "python3 tests/services/cli_bad_input.py --markdown"
echo "PASS"
