#!/usr/bin/env bash
# A TSS certified by another CA: siegel makes a CSR with the token key, an
# independent CA (the openssl command line) issues the leaf, siegel imports the
# chain; logs then start at counter 2 (the request used signature 1) and verify
# with the imported certificate. Wrong bundles are refused.
set -u
BIN=${SIEGEL_BIN:?}
tmp=$(mktemp -d)
pass=0
fail=0
trap 'if [ $fail -eq 0 ]; then rm -rf "$tmp"; else echo "kept $tmp" >&2; fi' EXIT
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
export SIEGEL_KDF_LOG2N=10 SIEGEL_DATA="$tmp/data"
S() { "$BIN" tse "$@"; }
cd "$tmp"

S create --admin-pin 12345 --admin-puk 123456 --time-admin-pin 12345 --time-admin-puk 123456 >/dev/null || bad create
S csr --out tss.csr && ok || bad "csr"
openssl req -in tss.csr -verify -noout 2>&1 | grep -q "verify OK" && ok || bad "csr does not verify"
S csr --out again.csr 2>err && bad "second csr accepted" || grep -q "before the first" err && ok || bad "second csr: $(cat err)"

# an independent CA made with the openssl CLI
openssl ecparam -name secp384r1 -genkey -noout -out root.key 2>/dev/null
openssl req -x509 -new -key root.key -subj "/C=DE/O=Other CA/CN=Other Root" -days 3650 -sha384 \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out root.pem
openssl ecparam -name secp384r1 -genkey -noout -out sub.key 2>/dev/null
openssl req -new -key sub.key -subj "/C=DE/O=Other CA/CN=Other Sub" -out sub.csr
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >sub.ext
openssl x509 -req -in sub.csr -CA root.pem -CAkey root.key -CAcreateserial -days 3000 -sha384 -extfile sub.ext -out sub.pem 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' >leaf.ext
openssl x509 -req -in tss.csr -CA sub.pem -CAkey sub.key -CAcreateserial -days 2000 -sha384 -extfile leaf.ext -out leaf.pem 2>/dev/null

# wrong bundles
cat leaf.pem root.pem >two.pem
S import-cert two.pem 2>err && bad "two-cert bundle accepted" || grep -q "3\|intermediate" err && ok || bad "two: $(cat err)"
cat leaf.pem root.pem sub.pem >order.pem
S import-cert order.pem 2>err && bad "wrong order accepted" || grep -q "not signed" err && ok || bad "order: $(cat err)"
openssl ecparam -name prime256v1 -genkey -noout -out other.key 2>/dev/null
openssl req -new -key other.key -subj "/CN=other" -out other.csr
openssl x509 -req -in other.csr -CA sub.pem -CAkey sub.key -CAcreateserial -days 100 -extfile leaf.ext -out other.pem 2>/dev/null
cat other.pem sub.pem root.pem >otherkey.pem
S import-cert otherkey.pem 2>err && bad "other key accepted" || ok

cat leaf.pem sub.pem root.pem >chain.pem
S import-cert chain.pem && ok || bad "import"
S auth --pin 12345 >/dev/null && S init --description X >/dev/null || bad "init"
S last-log --out first.der && ok || bad "last-log"
# authenticateUser and initialize are signatures 2 and 3: the request was 1
S status --json >st.json
python3 -c 'import json,sys; sys.exit(0 if json.load(open("st.json"))["signature_counter"] == 3 else 1)' && ok || bad "counter after csr: $(cat st.json)"
# the log verifies with the imported leaf (openssl CLI): DTBS = content before signatureValue
python3 - first.der <<'PY' && ok || bad "log does not verify with the imported certificate"
import subprocess, sys
der = open(sys.argv[1], "rb").read()
def tlv(b, i):
    t = b[i]; l = b[i + 1]; h = 2
    if l & 0x80:
        n = l & 0x7f; l = int.from_bytes(b[i + 2:i + 2 + n], "big"); h = 2 + n
    return h, l
h, l = tlv(der, 0)
i = h; last = None
while i < h + l:
    hh, ll = tlv(der, i); last = (i, hh, ll); i += hh + ll
start, hh, ll = last
open("dtbs.bin", "wb").write(der[h:start])
sig = der[start + hh:start + hh + ll]
n = len(sig) // 2
def integer(x):
    x = x.lstrip(b"\0") or b"\0"
    if x[0] & 0x80: x = b"\0" + x
    return bytes([2, len(x)]) + x
body = integer(sig[:n]) + integer(sig[n:])
open("sig.der", "wb").write(bytes([0x30, len(body)]) + body)
subprocess.run("openssl x509 -in leaf.pem -pubkey -noout > leaf.pub", shell=True, check=True)
r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", "leaf.pub", "-signature", "sig.der", "dtbs.bin"], capture_output=True)
sys.exit(0 if b"Verified OK" in r.stdout else 1)
PY
S selftest >/dev/null && ok || bad "selftest after csr"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
