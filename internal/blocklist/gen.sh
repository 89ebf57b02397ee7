#!/usr/bin/env bash
# Regenerates passwords.txt from the npm package @zxcvbn-ts/language-common
# (MIT). Needs npm and node.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent @zxcvbn-ts/language-common@4.1.3 >/dev/null && tar xzf ./*.tgz)
node -e 'const d=require(process.argv[1]); process.stdout.write(d.join("\n")+"\n")' \
  "$tmp/package/src/passwords.json" > passwords.txt
wc -l passwords.txt
