#!/usr/bin/env bash
# Downloads the released promptctl binary for this runner and checks its SHA-256 against
# the checksum file published beside it. Prints `downloaded=true` (the binary is in
# $HOME/.promptctl-action/bin) or `downloaded=false` with the reason on stderr, for the
# Action to fall back to building it; it never installs a binary whose checksum differs.
#
# PROMPTCTL_RELEASE_URL overrides where releases are read (a mirror, a test's server).
set -euo pipefail
cd "$(dirname "$0")/../.."
give_up() { echo "promptctl action: $1; building promptctl instead" >&2; echo "downloaded=false"; exit 0; }

case "${RUNNER_OS:-$(uname -s)}-${RUNNER_ARCH:-$(uname -m)}" in
  Linux-X64 | Linux-x86_64) target=x86_64-unknown-linux-gnu ;;
  Linux-ARM64 | Linux-aarch64) target=aarch64-unknown-linux-gnu ;;
  macOS-ARM64 | Darwin-arm64) target=aarch64-apple-darwin ;;
  macOS-X64 | Darwin-x86_64) target=x86_64-apple-darwin ;;
  *) give_up "no released binary for ${RUNNER_OS:-?}-${RUNNER_ARCH:-?}" ;;
esac
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
base="${PROMPTCTL_RELEASE_URL:-https://github.com/${GITHUB_ACTION_REPOSITORY:-promptctl/promptctl}/releases/download}"
asset="promptctl-${target}.tar.gz"
url="$base/v$version/$asset"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch() { curl -fsSL --retry 2 --connect-timeout 10 --max-time 120 -o "$2" "$1"; }
fetch "$url" "$work/$asset" || give_up "cannot download $url"
fetch "$url.sha256" "$work/$asset.sha256" || give_up "cannot download $url.sha256"
want=$(cut -d' ' -f1 < "$work/$asset.sha256")
if command -v sha256sum > /dev/null; then
  got=$(sha256sum "$work/$asset" | cut -d' ' -f1)
else
  got=$(shasum -a 256 "$work/$asset" | cut -d' ' -f1)
fi
[ -n "$want" ] && [ "$got" = "$want" ] || give_up "the checksum of $asset is $got, not $want"
mkdir -p "$HOME/.promptctl-action/bin"
tar -xzf "$work/$asset" -C "$work"
install -m 0755 "$work/promptctl" "$HOME/.promptctl-action/bin/promptctl"
echo "promptctl action: installed promptctl $version for $target (checksum verified)" >&2
echo "downloaded=true"
