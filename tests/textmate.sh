#!/usr/bin/env bash
# Tokenizes rule files with VS Code's TextMate engine (vscode-textmate and
# vscode-oniguruma from npm, installed into target/textmate when missing) and the
# grammar in editors/vscode/syntaxes. Usage: tests/textmate.sh FILE...
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/textmate
if [ ! -d "$dir/node_modules/vscode-textmate" ] || [ ! -d "$dir/node_modules/vscode-oniguruma" ]; then
  if ! command -v npm >/dev/null; then
    apt-get install -y -qq nodejs npm >/dev/null
  fi
  mkdir -p "$dir"
  (cd "$dir" && npm install --no-audit --no-fund --silent vscode-textmate@9 vscode-oniguruma@2 >&2)
fi
NODE_PATH="$dir/node_modules" exec node tests/textmate/tokenize.js editors/vscode/syntaxes/stroom.tmLanguage.json "$@"
