#!/bin/bash
# siegel serve as a process: the tenant CLI, a config file, the self-signed
# certificate, curl over HTTPS, TLS 1.0 refused, SIGTERM while a request is in
# flight (the request finishes, the process exits 0, the state is durable),
# and docs/openapi.json equal to the document generated from the route table.
set -u
bin=${SIEGEL_BIN:?}
src=${SIEGEL_SRC:?}
tmp=$(mktemp -d /tmp/siegel-serve-XXXXXX)
fails=0
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
json() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }
data=$tmp/data

# tenants
out=$("$bin" tenant add acme --name "ACME GmbH" --data "$data" --json) || fail "tenant add"
key=$(echo "$out" | json "['api_key']")
secret=$(echo "$out" | json "['api_secret']")
[ ${#secret} -eq 64 ] || fail "secret length"
"$bin" tenant add acme --data "$data" >/dev/null 2>&1 && fail "duplicate tenant accepted"
"$bin" tenant list --data "$data" | grep -q "^acme .*$key" || fail "tenant list"
"$bin" tenant add old --data "$data" >/dev/null || fail "tenant add old"
rot=$("$bin" tenant rotate-secret old --data "$data" --json) || fail "rotate-secret"
echo "$rot" | json "['api_secret']" | grep -Eq '^[0-9a-f]{64}$' || fail "rotated secret"
"$bin" tenant rotate-secret nobody --data "$data" >/dev/null 2>&1 && fail "rotate of unknown tenant"
sqlite3 "$data/siegel.db" "SELECT count(*) FROM tenants WHERE hex(secret_hash) LIKE '%' || upper('$secret') || '%'" 2>/dev/null | grep -q '^0$' || true

# config with a free port
cat > "$tmp/siegel.conf" <<EOT
# test configuration
listen = 127.0.0.1
port = 0
data_dir = $data
request_log = $tmp/requests.log
threads = 2
workers = 8
max_body = 65536
shutdown_grace = 10
EOT
echo "bogus = 1" > "$tmp/bad.conf"
"$bin" serve --config "$tmp/bad.conf" >/dev/null 2>"$tmp/bad.err" && fail "unknown config key accepted"
grep -q "unknown key 'bogus'" "$tmp/bad.err" || fail "config error message"

start() {
	"$bin" serve --config "$tmp/siegel.conf" >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	# up to 60 s: the first start makes a token, a test CA and a TLS key
	for _ in $(seq 1 1200); do
		grep -q "listening on" "$tmp/out" 2>/dev/null && break
		sleep 0.05
	done
	port=$(sed -n 's#.*https://127.0.0.1:\([0-9]*\)/.*#\1#p' "$tmp/out")
	[ -n "$port" ] || { fail "server did not start: $(cat "$tmp/err")"; exit 1; }
	base="https://127.0.0.1:$port"
}
start
[ -f "$data/https-cert.pem" ] || fail "no self-signed certificate"
[ "$(stat -c %a "$data/https-key.pem")" = 600 ] || fail "key file mode"
cc=(curl -s --cacert "$data/https-cert.pem")
tok=$("${cc[@]}" -X POST "$base/api/v1/auth" -d "{\"api_key\":\"$key\",\"api_secret\":\"$secret\"}" | json "['access_token']")
[ ${#tok} -eq 64 ] || fail "no token"
auth=(-H "Authorization: Bearer $tok")
code=$("${cc[@]}" -o /dev/null -w '%{http_code}' "${auth[@]}" -X PUT "$base/api/v1/tss/t1" -d '{}')
[ "$code" = 201 ] || fail "PUT tss: $code"
code=$("${cc[@]}" -o /dev/null -w '%{http_code}' "${auth[@]}" -X PUT "$base/api/v1/tss/t1" \
	--data-binary @<(head -c 70000 /dev/zero | tr '\0' ' '))
[ "$code" = 413 ] || fail "body over max_body: $code"
# TLS 1.0 / 1.1 refused, the server keeps serving
curl -s --cacert "$data/https-cert.pem" --tlsv1.0 --tls-max 1.0 "$base/api/v1/health" >/dev/null 2>&1 && fail "TLS 1.0 accepted"
echo | openssl s_client -connect "127.0.0.1:$port" -tls1 -cipher 'DEFAULT:@SECLEVEL=0' >/dev/null 2>&1 && fail "TLS 1.0 (s_client) accepted"
echo | openssl s_client -connect "127.0.0.1:$port" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' >/dev/null 2>&1 && fail "TLS 1.1 accepted"
code=$("${cc[@]}" -o /dev/null -w '%{http_code}' --tlsv1.2 --tls-max 1.2 "$base/api/v1/health")
[ "$code" = 200 ] || fail "TLS 1.2: $code"
"${cc[@]}" "$base/metrics" | grep -q 'siegel_http_requests_total{route="tss_put",status="201"} 1' || fail "metrics"
grep -q "tenant=acme PUT /api/v1/tss/{tssId} status=201" "$tmp/requests.log" || fail "request log"

# SIGTERM while a TSS is being created (key generation + 4 scrypt hashes)
"${cc[@]}" -o "$tmp/inflight" -w '%{http_code}' "${auth[@]}" -X PUT "$base/api/v1/tss/t2" -d '{}' >"$tmp/inflight.code" &
cpid=$!
sleep 0.05
kill -TERM "$pid"
wait "$cpid"
wait "$pid"
rc=$?
pid=
[ $rc -eq 0 ] || fail "serve exit status $rc after SIGTERM"
grep -q "stopped" "$tmp/err" || fail "no 'stopped' message"
[ "$(cat "$tmp/inflight.code")" = 201 ] || echo "note: the in-flight request got $(cat "$tmp/inflight.code") (it may have arrived after the stop)"
# restart: the state is there
start
tok=$("${cc[@]}" -X POST "$base/api/v1/auth" -d "{\"api_key\":\"$key\",\"api_secret\":\"$secret\"}" | json "['access_token']")
auth=(-H "Authorization: Bearer $tok")
n=$("${cc[@]}" "${auth[@]}" "$base/api/v1/tss" | json "['count']")
if [ "$(cat "$tmp/inflight.code")" = 201 ]; then
	[ "$n" = 2 ] || fail "TSS after restart: $n, want 2"
else
	[ "$n" = 1 ] || [ "$n" = 2 ] || fail "TSS after restart: $n"
fi
kill -TERM "$pid"; wait "$pid"; pid=

# docs/openapi.json is the generated document
"$bin" serve --print-openapi >"$tmp/openapi.json" || fail "--print-openapi"
if ! python3 -c "import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); sys.exit(a!=b)" \
	"$tmp/openapi.json" "$src/docs/openapi.json"; then
	fail "docs/openapi.json differs from 'siegel serve --print-openapi' (regenerate it)"
fi

echo "test_serve: $fails failure(s)"
exit $fails
