#!/usr/bin/env bash
# The siegel CLI on a data directory, as a user runs it: create, auth, init,
# time (real chronyd on loopback), clients, transactions, open list, status,
# last-log, self test, disable; JSON output parsed with python3; exit codes;
# and recovery of a SoftHSM2 token.object torn by a crash.
set -u
BIN=${SIEGEL_BIN:?}
SRC=${SIEGEL_SRC:?}
tmp=$(mktemp -d)
pass=0
fail=0
ntp_port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
	"$SRC/scripts/test-ntp-server.sh" stop "$tmp/ntp" >/dev/null 2>&1 || true
	if [ $fail -eq 0 ]; then rm -rf "$tmp"; else echo "kept $tmp" >&2; fi
}
trap cleanup EXIT
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# expect CODE CMD...: runs CMD, checks its exit status
expect() {
	local want=$1
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	local got=$?
	if [ "$got" -eq "$want" ]; then ok; else bad "exit $got, want $want: $* ($(cat "$tmp/err"))"; fi
}
# json_get KEY: reads a top-level key of the JSON in $tmp/out
json_get() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$tmp/out" "$1"; }

"$SRC/scripts/test-ntp-server.sh" start "$tmp/ntp" "$ntp_port" 200 >/dev/null || { echo "no chronyd"; exit 1; }
export SIEGEL_KDF_LOG2N=10 SIEGEL_DATA="$tmp/data" SIEGEL_NTP="127.0.0.1:$ntp_port"
S() { "$BIN" tse "$@"; }

# usage and unknown things
expect 0 "$BIN" --help
for w in "tse create" "tse time" "tse finish" "tse last-log" "--data DIR" "verify-export" "exit status"; do
	grep -q -- "$w" "$tmp/out" && ok || bad "--help lacks '$w'"
done
expect 2 "$BIN" frobnicate
expect 2 S frobnicate
expect 2 S status --no-such-option

expect 0 S create --admin-pin 12345 --admin-puk 123456 --time-admin-pin 54321 --time-admin-puk 654321 --json
expect 0 S status --json
[ "$(json_get state)" = UNINITIALIZED ] && ok || bad "state after create"
serial=$(json_get serial_number)
[ ${#serial} -eq 64 ] && ok || bad "serial number '$serial'"

# restricted before login; errors name the TR error
expect 1 S init --description "Filiale 1"
grep -q ErrorUserNotAuthenticated "$tmp/err" && ok || bad "init without login: $(cat "$tmp/err")"
expect 1 S auth --pin 00000 --json
[ "$(json_get code)" = ErrorAuthenticationFailed ] && ok || bad "wrong pin code"
[ "$(json_get remaining_retries)" = 2 ] && ok || bad "remaining retries"
expect 0 S auth --pin 12345
expect 0 S init --description "Filiale 1"
expect 0 S client add KASSE-01
expect 0 S client add "KASSE 2"
expect 1 S start --client KASSE-01
grep -q ErrorTimeNotSet "$tmp/err" && ok || bad "time not set: $(cat "$tmp/err")"
expect 1 S time --ntp 127.0.0.1:1
grep -q E_TIMESYNC "$tmp/err" && ok || bad "unreachable time server: $(cat "$tmp/err")"
expect 0 S time --json
[ "$(json_get server)" = "127.0.0.1:$ntp_port" ] && ok || bad "time server"
expect 1 S start --client KASSE-03
grep -q ErrorClientNotRegistered "$tmp/err" && ok || bad "unregistered client: $(cat "$tmp/err")"

# a receipt
expect 0 S start --client KASSE-01 --type " " --json
tx=$(json_get transaction_number)
expect 0 S update --client KASSE-01 --tx "$tx" --type Bestellung-V1 --data-text '1;"Kaffee";2.50'
expect 0 S open --json
python3 -c 'import json,sys; l=json.load(open(sys.argv[1])); sys.exit(0 if len(l)==1 and l[0]["client_id"]=="KASSE-01" else 1)' "$tmp/out" && ok || bad "open list"
expect 0 S finish --client KASSE-01 --tx "$tx" --type Kassenbeleg-V1 --data-text 'Beleg^2.50_0.00_0.00_0.00_0.00^2.50:Bar' --json
qr=$(json_get qr_code_data)
case $qr in "V0;KASSE-01;Kassenbeleg-V1;Beleg^2.50_0.00_0.00_0.00_0.00^2.50:Bar;$tx;"*";ecdsa-plain-SHA256;unixTime;"*) ok ;; *) bad "qr '$qr'" ;; esac
expect 1 S finish --client KASSE-01 --tx "$tx" --type Kassenbeleg-V1
grep -q ErrorNoTransaction "$tmp/err" && ok || bad "finish twice: $(cat "$tmp/err")"
expect 2 S finish --client KASSE-01 --tx abc --type X
expect 1 S start --client "KASSE_01"
grep -q "TR-03151-1 App. A" "$tmp/err" && ok || bad "clientId charset"

# the last log parses with openssl and is the Finish
expect 0 S last-log --out "$tmp/last.der"
openssl asn1parse -inform DER -in "$tmp/last.der" >"$tmp/asn1" 2>&1 && ok || bad "asn1parse"
grep -q "cont \[ 5 \]" "$tmp/asn1" && ok || bad "last log is not a transaction log"
expect 0 S selftest
expect 0 S status --json
[ "$(json_get signature_counter)" -ge 10 ] && ok || bad "counter"
[ "$(json_get time_set)" = True ] && ok || bad "time_set"

# A crash between SoftHSM2's truncate and write of token.object leaves it
# empty; the next start restores it from the guarded copy.
obj=$(ls "$tmp"/data/tokens/*/token.object | head -1)
: >"$obj"
expect 0 S start --client "KASSE 2" --json
[ -s "$obj" ] && ok || bad "token.object not restored"
# A missing token is an error, never silently replaced by an empty one.
mv "$tmp/data/tokens" "$tmp/tokens.away"
expect 1 S start --client "KASSE 2"
grep -q "missing" "$tmp/err" && ok || bad "missing token: $(cat "$tmp/err")"
rm -rf "$tmp/data/tokens" && mv "$tmp/tokens.away" "$tmp/data/tokens"

expect 0 S auth --pin 12345
expect 0 S disable
expect 1 S start --client KASSE-01
grep -q ErrorSecureElementDisabled "$tmp/err" && ok || bad "disabled: $(cat "$tmp/err")"
expect 0 S last-log --json

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
