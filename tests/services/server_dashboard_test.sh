#!/usr/bin/env bash
# Starts `recbandit serve --demo` with a bearer token and the HTTP port, and
# checks the dashboard: bad input with curl (unknown page 404, bad or unknown
# parameters 400, bounded messages, the token kept out of the logs), then
# every page in headless Chromium (tests/services/dashboard_browser.py: no
# console error or failed request, the demo's figures in the DOM, an
# experiment description with HTML shown as text, a PNG screenshot of each
# page in $RECBANDIT_BUILD_DIR/dashboard_screenshots). Skips (exit 77) only
# when chromium is missing; build.sh installs it.
set -euo pipefail
source "${RECBANDIT_SOURCE_DIR:?}/tests/services/server_harness.sh"
harness_init

CHROMIUM="$(command -v chromium || true)"
if [ -z "$CHROMIUM" ]; then
  echo "SKIP: chromium is not installed (Debian: apt-get install chromium; ./build.sh installs it)"
  exit 77
fi

token="dashboard-test-token-$$"
printf '%s\n' "$token" >"$work/token"
start_server "$work/out" "$work/err" --demo --http_port=-1 --data_dir="$work/data" \
  --auth_token_file="$work/token"
http_port="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["http_port"])' "$work/out")"
base="http://127.0.0.1:$http_port"
echo "server on port $port, HTTP $http_port"

# An experiment whose free-text description holds markup, through the JSON API.
curl -sS --fail-with-body -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"config": {"name": "html_test", "description": "<script>alert(1)</script><b id=\"pwn\">x</b> & '"'"'quotes'"'"'", "variants": [{"name": "only", "policy_spec": "ucb1", "traffic_weight": 1}]}}' \
  "$base/v1/Experiments/CreateExperiment" >/dev/null

# status <expected> <curl args...>: the HTTP status must be <expected>; the
# body is left in $work/body.
status() {
  local want="$1"
  shift
  local got
  got="$(curl -sS -o "$work/body" -w '%{http_code}' "$@")"
  [ "$got" = "$want" ] || fail "curl $*: HTTP $got, want $want: $(head -c 300 "$work/body")"
}
auth=(-H "Authorization: Bearer $token")
status 401 "$base/dashboard"
grep -q "bearer token" "$work/body" || fail "the 401 page must say how to give the token"
status 200 "${auth[@]}" "$base/"
grep -q 'Content-Security-Policy' <(curl -sS -D - -o /dev/null "${auth[@]}" "$base/") ||
  fail "pages must carry a Content-Security-Policy"
status 303 "$base/dashboard/models?token=$token"
curl -sS -D - -o /dev/null "$base/dashboard/models?token=$token" | tr -d '\r' >"$work/headers"
grep -qx 'Location: /dashboard/models' "$work/headers" || fail "redirect: $(cat "$work/headers")"
grep -q '^Set-Cookie: recbandit_token=.*HttpOnly; SameSite=Strict' "$work/headers" ||
  fail "cookie: $(cat "$work/headers")"
status 200 -H "Cookie: recbandit_token=$token" "$base/dashboard/models"
status 401 -H "Cookie: recbandit_token=wrong" "$base/dashboard/models"
status 404 "${auth[@]}" "$base/dashboard/nope"
status 404 "${auth[@]}" "$base/dashboard/experiments/nope"
grep -q "unknown experiment\|not found\|nope" "$work/body" || fail "404 body: $(cat "$work/body")"
status 404 "${auth[@]}" "$base/dashboard/experiments/%3Cscript%3Ealert(1)%3C%2Fscript%3E"
grep -q '<script>alert' "$work/body" && fail "a path was echoed unescaped"
long="$(head -c 5000 /dev/zero | tr '\0' 'x')"
status 404 "${auth[@]}" "$base/dashboard/$long"
[ "$(wc -c <"$work/body")" -lt 4000 ] || fail "a 5000-byte path was echoed whole"
status 400 "${auth[@]}" "$base/dashboard/experiments/demo_banner?buckets=0"
grep -q 'buckets must be an integer in \[1, 100\]' "$work/body" || fail "$(cat "$work/body")"
status 400 "${auth[@]}" "$base/dashboard/experiments/demo_banner?buckets=$long"
[ "$(wc -c <"$work/body")" -lt 4000 ] || fail "a 5000-byte parameter was echoed whole"
status 400 "${auth[@]}" "$base/dashboard/models?bogus=1"
grep -q "unknown query parameter &#39;bogus&#39;" "$work/body" || fail "$(cat "$work/body")"
status 200 "${auth[@]}" "$base/dashboard/experiments/demo_banner?buckets=3"
status 200 -I "${auth[@]}" "$base/dashboard/simulations"
status 405 "${auth[@]}" -X PUT "$base/dashboard"
echo "bad input: 401, 303 + cookie, 404, 400 and 405 as documented"

shots="${RECBANDIT_BUILD_DIR:-$work}/dashboard_screenshots"
rm -rf "$shots"
mkdir -p "$shots"
"$PY" "$SRC/tests/services/dashboard_browser.py" "$CHROMIUM" "$base" "$token" "$shots"

stop_server "$work/err"
if grep -q "$token" "$work/err" "$work/out"; then
  fail "the token appears in the server's output"
fi
echo "PASS"
