#!/usr/bin/env bash
# Installs the Debian 12 packages siegel needs to build, run and test, but
# only those that are missing. Non-interactive; needs root (or sudo).
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config git ca-certificates openssl tar
  libssl-dev libsqlite3-dev sqlite3 libjansson-dev libp11-kit-dev
  softhsm2 opensc chrony
  libmicrohttpd-dev libgnutls28-dev gnutls-bin libqpdf-dev qpdf libxml2-dev libxslt1-dev
  zlib1g-dev libcurl4-openssl-dev curl poppler-utils xsltproc libxml2-utils
  chromium
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "siegel: installing missing Debian packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Do not let package scripts start daemons (chrony) on this machine.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  made_policy=1
fi
trap '[ $made_policy -eq 1 ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
