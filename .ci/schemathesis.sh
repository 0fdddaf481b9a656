#!/usr/bin/env bash
# openapi-spec-validator, then Schemathesis (both from PyPI), against the
# running server's /openapi.json. Schemathesis: no
# server errors, responses match the schema. Every check runs except
# `positive_data_acceptance`: the domain refuses values a JSON schema cannot
# describe (names with markup, phone numbers of unknown regions, passwords
# over 72 *bytes*), so "schema-valid" bodies are legitimately answered 422. Run by .ci/run after the tests
# (which build target/debug/voice-scheduler).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${SCHEMATHESIS_VENV:-target/ci-venv}"
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis>=4,<5"
fi
if [ ! -x "$VENV/bin/openapi-spec-validator" ]; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator>=0.7,<1"
fi

WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
SECRET="schemathesis-secret-$(date +%s%N)"
METRICS="metrics-token-$(date +%s%N)"
(
  cd "$WORK"
  env -i PATH="$PATH" PORT="$PORT" VAPI_WEBHOOK_SECRET="$SECRET" METRICS_TOKEN="$METRICS" \
    LOG_LEVEL=warn "$OLDPWD/target/debug/voice-scheduler" serve >"$WORK/server.log" 2>&1 &
  echo $! >"$WORK/pid"
)
trap 'kill "$(cat "$WORK/pid")" 2>/dev/null || true; rm -rf "$WORK"' EXIT

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done

# The document itself must be valid OpenAPI (unique operationIds, parameters
# where the path says they are, ...).
curl -fsS "http://127.0.0.1:$PORT/openapi.json" >"$WORK/openapi.json"
"$VENV/bin/openapi-spec-validator" "$WORK/openapi.json"

"$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/openapi.json" \
  --checks all \
  --exclude-checks positive_data_acceptance \
  --header "X-Vapi-Secret: $SECRET" \
  --max-time "${SCHEMATHESIS_SECONDS:-60}" \
  --warnings off
