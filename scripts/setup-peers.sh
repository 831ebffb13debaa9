#!/usr/bin/env bash
# Installs the real third-party peers the tests start on loopback:
#   - sushy-tools (Redfish emulator) and sushy (Ironic's Redfish client) in .venv
#   - OpenIPMI ipmi_sim and ipmitool (Debian packages)
# Idempotent; safe to run repeatedly. Needs root (or sudo) for apt-get.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${METAL3_PEERS_VENV:-$root/.venv}

need_apt=()
command -v ipmi_sim >/dev/null 2>&1 || need_apt+=(openipmi)
command -v ipmitool >/dev/null 2>&1 || need_apt+=(ipmitool)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup-peers: apt-get install ${need_apt[*]}" >&2
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$venv/bin/sushy-emulator" ] || [ ! -x "$venv/bin/ironic" ] || [ ! -f "$venv/.metal3-peers-ok-3" ]; then
  echo "setup-peers: creating $venv with sushy-tools, sushy, cryptography and ironic" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'sushy-tools==2.2.0' sushy cryptography ironic
  touch "$venv/.metal3-peers-ok-3"
fi
echo "setup-peers: ready (venv $venv)" >&2
