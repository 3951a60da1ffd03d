#!/usr/bin/env bash
# Regenerates the Go code of every .proto under protos/. Needs protoc
# (Debian's protobuf-compiler); installs the Go plugins if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"
command -v protoc >/dev/null && [ -f /usr/include/google/protobuf/empty.proto ] || {
  echo "protoc or its well-known types missing: apt-get install -y protobuf-compiler libprotobuf-dev" >&2; exit 1; }
command -v protoc-gen-go >/dev/null || go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
command -v protoc-gen-go-ttrpc >/dev/null || go install github.com/containerd/ttrpc/cmd/protoc-gen-go-ttrpc@v1.2.9
find protos -name '*.proto' -print0 | while IFS= read -r -d '' f; do
  args=(--proto_path=protos --go_out=protos --go_opt=paths=source_relative)
  if grep -q '^service ' "$f"; then
    args+=(--go-ttrpc_out=protos --go-ttrpc_opt=paths=source_relative)
  fi
  protoc "${args[@]}" "${f#protos/}"
done
