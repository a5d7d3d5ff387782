#!/usr/bin/env bash
# The whole test suite, as README.md documents it. Installs and starts what the tests need, so
# that it passes on a fresh machine; then formats-checks, lints and runs every test once, all
# sharing one target directory (each profile is built once).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*" >&2; }

command -v cargo >/dev/null || { echo "cargo is missing: install Rust 1.94+ with rustup" >&2; exit 1; }

say "format"
cargo fmt --all -- --check

say "tests"
cargo test --workspace --locked --all-targets
cargo test --workspace --locked --doc

say "lints"
cargo clippy --workspace --locked --all-targets -- -D warnings
