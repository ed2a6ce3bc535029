#!/usr/bin/env bash
# Build the Docker Compose v5 client from the Go module proxy (pinned by go.mod/go.sum here), once,
# into a cache: Debian's docker-compose (v1) is too old for our compose files, and no Docker engine is
# needed to validate them (`docker-compose config -q`). Prints the client's path.
set -euo pipefail
cd "$(dirname "$0")"
out="${AUTOLOADER_TOOLS_DIR:-$HOME/.cache/autoloader/bin}/docker-compose"
if [ ! -x "$out" ]; then
    mkdir -p "$(dirname "$out")"
    go build -trimpath -o "$out.tmp" github.com/docker/compose/v5/cmd >&2
    mv "$out.tmp" "$out"
fi
echo "$out"
