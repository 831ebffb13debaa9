#!/usr/bin/env bash
# metal3-rs demo: validates sample manifests, parses BMC addresses, then drives
# emulated BMCs on loopback with metal3ctl — a Redfish BMC (sushy-tools, fake
# systems) and an IPMI BMC (OpenIPMI ipmi_sim) — and cross-checks with ipmitool.
# Everything listens on 127.0.0.1 and is stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup-peers.sh
venv=${METAL3_PEERS_VENV:-$root/.venv}
echo "== building metal3ctl"
cargo build -q -p metal3ctl
m3=$root/target/debug/metal3ctl
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
free_udp_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
say() { printf '\n$ %s\n' "$*"; "$@"; }

echo
echo "== 1. manifests: validate our samples (Metal³ webhook rules), then store them"
say "$m3" validate -f fixtures/hosts
echo "(an invalid one, for contrast: nothing is stored when any object is invalid)"
say "$m3" validate -f fixtures/invalid/bad-mac.yaml || true
export METAL3CTL_STORE="$work/store.db"
say "$m3" apply -f fixtures/hosts
say "$m3" get bmh -A -o wide
say "$m3" describe bmh edge-01 -n edge
say "$m3" annotate bmh edge-01 -n edge example.com/owner=demo
say "$m3" get bmh edge-01 -n edge -o yaml

echo
echo "== 2. BMC addresses: what Metal³ makes of them"
say "$m3" bmc parse 'redfish-virtualmedia://10.0.0.5/redfish/v1/Systems/1'
say "$m3" bmc parse '192.168.122.1:6230' -o json
say "$m3" bmc parse 'bmc.example.com:623' || true

echo
echo "== 3. Redfish BMC (sushy-tools on 127.0.0.1)"
rport=$(free_port)
cat > "$work/sushy.conf" <<CONF
SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'
SUSHY_EMULATOR_LISTEN_PORT = $rport
SUSHY_EMULATOR_FAKE_DRIVER = True
SUSHY_EMULATOR_STATE_DIR = '$work/sushy-state'
SUSHY_EMULATOR_FAKE_SYSTEMS = [
    {'uuid': '27946b59-9e44-4fa7-8e91-f3527a1ef001', 'name': 'node-0', 'power_state': 'Off',
     'nics': [{'mac': '00:5c:52:31:3a:01', 'ip': '172.22.0.101'}]},
]
CONF
"$venv/bin/sushy-emulator" --config "$work/sushy.conf" >"$work/sushy.log" 2>&1 &
pids+=($!)
# A small ISO to insert as virtual media (sushy downloads it).
mkdir -p "$work/www" && head -c 65536 /dev/urandom > "$work/www/live.iso"
hport=$(free_port)
python3 -m http.server "$hport" --bind 127.0.0.1 --directory "$work/www" >"$work/http.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$rport/redfish/v1/" >/dev/null 2>&1 && break; sleep 0.1; done
raddr="redfish-virtualmedia+http://127.0.0.1:$rport/redfish/v1/Systems/27946b59-9e44-4fa7-8e91-f3527a1ef001"
echo "(the host lifecycle through the store: the engine drives sushy with the direct provisioner)"
cat > "$work/node-0.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: node-0-bmc
  namespace: demo
type: Opaque
stringData:
  username: admin
  password: password
---
apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata:
  name: node-0
  namespace: demo
spec:
  online: false
  bootMACAddress: "00:5c:52:31:3a:01"
  automatedCleaningMode: disabled
  bmc:
    address: "$raddr"
    credentialsName: node-0-bmc
YAML
say "$m3" enroll -f "$work/node-0.yaml"
say "$m3" get bmh -n demo
say "$m3" provision node-0 -n demo --image "http://127.0.0.1:$hport/live.iso" --format live-iso --wait
echo "(the BMC itself, as witness: the ISO is inserted and the machine is on)"
export METAL3_BMC_USERNAME=admin METAL3_BMC_PASSWORD=password
say "$m3" bmc media status --address "$raddr"
say "$m3" bmc power status --address "$raddr" -o json
say "$m3" reboot node-0 -n demo --wait
say "$m3" deprovision node-0 -n demo --wait
say "$m3" describe bmh node-0 -n demo
say "$m3" delete bmh node-0 -n demo --wait
echo "(sushy-tools served $(grep -c 'HTTP/1.1"' "$work/sushy.log") Redfish requests)"

echo
echo "== 4. IPMI BMC (ipmi_sim on 127.0.0.1, ipmitool as witness)"
iport=$(free_udp_port)
mkdir -p "$work/ipmi"
# The chassis control program ipmi_sim calls: keeps power and boot device in files.
cat > "$work/ipmi/chassis.sh" <<SH
#!/bin/sh
state=$work/ipmi/power; boot=$work/ipmi/boot
[ -f \$state ] || echo 0 > \$state; [ -f \$boot ] || echo default > \$boot
op=\$2; shift 2
case "\$op" in
  get) out=""; for p in "\$@"; do case \$p in power) out="\$out power:\$(cat \$state)";; boot) out="\$out boot:\$(cat \$boot)";; esac; done; echo \$out ;;
  set) while [ \$# -gt 1 ]; do case \$1 in power) echo \$2 > \$state;; boot) echo \$2 > \$boot;; esac; shift 2; done ;;
esac
SH
chmod +x "$work/ipmi/chassis.sh"
cat > "$work/ipmi/lan.conf" <<CONF
name "bmc0"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 $iport
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
    lan_config_program "/bin/true"
  endlan
  chassis_control "$work/ipmi/chassis.sh 0x20"
  user 2 true  "admin"   "password" admin 10       none md2 md5 straight
CONF
cat > "$work/ipmi/bmc.emu" <<CONF
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
CONF
ipmi_sim -c "$work/ipmi/lan.conf" -f "$work/ipmi/bmc.emu" -n -s "$work/ipmi/state" >"$work/ipmi/sim.log" 2>&1 &
pids+=($!)
sleep 1
iaddr="ipmi://127.0.0.1:$iport"
if "$m3" bmc info --help >/dev/null 2>&1; then
  say "$m3" bmc info --address "$iaddr"
  say "$m3" bmc power on --wait=20 --address "$iaddr"
  say ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$iport" -U admin -P password power status
  say "$m3" bmc boot --device pxe --address "$iaddr"
  echo "(ipmi_sim drops the 'valid' bit of the boot flags, so the read-back shows no active"
  echo " override; the device selector it kept is visible to ipmitool:)"
  say ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$iport" -U admin -P password chassis bootparam get 5
  say "$m3" bmc power off --wait=20 --address "$iaddr"
  say "$m3" bmc power status --address "$iaddr" -o json
fi
echo
echo "demo finished"
