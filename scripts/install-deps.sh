#!/usr/bin/env bash
# Installs the Debian packages tspipe builds and runs with, only those that are missing.
# Used by both quick-start commands so a fresh machine needs nothing else.
set -euo pipefail
packages=(cmake g++ make ninja-build pkg-config doctest-dev libopenblas-dev zlib1g-dev nlohmann-json3-dev
          libturbojpeg0-dev libpng-dev dataset-fashion-mnist libopenmpi-dev openmpi-bin)
packages+=("$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "tspipe: installing missing packages: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
