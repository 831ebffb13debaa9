#!/usr/bin/env bash
# Installs the real third-party peers the tests start on loopback:
#   - sushy-tools (Redfish emulator) and sushy (Ironic's Redfish client) in .venv
#   - libvirt-python in .venv, built against Debian's libvirt-dev: sushy-tools'
#     libvirt driver on the in-process mock hypervisor (test:///default) is
#     the peer with BIOS settings, secure boot and boot mode
#   - OpenIPMI ipmi_sim and ipmitool (Debian packages)
# Idempotent; safe to run repeatedly. Needs root (or sudo) for apt-get.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${METAL3_PEERS_VENV:-$root/.venv}

need_apt=()
command -v ipmi_sim >/dev/null 2>&1 || need_apt+=(openipmi)
command -v ipmitool >/dev/null 2>&1 || need_apt+=(ipmitool)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
{ command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libvirt; } || need_apt+=(libvirt-dev)
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
if ! "$venv/bin/python" -c 'import libvirt' >/dev/null 2>&1; then
  # Same version as the C library it builds against (the bindings are
  # generated from that library's API description).
  lv=$(pkg-config --modversion libvirt)
  echo "setup-peers: building libvirt-python==$lv in $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check "libvirt-python==$lv"
fi
echo "setup-peers: ready (venv $venv)" >&2
