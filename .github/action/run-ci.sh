#!/usr/bin/env bash
# The `promptctl ci` step of the GitHub Action (action.yml). Inputs arrive as INPUT_*
# variables; the provider key is exported only under the name the provider reads.
set -euo pipefail

base="${INPUT_BASE:-}"
if [ -z "$base" ] && [ -z "${GITHUB_BASE_REF:-}" ] && [ "${GITHUB_EVENT_NAME:-}" = push ] \
  && git rev-parse -q --verify 'HEAD^' >/dev/null; then
  # A push has no target branch: compare with the commit before it.
  base='HEAD^'
fi

if [ -n "${GITHUB_BASE_REF:-}" ] && [ -z "$base" ]; then
  # The merge base must be in the clone: deepen a shallow checkout, then fetch the target.
  if [ "$(git rev-parse --is-shallow-repository)" = true ]; then
    git fetch --quiet --no-tags --unshallow origin
  fi
  git fetch --quiet --no-tags origin \
    "+refs/heads/${GITHUB_BASE_REF}:refs/remotes/origin/${GITHUB_BASE_REF}"
fi

if [ -n "${INPUT_PROVIDER_KEY:-}" ]; then
  name="${INPUT_PROVIDER_KEY_ENV:-OPENAI_API_KEY}"
  if ! [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    echo "::error title=promptctl action::provider-key-env \`$name\` is not a variable name"
    exit 2
  fi
  export "$name=$INPUT_PROVIDER_KEY"
fi
unset INPUT_PROVIDER_KEY
# Several keys: one NAME=value line each.
while IFS= read -r line; do
  [ -z "${line//[[:space:]]/}" ] && continue
  name="${line%%=*}"
  name="${name//[[:space:]]/}"
  if [[ "$line" != *=* ]] || ! [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    echo "::error title=promptctl action::provider-keys takes one NAME=value line per key; a line is not one (its value is not shown)"
    exit 2
  fi
  export "$name=${line#*=}"
done <<<"${INPUT_PROVIDER_KEYS:-}"
unset INPUT_PROVIDER_KEYS

args=(ci)
if [ -n "$base" ]; then
  args+=(--base "$base")
fi
if [ "${INPUT_COMMENT:-false}" = true ]; then
  args+=(--comment)
fi
# Extra arguments are split on whitespace, as on a command line without quotes.
read -r -a extra <<<"${INPUT_ARGS:-}"
exec promptctl "${args[@]}" "${extra[@]+"${extra[@]}"}"
