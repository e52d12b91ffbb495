#!/usr/bin/env bash
# Checks `recbandit serve` with TLS and a bearer token: refuses bad TLS/token
# configuration with one line on stderr and no server; then serves the demo
# over TLS (a throwaway self-signed certificate for localhost made with the
# openssl CLI, a random token) to `recbandit loadtest` (with and without the
# token) and an independent Python client (tests/services/security_client.py:
# UNAUTHENTICATED without a valid bearer token, health and reflection open,
# no plaintext access); then SIGTERM stops it cleanly (exit 0).
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init


# --- The certificate (CN=localhost, SAN localhost and 127.0.0.1), a second
# unrelated one (a CA the client must not accept), and the token.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$work/other_key.pem" -out "$work/other_cert.pem" 2>/dev/null
openssl x509 -in "$work/cert.pem" -outform DER -out "$work/cert.der"
openssl rand -hex 24 >"$work/token"
chmod 600 "$work/key.pem" "$work/token"
token="$(cat "$work/token")"

# --- Bad configuration: a non-zero exit, one line on stderr naming the
# problem, nothing on stdout, and no server (not even its data directory).
: >"$work/empty_token"
printf ' \n\t\n' >"$work/blank_token"
expect_config_error() {
  local label="$1" expected="$2"
  shift 2
  rm -rf "$work/bad_data"
  local status=0
  timeout 60 "$BIN" serve --port=0 --data_dir="$work/bad_data" "$@" \
    >"$work/bad.out" 2>"$work/bad.err" || status=$?
  [ "$status" -ne 0 ] || fail "$label: serve exited 0"
  [ "$status" -ne 124 ] || fail "$label: serve started instead of refusing"
  [ ! -s "$work/bad.out" ] || fail "$label: stdout: $(cat "$work/bad.out")"
  [ "$(wc -l <"$work/bad.err")" -eq 1 ] ||
    fail "$label: expected one line on stderr, got:"$'\n'"$(cat "$work/bad.err")"
  grep -q "^recbandit serve: .*$expected" "$work/bad.err" ||
    fail "$label: expected '$expected' on stderr, got: $(cat "$work/bad.err")"
  [ ! -e "$work/bad_data" ] || fail "$label: the server created its data directory"
  echo "  $label -> exit $status: $(cat "$work/bad.err")"
}
echo "bad configuration"
expect_config_error "--tls_cert without --tls_key" "needs both --tls_cert and --tls_key" \
  --tls_cert="$work/cert.pem"
expect_config_error "--tls_key without --tls_cert" "needs both --tls_cert and --tls_key" \
  --tls_key="$work/key.pem"
expect_config_error "DER (non-PEM) --tls_cert" "cert.der: not a PEM certificate" \
  --tls_cert="$work/cert.der" --tls_key="$work/key.pem"
expect_config_error "empty --auth_token_file" "--auth_token_file .*empty_token is empty" \
  --tls_cert="$work/cert.pem" --tls_key="$work/key.pem" --auth_token_file="$work/empty_token"
expect_config_error "blank --auth_token_file" "--auth_token_file .*blank_token is empty" \
  --tls_cert="$work/cert.pem" --tls_key="$work/key.pem" --auth_token_file="$work/blank_token"
expect_config_error "missing --auth_token_file" "$work/no_such_token.*No such file" \
  --tls_cert="$work/cert.pem" --tls_key="$work/key.pem" --auth_token_file="$work/no_such_token"

make_python_stubs "$work/stubs"

# --- The TLS server.
start_server "$work/out" "$work/err" --demo --metrics_port=-1 --data_dir="$work/data" \
  --tls_cert="$work/cert.pem" --tls_key="$work/key.pem" --auth_token_file="$work/token"
info="$("$PY" -c '
import json, sys
info = json.load(open(sys.argv[1]))
assert info["tls"] is True, info
print(info["port"], info["metrics_port"])' "$work/out")"
read -r port metrics <<<"$info"
echo "TLS server on port $port, metrics on $metrics"

# --- recbandit loadtest over TLS (the certificate as its root CA).
loadtest() {
  local status=0
  "$BIN" loadtest --target="localhost:$port" --tls_cert="$work/cert.pem" --concurrency=4 \
    --requests=300 "$@" >"$work/lt.out" 2>"$work/lt.err" || status=$?
  return "$status"
}
loadtest --rpc=mixed --auth_token_file="$work/token" ||
  fail "loadtest with the token: $(cat "$work/lt.err")"
"$PY" -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, lines
r = json.loads(lines[0])
assert r["rpc"] == "mixed" and r["requests"] == 300 and r["errors"] == 0, r
print("loadtest mixed with the token: %d calls, %d errors, %.0f qps" % (
    r["requests"], r["errors"], r["qps"]))' "$work/lt.out"

loadtest --rpc=recommend || fail "loadtest without the token: $(cat "$work/lt.err")"
"$PY" -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, lines
r = json.loads(lines[0])
assert r["requests"] == 300 and r["errors"] == 300, r
# first_error is "<rpc>: <code name>: <message>".
assert r["first_error"].startswith("Recommend: UNAUTHENTICATED: "), r["first_error"]
print("loadtest recommend without the token: %d calls, %d errors, first: %s" % (
    r["requests"], r["errors"], r["first_error"]))' "$work/lt.out"

# With decide/mixed, loadtest first reads the experiment (GetExperiment) and
# stops there when that fails: no load, no JSON, one line on stderr.
status=0
loadtest --rpc=mixed || status=$?
[ "$status" -ne 0 ] || fail "loadtest mixed without the token exited 0: $(cat "$work/lt.out")"
[ ! -s "$work/lt.out" ] || fail "loadtest mixed without the token printed: $(cat "$work/lt.out")"
grep -q "GetExperiment 'demo_layout'.*authorization: Bearer <token>" "$work/lt.err" ||
  fail "loadtest mixed without the token: $(cat "$work/lt.err")"
echo "loadtest mixed without the token -> exit $status: $(cat "$work/lt.err")"

# --- The Python client (its last check: the server still serves).
"$PY" "$SRC/tests/services/security_client.py" "localhost:$port" "$work/stubs" \
  "$work/cert.pem" "$work/token" "$work/other_cert.pem"

# Rejected calls are counted; the token never appears in the server's log.
"$PY" -c '
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10).read()
for line in text.decode().splitlines():
    if line.startswith("recbandit_rpc_errors_total{grpc_code=\"UNAUTHENTICATED\",grpc_method=\"Recommend\",grpc_service=\"recbandit.Recommender\"}"):
        n = float(line.rsplit(" ", 1)[1])
        assert n >= 308, line  # 300 from loadtest, 8 from the client
        print("metrics: %d UNAUTHENTICATED Recommend calls" % n)
        break
else:
    raise AssertionError("no UNAUTHENTICATED Recommend counter")' "$metrics"
if grep -qF "$token" "$work/err"; then
  fail "the token appears in the server's stderr"
fi

# --- SIGTERM stops the TLS server cleanly.
stop_server "$work/err"
tail -n 3 "$work/err"
echo "PASS"
