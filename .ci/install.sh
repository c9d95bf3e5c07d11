#!/usr/bin/env bash
# Installs the packages the tests need on a fresh machine. Lists live beside this file:
# packages.apt (Debian) and requirements.txt (PyPI).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

mapfile -t apt < <(grep -v '^\s*#' "$here/packages.apt" | grep -v '^\s*$')
missing=()
for p in "${apt[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
