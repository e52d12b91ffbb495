#!/usr/bin/env bash
# Catalog metadata and filters through the real server: PutItems / PutUsers,
# filtered Recommend and SimilarItems against an oracle (the client's own
# evaluation of the filter, exact scores from RankItems) on the scan path;
# then a restart with --filter_scan_rows=0 (every filter through the item
# index, the rest excluded): the catalog is read back from disk and the same
# oracle holds.
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init

make_python_stubs "$work/stubs"
start_server "$work/out" "$work/err" --demo --data_dir="$work/data"
echo "server on port $port (filters of up to 20000 items scanned)"
"$PY" "$SRC/tests/services/catalog_client.py" "127.0.0.1:$port" "$work/stubs" "$work/data" put
stop_server "$work/err"

start_server "$work/out2" "$work/err2" --data_dir="$work/data" --filter_scan_rows=0
echo "restarted on port $port (every filter through the index)"
"$PY" "$SRC/tests/services/catalog_client.py" "127.0.0.1:$port" "$work/stubs" "$work/data" check
stop_server "$work/err2"
echo "PASS"
