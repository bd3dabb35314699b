#!/usr/bin/env bash
# Before `npm test`, side by side: the emulator's Python venv (local/emulator/setup.ts, mostly downloads on a
# first run), the IaC scanners' venv (scripts/iac/setup.ts, likewise), the pinned OPA CLI (scripts/ensure-opa.sh: minutes of compiling on a first run with cold Go caches,
# 2-3 s when they are warm, nothing when .tools/bin/opa already has the pinned version), and lint + typecheck + unused exports (knip).
# Fails if the venv, lint or typecheck fails; a failed OPA build only skips the two OPA build tests.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

bash scripts/ensure-opa.sh &
opa=$!
node local/emulator/setup.ts &
venv=$!
node scripts/iac/setup.ts &
iac=$!
status=0
npm run --silent lint && npm run --silent typecheck && npm run --silent lint:unused || status=1
wait "${venv}" || status=1
wait "${iac}" || status=1
wait "${opa}"
exit "${status}"
