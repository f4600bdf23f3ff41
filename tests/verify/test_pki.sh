#!/usr/bin/env bash
# siegel verify against a fresh test PKI made here with the openssl CLI:
# root -> intermediate -> signers (good P-256, expired, revoked, RSA-1024 with
# SHA-1), a self-signed signer, a foreign hierarchy, an OCSP responder
# certificate. Signatures by `openssl cms -sign`. A real `openssl ocsp`
# responder on 127.0.0.1 (free port, started and killed here, bounded time)
# answers for the intermediate. Also: store add, the report schema, xsltproc,
# extend-report, and the HTML in headless Chromium (screenshot).
set -u
BIN=${SIEGEL_BIN:?}
SRC=${SIEGEL_SRC:?}
T=$(mktemp -d "${TMPDIR:-/tmp}/siegel-pki-XXXXXX")
fails=0
checks=0
OCSP_PID=
cleanup() {
  if [ -n "$OCSP_PID" ]; then kill "$OCSP_PID" 2>/dev/null; wait "$OCSP_PID" 2>/dev/null; fi
  if [ $fails -eq 0 ] && [ -z "${SIEGEL_KEEP_TMP:-}" ]; then rm -rf "$T"; else echo "kept $T"; fi
}
trap cleanup EXIT
check() { # check NAME WANT GOT
  checks=$((checks+1))
  if [ "$2" != "$3" ]; then fails=$((fails+1)); echo "FAIL $1: got $3, want $2"; else echo "ok   $1 ($3)"; fi
}
need() { command -v "$1" >/dev/null || { echo "FAIL: $1 is not installed (scripts/deps.sh)"; exit 1; }; }
need openssl; need xmllint; need xsltproc; need qpdf; need python3

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cd "$T" || exit 1
mkdir -p db && : > db/index.txt && echo 1000 > db/serial
cat > ca.cnf <<EOF
[ ca ]
default_ca = CA
[ CA ]
dir = $T
database = \$dir/db/index.txt
serial = \$dir/db/serial
new_certs_dir = \$dir/db
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
default_days = 3650
[ any ]
countryName = optional
organizationName = optional
commonName = supplied
[ root_ext ]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ ca_ext ]
basicConstraints = critical,CA:true,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ signer_ext ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
authorityInfoAccess = OCSP;URI:http://127.0.0.1:$PORT
[ ocsp_ext ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = OCSPSigning
noCheck = ignored
EOF
q() { "$@" >/dev/null 2>&1 || { echo "FAIL: $*"; "$@"; exit 1; }; }
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
q ec root.key
q openssl req -new -x509 -key root.key -subj "/C=DE/O=siegel test/CN=Fresh Root" -days 3650 \
  -config ca.cnf -extensions root_ext -out root.crt
q ec int.key
q openssl req -new -key int.key -subj "/C=DE/O=siegel test/CN=Fresh Intermediate" -out int.csr
q openssl ca -batch -config ca.cnf -cert root.crt -keyfile root.key -extensions ca_ext -notext \
  -in int.csr -out int.crt
issue() { # issue NAME KEYSPEC [ca options]
  local n=$1 spec=$2; shift 2
  if [ "$spec" = rsa1024 ]; then q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out $n.key
  else q ec $n.key; fi
  q openssl req -new -key $n.key -subj "/C=DE/O=siegel test/CN=Fresh $n" -out $n.csr
  q openssl ca -batch -config ca.cnf -cert int.crt -keyfile int.key -extensions signer_ext -notext \
    -in $n.csr -out $n.crt "$@"
}
issue good ec
issue expired ec -startdate 20200101000000Z -enddate 20210101000000Z
issue revoked ec
issue weak rsa1024 -md sha1
q openssl ca -batch -config ca.cnf -cert int.crt -keyfile int.key -revoke revoked.crt -crl_reason keyCompromise
q ec ocsp.key
q openssl req -new -key ocsp.key -subj "/C=DE/O=siegel test/CN=Fresh OCSP" -out ocsp.csr
q openssl ca -batch -config ca.cnf -cert int.crt -keyfile int.key -extensions ocsp_ext -notext \
  -in ocsp.csr -out ocsp.crt
q ec self.key
q openssl req -new -x509 -key self.key -subj "/C=DE/O=siegel test/CN=Fresh self-signed" -days 365 \
  -addext "keyUsage=critical,digitalSignature" -out self.crt
q ec forroot.key
q openssl req -new -x509 -key forroot.key -subj "/CN=Foreign Root" -days 3650 -config ca.cnf \
  -extensions root_ext -out forroot.crt
q ec foreign.key
q openssl req -new -key foreign.key -subj "/CN=Foreign signer" -out foreign.csr
q openssl x509 -req -in foreign.csr -CA forroot.crt -CAkey forroot.key -CAcreateserial -days 365 -out foreign.crt

printf 'Rechnung 4711 - siegel test document\n' > doc.txt
sign() { # sign NAME OUT [extra]
  local n=$1 out=$2; shift 2
  q openssl cms -sign -binary -in doc.txt -signer $n.crt -inkey $n.key -certfile int.crt \
    -outform DER -out $out "$@"
}
sign good good.p7s -md sha256
sign good good.p7m -md sha256 -nodetach
sign expired expired.p7s -md sha256
sign revoked revoked.p7s -md sha256
sign weak weak.p7s -md sha1
q openssl cms -sign -binary -in doc.txt -signer self.crt -inkey self.key -outform DER -out self.p7s
q openssl cms -sign -binary -in doc.txt -signer foreign.crt -inkey foreign.key -certfile forroot.crt \
  -outform DER -out foreign.p7s
openssl base64 -in good.p7s -out good.p7s.b64
sed 's/4711/4712/' doc.txt > tampered.txt

# --- store add: only certificates whose chain validates ---
STORE=$T/store
"$BIN" store add root.crt --store "$STORE" >/dev/null; check "store add root (self-signed)" 0 $?
"$BIN" store add foreign.crt --store "$STORE" >/dev/null 2>&1; check "store add foreign signer refused" 1 $?
"$BIN" store add int.crt --store "$STORE" >/dev/null; check "store add intermediate (chain validates)" 0 $?
check "store holds two certificates" 2 "$(ls "$STORE" | wc -l)"
"$BIN" store add root.crt --store "$STORE" >/dev/null; check "store add again is a no-op" 0 $?
"$BIN" store add doc.txt --store "$STORE" >/dev/null 2>&1; check "store add of a non-certificate" 1 $?
chmod 0555 "$STORE"
fingerprint() { (stat -c '%Y %Z %s %a' "$STORE"; ls -l --time-style=full-iso "$STORE"; cat "$STORE"/*) | md5sum; }
before=$(fingerprint)

# --- OCSP responder (openssl 3.0 binds the port on all addresses; the client
# uses 127.0.0.1), bounded: at most 60 requests and 120 s, killed at exit ---
timeout 120 openssl ocsp -index db/index.txt -CA int.crt -rsigner ocsp.crt -rkey ocsp.key \
  -port "$PORT" -nrequest 60 >ocsp.log 2>&1 &
OCSP_PID=$!
for i in $(seq 1 50); do
  grep -q 'waiting for OCSP client' ocsp.log 2>/dev/null && break
  sleep 0.1
done

v() { # v WANT NAME args...
  local want=$1 name=$2; shift 2
  timeout 60 "$BIN" verify "$@" --store "$STORE" --quiet; check "$name" "$want" $?
}
v 0   "openssl cms -sign, OCSP good"            good.p7s doc.txt --report good.xml
v 0   "enveloping .p7m"                        good.p7m --no-ocsp
v 0   "base64 input"                            good.p7s.b64 doc.txt --no-ocsp
v 104 "revoked signer via OCSP responder"      revoked.p7s doc.txt --report revoked.xml
v 0   "revoked signer without OCSP"            revoked.p7s doc.txt --no-ocsp
v 105 "unreachable OCSP responder"             good.p7s doc.txt --ocsp-url "http://127.0.0.1:$DEAD/" --ocsp-timeout 5
v 104 "expired signer"                          expired.p7s doc.txt --no-ocsp
v 103 "self-signed signer"                      self.p7s doc.txt --no-ocsp
v 102 "unknown issuer"                          foreign.p7s doc.txt --no-ocsp
v 107 "tampered document"                       good.p7s tampered.txt --no-ocsp
v 0   "SHA-1 + RSA-1024 verifies"               weak.p7s doc.txt --no-ocsp --report weak.xml
q qpdf --empty unsigned.pdf
v 111 "unsigned PDF"                            unsigned.pdf --no-ocsp
cp doc.txt text.pdf
v 112 "text file as PDF"                        text.pdf --no-ocsp
v 108 "missing file"                            missing.pdf --no-ocsp --report missing.xml
v 108 "missing data file"                       good.p7s missing.txt --no-ocsp
printf 'MIAGCSqGSIb3DQEHAqCAMIACAQEx!!*~\n' > bad.b64
v 109 "bad base64"                              bad.b64 doc.txt --no-ocsp
grep -q 'Status="good"' good.xml; check "report: OCSP good" 0 $?
grep -q 'Status="revoked"' revoked.xml; check "report: OCSP revoked" 0 $?

after=$(fingerprint)
check "the verifier did not write to the store" "$before" "$after"

# --- report schema, XSLT, extend-report ---
for r in good.xml revoked.xml weak.xml missing.xml; do
  xmllint --noout --schema "$SRC/docs/report.xsd" $r 2>/dev/null; check "$r validates against report.xsd" 0 $?
done
"$BIN" extend-report -r weak.xml --at 2026-01-01T00:00:00Z 2>/dev/null; check "extend-report flags SHA-1/RSA-1024" 10 $?
grep -q '<SuitableNow>0</SuitableNow>' weak.xml; check "weak: SuitableNow=0" 0 $?
grep -A2 'Name="SHA-1"' weak.xml | grep -q '<AtSignDate>0</AtSignDate>'; check "weak: SHA-1 unsuitable at signing time" 0 $?
grep -q 'Value="1024"' weak.xml; check "weak: RSA modulus 1024 evaluated" 0 $?
xmllint --noout --schema "$SRC/docs/report.xsd" weak.xml 2>/dev/null; check "extended report validates" 0 $?
cp good.xml good-ext.xml
"$BIN" extend-report -r good-ext.xml --at 2026-01-01T00:00:00Z; check "extend-report: P-256/SHA-256 suitable" 0 $?
# RSA-2048 conflict: SOG-IS/BNetzA end 2025, ETSI end 2028 -> unsuitable in 2026
sed 's#<dssc:NextUpdate>[^<]*</dssc:NextUpdate>#<dssc:NextUpdate>2020-01-01T00:00:00Z</dssc:NextUpdate>#' \
  "$SRC/share/catalogue.xml" > stale.xml
"$BIN" extend-report -r good-ext.xml --catalogue stale.xml -o stale-out.xml 2> stale.err
check "stale catalogue still evaluates" 0 $?
grep -q 'out of date' stale.err; check "stale catalogue: warning on stderr" 0 $?
grep -q '<Warning>' stale-out.xml; check "stale catalogue: warning in the report" 0 $?

xsltproc "$SRC/share/report.xslt" good-ext.xml > good-xslt.html 2>/dev/null; check "xsltproc runs" 0 $?
grep -q 'CN=Fresh good' good-xslt.html; check "HTML names the signer" 0 $?
grep -q 'fseOk' good-xslt.html; check "HTML shows the result" 0 $?
grep -q 'class="ok' good-xslt.html; check "HTML colour-codes results" 0 $?
timeout 60 "$BIN" verify weak.p7s doc.txt --store "$STORE" --no-ocsp --quiet --html weak.html --share "$SRC/share"
check "verify --html" 0 $?
grep -q 'CN=Fresh weak' weak.html; check "verify --html names the signer" 0 $?

# --- headless Chromium screenshot of the HTML ---
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
  fails=$((fails+1)); echo "FAIL: chromium is not installed (scripts/deps.sh installs it)"
else
  cp good-xslt.html page.html
  timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$T/chrome" --screenshot="$T/report.png" --window-size=1200,900 \
    "file://$T/page.html" >chrome.log 2>&1
  check "chromium exit status" 0 $?
  sz=$(stat -c %s report.png 2>/dev/null || echo 0)
  checks=$((checks+1))
  if [ "$sz" -gt 1000 ] && head -c 8 report.png | grep -q PNG; then echo "ok   screenshot report.png ($sz bytes)"
  else fails=$((fails+1)); echo "FAIL screenshot missing or empty ($sz bytes)"; cat chrome.log; fi
fi

echo "$((checks-fails)) passed, $fails failed"
[ $fails -eq 0 ]
