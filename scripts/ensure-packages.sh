#!/usr/bin/env bash
# Usage: ensure-packages.sh cmd:debian-package ...
# Installs each Debian package whose command is missing, when running as root.
set -euo pipefail
missing=()
for pair in "$@"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "trellis: missing Debian packages: ${missing[*]} — run 'sudo apt-get install ${missing[*]}' (or run make as root)" >&2
  exit 1
fi
echo "trellis: installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
  || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
