#!/usr/bin/env bash
# The HTTP/JSON API (`recbandit serve --http_port`): the demo server with a
# bearer token, driven with curl (the README's example, flags a shell user
# gets wrong: no Content-Type, GET, a big body sent with Expect: 100-continue
# or chunked, a stream read with -N) and with Python's urllib beside the
# python3-grpcio answers to the same requests (tests/services/http_client.py:
# auth, equal answers, Decide + Reward, Train watched as NDJSON, every error
# mapping we can trigger, malformed HTTP). The rpcs went through the gRPC
# path (metrics, request log); a refused --http_port; HTTPS with --tls_cert;
# SIGTERM with a stream open stops the server cleanly (exit 0).
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init

command -v curl >/dev/null || fail "curl is missing (build.sh installs it)"
make_python_stubs "$work/stubs"
openssl rand -hex 24 >"$work/token"
token="$(cat "$work/token")"

# --- A refused --http_port: one line on stderr, no server.
status=0
"$BIN" serve --port=0 --data_dir="$work/bad" --http_port=70000 >"$work/bad.out" 2>"$work/bad.err" ||
  status=$?
[ "$status" -eq 1 ] || fail "--http_port=70000 exited $status"
grep -q "^recbandit serve: --http_port must be in \[-1, 65535\]" "$work/bad.err" ||
  fail "--http_port=70000: $(cat "$work/bad.err")"
echo "--http_port=70000 -> exit 1: $(cat "$work/bad.err")"

start_server "$work/out" "$work/err" --demo --data_dir="$work/data" --http_port=-1 \
  --metrics_port=-1 --auth_token_file="$work/token"
read -r http metrics <<<"$("$PY" -c '
import json, sys
info = json.load(open(sys.argv[1]))
assert info["http_port"] > 0 and info["http_port"] != info["port"], info
print(info["http_port"], info["metrics_port"])' "$work/out")"
echo "demo server: gRPC on $port, HTTP on $http"
base="http://127.0.0.1:$http"

# curl_json <expected status> <curl args...>: the status and a JSON body.
curl_json() {
  local want="$1"
  shift
  local got
  got="$(curl -sS -o "$work/body" -w '%{http_code}' "$@")" || fail "curl $*: exit $?"
  [ "$got" = "$want" ] || fail "curl $*: HTTP $got, expected $want: $(head -c 300 "$work/body")"
  "$PY" -c 'import json, sys; json.load(open(sys.argv[1]))' "$work/body" ||
    fail "curl $*: not JSON: $(head -c 300 "$work/body")"
  echo "  $want $(head -c 150 "$work/body")"
}

echo "curl"
# The README's example, with the token.
curl_json 200 -X POST "$base/v1/Recommender/Recommend" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $token" -d '{"user": "u1", "k": 5}'
"$PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert len(r["items"]) == 5 and r["model_name"] == "demo", r' "$work/body"
curl_json 401 -X POST "$base/v1/Recommender/Recommend" -H 'Content-Type: application/json' \
  -d '{"user": "u1"}'
# curl -d without -H sends a form: 415, naming the fix.
curl_json 415 "$base/v1/Recommender/Recommend" -H "Authorization: Bearer $token" \
  -d '{"user": "u1"}'
grep -q "Content-Type must be application/json" "$work/body" || fail "415: $(cat "$work/body")"
curl_json 405 "$base/v1/Recommender/Recommend"
curl_json 404 -X POST "$base/v1/Recommender/Recomend" -H 'Content-Type: application/json' -d '{}'
# 5 MiB: curl sends Expect: 100-continue and is refused before the body goes.
head -c $((5 << 20)) /dev/zero | tr '\0' ' ' >"$work/big.json"
curl_json 413 -X POST "$base/v1/Recommender/Recommend" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $token" --data-binary @"$work/big.json"
curl_json 413 -X POST "$base/v1/Recommender/Recommend" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $token" -H 'Transfer-Encoding: chunked' --data-binary @"$work/big.json"
curl_json 400 -X POST "$base/v1/Recommender/Recommend" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $token" -d '{"user": "u1", "k": 5000}'
curl_json 404 -X POST "$base/v1/Recommender/Recommend" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $token" -d '{"user": "u1", "model_name": "nope"}'

# A Train job streamed with curl -N to its terminal state.
curl_json 200 -X POST "$base/v1/Recommender/Train" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $token" -d '{"model_name": "curl", "interactions_path":
  "demo/interactions.csv", "params": {"algo": "BPR", "bpr": {"factors": 8, "epochs": 2}}}'
job="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["job_id"])' "$work/body")"
curl -sS -N -X POST "$base/v1/Recommender/WatchJob" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $token" -d "{\"job_id\": \"$job\"}" >"$work/watch.ndjson" ||
  fail "curl WatchJob: exit $?"
"$PY" -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines and lines[-1]["state"] == "JOB_STATE_SUCCEEDED", lines[-1:]
print("  WatchJob: %d lines, last %s version %s" % (len(lines), lines[-1]["state"],
                                                   lines[-1]["model_version"]))' \
  "$work/watch.ndjson"

echo "Python: urllib beside python3-grpcio"
"$PY" "$SRC/tests/services/http_client.py" "127.0.0.1:$port" "$http" "$work/stubs" "$work/token"

# The HTTP calls were gRPC calls: counted by rpc and code, failures logged
# with their code, the token never printed.
"$PY" -c '
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10).read()
counts = {}
for line in text.decode().splitlines():
    for key in ("recbandit_rpc_errors_total{grpc_code=\"UNAUTHENTICATED\",grpc_method=\"Recommend\",grpc_service=\"recbandit.Recommender\"}",
                "recbandit_rpc_errors_total{grpc_code=\"NOT_FOUND\",grpc_method=\"WatchJob\",grpc_service=\"recbandit.Recommender\"}",
                "recbandit_rpc_requests_total{grpc_method=\"Recommend\",grpc_service=\"recbandit.Recommender\"}"):
        if line.startswith(key + " "):
            counts[key] = float(line.rsplit(" ", 1)[1])
assert len(counts) == 3, counts
assert min(counts.values()) >= 1, counts
print("metrics: %s" % counts)' "$metrics"
grep -q '"rpc":"Recommend","code":"NOT_FOUND"' "$work/err" ||
  fail "no request log line for an HTTP call's NOT_FOUND"
grep -q '"http":"GET","path":"/v1/Recommender/Recommend","status":405' "$work/err" ||
  fail "no log line for the 405"
if grep -qF "$token" "$work/err"; then
  fail "the token appears in the server's stderr"
fi

# --- SIGTERM with a stream open: the stream ends with an error line, the
# server exits 0.
curl_json 200 -X POST "$base/v1/Recommender/Train" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $token" -d '{"model_name": "long", "interactions_path":
  "demo/interactions.csv", "params": {"algo": "ALS", "threads": 1,
  "als": {"factors": 16, "iterations": 1000}}}'
job="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["job_id"])' "$work/body")"
curl -sS -N -X POST "$base/v1/Recommender/WatchJob" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $token" -d "{\"job_id\": \"$job\"}" >"$work/open.ndjson" \
  2>"$work/open.err" &
curl_pid=$!
for _ in $(seq 1 300); do
  grep -q JOB_STATE_RUNNING "$work/open.ndjson" 2>/dev/null && break
  sleep 0.1
done
grep -q JOB_STATE_RUNNING "$work/open.ndjson" || fail "the stream showed no running job"
stop_server "$work/err"
wait "$curl_pid" || fail "curl's stream did not end cleanly: $(cat "$work/open.err")"
tail -n 1 "$work/open.ndjson" | "$PY" -c '
import json, sys
last = json.loads(sys.stdin.read())
assert last == {"error": {"code": 14, "message": "the server is shutting down"}}, last
print("stream at SIGTERM ended with %s" % last)'
echo "SIGTERM with an open stream: exit 0"

# --- HTTPS with the server's certificate, and no token.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
start_server "$work/out2" "$work/err2" --data_dir="$work/data2" --http_port=-1 \
  --tls_cert="$work/cert.pem" --tls_key="$work/key.pem"
https="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["http_port"])' "$work/out2")"
echo "HTTPS"
curl_json 200 --cacert "$work/cert.pem" -X POST "https://localhost:$https/v1/Recommender/ListModels" \
  -H 'Content-Type: application/json' -d '{}'
status=0
curl -sS -o /dev/null -X POST "http://127.0.0.1:$https/v1/Recommender/ListModels" \
  -H 'Content-Type: application/json' -d '{}' 2>/dev/null || status=$?
[ "$status" -ne 0 ] || fail "plain HTTP was answered on the HTTPS port"
stop_server "$work/err2"
echo "PASS"
