#!/usr/bin/env bash
# Install what hearth needs on Debian 12 (only what is missing), using sudo
# when not root. Used by packaging/quickstart.sh and tests/run.sh.
#   usage: packaging/setup-debian.sh [--test]   (--test adds test tools)
set -euo pipefail

pkgs=(gcc pkg-config meson ninja-build
      libsecp256k1-dev libwebsockets-dev liblmdb-dev libsodium-dev
      libjansson-dev libssl-dev libcurl4-openssl-dev ca-certificates)
if [ "${1:-}" = "--test" ]; then
    # clang + compiler-rt: libFuzzer targets; node/npm: nostr-tools interop
    pkgs+=(clang libclang-rt-14-dev)
    command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)
    # openssl: test certificates for the wss:// pool tests
    pkgs+=(openssl)
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "hearth: installing ${missing[*]}" >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
