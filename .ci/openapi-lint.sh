#!/usr/bin/env bash
# Lints openapi.yaml with Redocly CLI's built-in "recommended" ruleset.
# The version is pinned so that a new rule cannot break CI unannounced;
# Redocly exits non-zero on errors, and warnings are printed. The Go test
# TestOpenAPIMatchesRoutes (package middleware) checks the document
# against the handlers; this checks it against the OpenAPI 3.1 schema.
set -euo pipefail
cd "$(dirname "$0")/.."
export REDOCLY_TELEMETRY=off npm_config_update_notifier=false
echo "ci: redocly lint openapi.yaml"
npx --yes @redocly/cli@2.77.0 lint openapi.yaml
