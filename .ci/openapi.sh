#!/usr/bin/env bash
# Validates the OpenAPI document the gateway really serves: starts
# `serve --sandbox` on a free port with a throwaway data directory, fetches
# /openapi.json and runs openapi-spec-validator (OpenAPI 3.1) over it.
# Needs the binary built (target/debug/fansly-gateway) and the validator
# installed (.ci/run pins it).
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${FANSLY_GATEWAY_BIN:-target/debug/fansly-gateway}"
[ -x "$bin" ] || cargo build -p fansly-gateway --bin fansly-gateway
data="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$bin" --data-dir "$data" serve --sandbox --listen "127.0.0.1:$port" >"$data/serve.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT

for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$port/openapi.json" -o "$data/openapi.json"; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$data/serve.log"; echo "the gateway exited"; exit 1; fi
  sleep 0.2
done
[ -s "$data/openapi.json" ] || { cat "$data/serve.log"; echo "no /openapi.json"; exit 1; }
python3 - "$data/openapi.json" <<'PY'
import json, sys
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
doc = json.load(open(sys.argv[1]))
assert doc.get("openapi", "").startswith("3.1"), doc.get("openapi")
validate(doc, cls=OpenAPIV31SpecValidator)
print(f"openapi.json: valid OpenAPI {doc['openapi']}, {len(doc['paths'])} paths")
PY
