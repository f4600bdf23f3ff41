#!/bin/bash
# siegel sign file|batch|route run|job status|abort|recover end to end: a SoftHSM2
# token made with softhsm2-util/pkcs11-tool, a certificate for the token key
# issued with the openssl CLI, PINs from --pin-fd; outputs checked with pdfsig
# and openssl cms.
set -u
BIN=${SIEGEL_BIN:?}
SHARED=${SIEGEL_SHARED:?}
M=/usr/lib/softhsm/libsofthsm2.so
T=$(mktemp -d /tmp/siegel-sign-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
check() { # check "what" command...
	local what=$1; shift
	if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

mkdir -p "$T/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$T" \
	> "$T/softhsm2.conf"
export SOFTHSM2_CONF=$T/softhsm2.conf
softhsm2-util --init-token --free --label cli --pin 73914628 --so-pin 876573914628 >/dev/null
pkcs11-tool --module $M --token-label cli --login --pin 73914628 --keypairgen \
	--key-type EC:prime256v1 --label signer --id 01 >/dev/null 2>&1
pkcs11-tool --module $M --token-label cli --read-object --type pubkey --id 01 \
	-o "$T/pub.der" >/dev/null 2>&1
openssl pkey -pubin -inform DER -in "$T/pub.der" -out "$T/pub.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca.key" \
	-out "$T/ca.pem" -subj "/C=DE/CN=CLI Test CA" -days 30 \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/x.key" \
	-subj "/C=DE/CN=CLI Signer" -out "$T/s.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n' \
	> "$T/leaf.ext"
openssl x509 -req -in "$T/s.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
	-force_pubkey "$T/pub.pem" -extfile "$T/leaf.ext" -days 10 -out "$T/signer.pem" 2>/dev/null

mkdir -p "$T/in"
cp "$SHARED/testdata/signatures/pdf/generated/unsigned.pdf" "$T/in/Dokument1.pdf"
cp "$SHARED/testdata/signatures/pdf/node-signpdf/w3dummy.pdf" "$T/in/Dokument2.pdf"
echo "Rechnung 4711" > "$T/in/Rechnung.txt"
chmod u+w "$T/in"/*
COMMON=(--data "$T/data" --module $M --token cli --key signer --cert "$T/signer.pem"
	--trust "$T/ca.pem" --pin-fd 0 --yes)

# batch: one PIN for three documents (n = 5)
printf '73914628\n' | "$BIN" sign batch "$T/in" "${COMMON[@]}" --out "$T/out" --per-auth 5 --json \
	> "$T/r.json"
check "batch exit 0" test $? -eq 0
check "batch DONE" grep -q '"state": *"DONE"' "$T/r.json"
check "batch one PIN entry" grep -q '"pin_asks": *1' "$T/r.json"
for f in Dokument1 Dokument2; do
	check "$f pdfsig valid" bash -c "pdfsig -nocert '$T/out/$f.signiert.pdf' | grep -q 'Signature is Valid'"
	check "$f whole document" bash -c "pdfsig -nocert '$T/out/$f.signiert.pdf' | grep -q 'Total document signed'"
	check "$f qpdf --check" qpdf --check "$T/out/$f.signiert.pdf" >/dev/null
	check "$f prefix" cmp -n "$(stat -c %s "$T/in/$f.pdf")" "$T/in/$f.pdf" "$T/out/$f.signiert.pdf"
done
check "p7s verifies" openssl cms -verify -binary -inform DER -in "$T/out/Rechnung.txt.p7s" \
	-content "$T/in/Rechnung.txt" -CAfile "$T/ca.pem" -purpose any -out /dev/null 2>/dev/null
NUM=$(sed -n 's/.*"number": *"\([A-Z0-9]*\)".*/\1/p' "$T/r.json")
check "job number" test ${#NUM} -eq 6
"$BIN" sign job status "$NUM" --data "$T/data" --json > "$T/s.json"
check "job status DONE" grep -q '"state": *"DONE"' "$T/s.json"
check "abort of an ended job fails" bash -c "! '$BIN' sign job abort '$NUM' --data '$T/data' 2>/dev/null"

# file: n = 1 asks per document; a wrong PIN three times signs nothing
printf 'falsch\nfalsch\nfalsch\n' | "$BIN" sign file "$T/in/Dokument1.pdf" "$T/in/Rechnung.txt" \
	"${COMMON[@]}" --out "$T/out2" > "$T/w.txt" 2>&1
check "wrong PIN exit 1" test $? -eq 1
check "wrong PIN message" grep -q "wrong PIN" "$T/w.txt"
check "wrong PIN: no output" test -z "$(ls -A "$T/out2")"
printf '73914628\n73914628\n' | "$BIN" sign file "$T/in/Dokument1.pdf" "$T/in/Rechnung.txt" \
	"${COMMON[@]}" --out "$T/out3" --json > "$T/f.json"
check "file n=1: two PIN entries" grep -q '"pin_asks": *2' "$T/f.json"
check "file outputs" test -f "$T/out3/Dokument1.signiert.pdf" -a -f "$T/out3/Rechnung.txt.p7s"

# PAdES B-T and CAdES with a time stamp from an RFC 3161 TSA over HTTP on
# loopback (the TSA of tests/sign/test_tsa_http.c, OpenSSL's TS functions)
TSA_BIN=$(dirname "$BIN")/sign_test_tsa_http
exec 7> >("$TSA_BIN" --serve "$T/tsa.port")
for _ in $(seq 50); do [ -s "$T/tsa.port" ] && break; sleep 0.1; done
TSA_PORT=$(cat "$T/tsa.port" 2>/dev/null)
check "TSA up" test -n "$TSA_PORT"
printf '73914628\n' | "$BIN" sign file "$T/in/Dokument1.pdf" "$T/in/Rechnung.txt" "${COMMON[@]}" \
	--per-auth 2 --tsa "http://127.0.0.1:$TSA_PORT/tsa" --out "$T/outbt" > "$T/bt.txt" 2>&1
check "B-T exit 0" test $? -eq 0
check "B-T pdfsig valid" bash -c "pdfsig -nocert '$T/outbt/Dokument1.signiert.pdf' | grep -q 'Signature is Valid'"
(cd "$T/outbt" && pdfsig -nocert -dump Dokument1.signiert.pdf >/dev/null 2>&1)
check "B-T time-stamp token in the PDF" bash -c "openssl cms -cmsout -print -inform DER \
	-in '$T/outbt/Dokument1.signiert.pdf.sig0' | grep -q id-smime-aa-timeStampToken"
check "B-T time-stamp token in the .p7s" bash -c "openssl cms -cmsout -print -inform DER \
	-in '$T/outbt/Rechnung.txt.p7s' | grep -q id-smime-aa-timeStampToken"
check "B-T .p7s verifies" openssl cms -verify -binary -inform DER -in "$T/outbt/Rechnung.txt.p7s" \
	-content "$T/in/Rechnung.txt" -CAfile "$T/ca.pem" -purpose any -out /dev/null
# a TSA that is not there: nothing is signed
printf '73914628\n' | "$BIN" sign file "$T/in/Dokument1.pdf" "${COMMON[@]}" \
	--tsa "http://127.0.0.1:1/tsa" --out "$T/outbt2" > "$T/bt2.txt" 2>&1
check "no TSA: exit 1" test $? -eq 1
check "no TSA: message" grep -q "TSA http://127.0.0.1:1/tsa" "$T/bt2.txt"
check "no TSA: no output" test -z "$(ls -A "$T/outbt2" 2>/dev/null)"
exec 7>&-

# the audit trail: verified, its head printed; a recorded head is checked
"$BIN" sign audit verify --data "$T/data" --json > "$T/a.json"
check "audit verify exit 0" test $? -eq 0
check "audit verify ok" grep -q '"result": *"ok"' "$T/a.json"
ENTRIES=$(sed -n 's/.*"entries": *\([0-9]*\).*/\1/p' "$T/a.json")
HEAD=$(sed -n 's/.*"head": *"\([0-9a-f]*\)".*/\1/p' "$T/a.json")
check "audit entries" test "${ENTRIES:-0}" -ge 5
"$BIN" sign audit verify --data "$T/data" --head "$ENTRIES:$HEAD" > "$T/a.txt" 2>&1
check "audit recorded head" grep -q "recorded head still there" "$T/a.txt"
BAD=$(printf '%s' "$HEAD" | sed 's/^./0/;t'; true)
[ "$BAD" = "$HEAD" ] && BAD=$(printf '%s' "$HEAD" | sed 's/^./1/')
"$BIN" sign audit verify --data "$T/data" --head "$ENTRIES:$BAD" > "$T/a2.txt" 2>&1
check "audit wrong head exit 1" test $? -eq 1
check "audit wrong head message" grep -q "not the one recorded" "$T/a2.txt"
"$BIN" sign audit verify --data "$T/data" --head "$((ENTRIES + 3)):$HEAD" > "$T/a3.txt" 2>&1
check "audit head beyond the end" grep -q "newest entries were removed" "$T/a3.txt"
check "audit bad --head exit 2" bash -c "'$BIN' sign audit verify --data '$T/data' --head 12 2>/dev/null; test \$? -eq 2"

# PDF only: a text file is rejected before anything is signed
printf '73914628\n' | "$BIN" sign file "$T/in/Rechnung.txt" "${COMMON[@]}" --format pades \
	--out "$T/out4" > "$T/p.txt" 2>&1
check "pades rejects non-PDF" grep -q "not a PDF" "$T/p.txt"

# route run: files of the route's format, originals leave the inbox
mkdir -p "$T/rin" "$T/rout"
cp "$T/in/Dokument1.pdf" "$T/rin/A.pdf"; cp "$T/in/Dokument2.pdf" "$T/rin/B.pdf"
cp "$T/in/Rechnung.txt" "$T/rin/C.txt"
cat > "$T/routes.conf" <<EOF
[route eingang]
inbox = $T/rin
outbox = $T/rout
format = pdf
module = $M
token = cli
key = signer
cert = $T/signer.pem
trust = $T/ca.pem
infix = .signiert
per_auth = 10
EOF
printf '73914628\n' | "$BIN" sign route run eingang --config "$T/routes.conf" --data "$T/data" \
	--pin-fd 0 --yes > "$T/route.txt" 2>&1
check "route exit 0" test $? -eq 0
check "route outputs" test -f "$T/rout/A.signiert.pdf" -a -f "$T/rout/B.signiert.pdf"
check "route leaves the .txt" test -f "$T/rin/C.txt" -a ! -f "$T/rin/A.pdf"

# our own signatures pass our own verifier (issue 7): the CA goes into a
# qualified store, then every output of the batch above verifies with 0
check "store add CA" "$BIN" store add "$T/ca.pem" --store "$T/qstore"
for f in Dokument1 Dokument2; do
	check "$f: siegel verify 0" "$BIN" verify "$T/out/$f.signiert.pdf" --store "$T/qstore" --no-ocsp \
		--report "$T/$f.xml"
	check "$f: report says valid" grep -q '<Signatures Error="0"' "$T/$f.xml"
done
check "p7s: siegel verify 0" "$BIN" verify "$T/out/Rechnung.txt.p7s" "$T/in/Rechnung.txt" \
	--store "$T/qstore" --no-ocsp
echo "Rechnung 4712" > "$T/other.txt"
"$BIN" verify "$T/out/Rechnung.txt.p7s" "$T/other.txt" --store "$T/qstore" --no-ocsp >/dev/null 2>&1
check "p7s with other content: 107" test $? -eq 107

# killed in the middle: the first document staged, the process waiting for
# the second PIN (n = 1) gets SIGKILL; job recover cleans up and records it
mkfifo "$T/pins"
"$BIN" sign file "$T/in/Dokument1.pdf" "$T/in/Rechnung.txt" --data "$T/data" --module $M \
	--token cli --key signer --cert "$T/signer.pem" --trust "$T/ca.pem" --yes --pin-fd 3 \
	--out "$T/out4" 3<"$T/pins" >/dev/null 2>&1 &
KPID=$!
exec 4>"$T/pins"
printf '73914628\n' >&4
for _ in $(seq 200); do
	ls "$T/out4"/.siegel-staging-*/Dokument1.signiert.pdf >/dev/null 2>&1 && break
	sleep 0.05
done
kill -9 $KPID
wait $KPID 2>/dev/null
exec 4>&-
KDIR=$(ls -d "$T/out4"/.siegel-staging-* 2>/dev/null | head -1)
check "killed job left its staging" test -n "$KDIR"
KNUM=$(basename "$KDIR" | sed -n 's/^\.siegel-staging-\([A-Z0-9]*\)-.*/\1/p')
"$BIN" sign job status "$KNUM" --data "$T/data" > "$T/ks0.txt"
check "status: running, process ended" grep -q "state RUNNING" "$T/ks0.txt"
check "status: recover hint" grep -q "siegel sign job recover --out .*out4" "$T/ks0.txt"
"$BIN" sign job recover --out "$T/out4" --data "$T/data" --json > "$T/rec.json"
check "recover exit 0" test $? -eq 0
check "recover: one job" grep -q '"recovered": *1' "$T/rec.json"
check "recover: nothing left" test -z "$(ls -A "$T/out4")"
"$BIN" sign job status "$KNUM" --data "$T/data" --json > "$T/ks.json"
check "killed job FAILED" grep -q '"state": *"FAILED"' "$T/ks.json"
check "killed job: process_ended false now" grep -q '"process_ended": *false' "$T/ks.json"
check "killed job interrupted" grep -q 'interrupted' "$T/ks.json"
"$BIN" sign job recover --out "$T/out4" --data "$T/data" > "$T/rec2.txt"
check "recover again: nothing" grep -q '^0 ended jobs' "$T/rec2.txt"

# nothing of the PIN in the data directory
check "PIN not in the store" bash -c "! grep -rqa '73914628' '$T/data'"

echo "$fails failed"
exit $fails
