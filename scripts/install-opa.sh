#!/usr/bin/env bash
# Installs a pinned, released OPA CLI into <project>/.tools/bin/opa for the project's own Rego build
# (scripts/build-rego.ts) and tests. Built from source with the Go toolchain via the Go module proxy, so
# the version is exactly the tag below and its go.sum checksum is verified by the Go checksum database.
# Idempotent: does nothing if the pinned version is already installed. Takes several minutes on 2 cores.
set -euo pipefail

OPA_VERSION="${OPA_VERSION:-v1.22.4}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${ROOT}/.tools/bin"
OPA="${BIN_DIR}/opa"

if [[ -x "${OPA}" ]] && "${OPA}" version 2>/dev/null | grep -qx "Version: ${OPA_VERSION#v}"; then
  echo "opa ${OPA_VERSION} already installed at ${OPA}"
  exit 0
fi

command -v go >/dev/null || { echo "install-opa: Go toolchain not found (need go >= 1.24)" >&2; exit 1; }

mkdir -p "${BIN_DIR}"
# CGO off: a static binary that does not depend on the host libc; GOFLAGS keeps a dirty VCS state out of it.
# -p 2 so the build does not starve the other processes sharing the machine.
echo "install-opa: building github.com/open-policy-agent/opa@${OPA_VERSION} into ${BIN_DIR} (several minutes)"
CGO_ENABLED=0 GOBIN="${BIN_DIR}" GOFLAGS="-buildvcs=false" \
  go install -p 2 -trimpath "github.com/open-policy-agent/opa@${OPA_VERSION}"

"${OPA}" version | head -1
