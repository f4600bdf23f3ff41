#!/bin/bash
# make run: siegel serve with the embedded defaults, in the foreground until
# Ctrl-C. usage: scripts/run.sh BUILD/siegel DATA_DIR
# First run: creates the tenant "default" and prints its API key and secret
# (shown once; only the hash is stored). DATA_DIR/siegel.conf, if present, is
# used as the configuration (siegel serve --print-config lists every key).
set -eu
bin=${1:?usage: run.sh SIEGEL_BINARY DATA_DIR}
data=${2:?usage: run.sh SIEGEL_BINARY DATA_DIR}
mkdir -p "$data"
conf=()
[ -f "$data/siegel.conf" ] && conf=(--config "$data/siegel.conf")

tenants=$("$bin" tenant list --data "$data")
if [ -z "$tenants" ]; then
	echo "== first run: creating the tenant 'default'"
	"$bin" tenant add default --name "default tenant" --data "$data"
	echo "   (the secret is shown only now; a new one: $bin tenant rotate-secret default --data $data)"
else
	key=$(echo "$tenants" | head -n1 | awk '{print $2}')
	id=$(echo "$tenants" | head -n1 | awk '{print $1}')
	echo "== tenant: $id  api_key: $key"
	echo "   (secret shown at the first run; a new one: $bin tenant rotate-secret $id --data $data)"
fi
url="https://127.0.0.1:8443/api/v1"
cat <<EOT
== URL: $url   (OpenAPI: $url/openapi.json, metrics: https://127.0.0.1:8443/metrics)
   self-signed certificate: $data/https-cert.pem (made on first start)
   try: curl --cacert $data/https-cert.pem -X POST $url/auth \\
          -d '{"api_key":"KEY","api_secret":"SECRET"}'
== Ctrl-C stops the service gracefully
EOT
exec "$bin" serve --data "$data" "${conf[@]}"
