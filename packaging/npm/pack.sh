#!/usr/bin/env bash
# Builds the npm packages of one platform from a promptctl binary: `@promptctl/<platform>`
# (the binary, with `os` and `cpu` so npm installs it only there) and `promptctl` (the
# launcher, depending on every platform's package as optional), both at the version of
# Cargo.toml, and packs each into a tarball in OUT.
#
# Usage: packaging/npm/pack.sh BINARY PLATFORM OUT   (PLATFORM: linux-x64, linux-arm64,
#        darwin-x64 or darwin-arm64, as node's `${process.platform}-${process.arch}`)
set -euo pipefail
binary=$1
platform=$2
out=$(mkdir -p "$3" && cd "$3" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -1)
case "$platform" in
  linux-x64|linux-arm64|darwin-x64|darwin-arm64) ;;
  *) echo "unknown platform $platform" >&2; exit 2 ;;
esac
os=${platform%-*}
cpu=${platform#*-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/platform/bin"
cp "$binary" "$work/platform/bin/promptctl"
chmod 755 "$work/platform/bin/promptctl"
cat > "$work/platform/package.json" <<JSON
{
  "name": "@promptctl/$platform",
  "version": "$version",
  "description": "The promptctl binary for $platform (installed by the promptctl package)",
  "license": "MIT OR Apache-2.0",
  "repository": { "type": "git", "url": "git+https://github.com/promptctl/promptctl.git" },
  "os": ["$os"],
  "cpu": ["$cpu"],
  "files": ["bin/promptctl"]
}
JSON

cp -R "$here/promptctl" "$work/main"
node -e '
  const fs = require("fs");
  const file = process.argv[1], version = process.argv[2];
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
  pkg.version = version;
  for (const name of Object.keys(pkg.optionalDependencies)) pkg.optionalDependencies[name] = version;
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
' "$work/main/package.json" "$version"
chmod 755 "$work/main/bin/promptctl.js"

(cd "$work/platform" && npm pack --silent --pack-destination "$out" > /dev/null)
(cd "$work/main" && npm pack --silent --pack-destination "$out" > /dev/null)
ls "$out"/*.tgz
