"""The ironic_lifecycle benchmark's reference flow: the same node lifecycle
as metal3-rs's Ironic provisioner, written with Ironic's own client library
(python-ironicclient), as an operator's script would drive it.

usage: python ironicclient_flow.py URL HOSTS PREFIX WORKERS POLL_SECONDS
prints one JSON line per phase (its wall time), then waits for a line on
stdin before the next; at the end one JSON line with the API requests sent.
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from keystoneauth1 import session as ks_session
from ironicclient import client

URL, HOSTS, PREFIX, WORKERS, POLL = (
    sys.argv[1],
    int(sys.argv[2]),
    sys.argv[3],
    int(sys.argv[4]),
    float(sys.argv[5]),
)

requests_sent = 0
_orig_request = ks_session.Session.request


def counting_request(self, *args, **kwargs):
    global requests_sent
    requests_sent += 1  # the GIL makes this increment safe enough here
    return _orig_request(self, *args, **kwargs)


ks_session.Session.request = counting_request

c = client.get_client(1, endpoint=URL, auth_type="none", os_ironic_api_version="1.89")

FAKE = {
    i + "_interface": "fake"
    for i in ["boot", "deploy", "inspect", "management", "power", "raid", "bios", "vendor", "firmware"]
}


def wait(uuid, state):
    c.node.wait_for_provision_state(uuid, state, timeout=600, poll_interval=POLL)


def enrol(i):
    node = c.node.create(
        name="%s~host-%d" % (PREFIX, i),
        driver="fake-hardware",
        driver_info={
            "redfish_address": "http://127.0.0.1:9",
            "redfish_system_id": "/redfish/v1/Systems/%d" % i,
            "redfish_username": "admin",
            "redfish_password": "pw",
        },
        properties={"capabilities": "boot_mode:uefi", "cpu_arch": "x86_64"},
        **FAKE
    )
    c.port.create(node_uuid=node.uuid, address="52:54:01:00:%02x:%02x" % (i // 256, i % 256), pxe_enabled=True)
    c.node.set_provision_state(node.uuid, "manage")
    wait(node.uuid, "manageable")
    c.node.set_provision_state(node.uuid, "inspect")
    wait(node.uuid, "manageable")
    c.node.update(node.uuid, [{"op": "add", "path": "/automated_clean", "value": True}])
    return node.uuid


def provision(args):
    i, uuid = args
    c.node.set_provision_state(uuid, "provide")
    wait(uuid, "available")
    c.node.update(
        uuid,
        [
            {"op": "add", "path": "/instance_uuid", "value": "00000000-0000-4000-8000-%012d" % i},
            {
                "op": "add",
                "path": "/instance_info",
                "value": {
                    "image_source": "http://127.0.0.1:9/os.qcow2",
                    "image_disk_format": "qcow2",
                    "image_os_hash_algo": "sha256",
                    "image_os_hash_value": "6a1f2b0c",
                },
            },
        ],
    )
    c.node.validate(uuid)
    configdrive = {
        "user_data": "#cloud-config\n",
        "meta_data": {"uuid": uuid, "name": "host-%d" % i},
    }
    c.node.set_provision_state(uuid, "active", configdrive=configdrive)
    wait(uuid, "active")
    c.node.set_power_state(uuid, "on")


def deprovision(uuid):
    c.node.set_provision_state(uuid, "deleted")
    wait(uuid, "available")


def delete(uuid):
    c.node.update(uuid, [{"op": "remove", "path": "/instance_uuid"}])
    c.node.delete(uuid)


def phase(name, fn, items):
    """Runs one phase; reports it and waits for the bench's go-ahead (so
    the bench can read Ironic's request log and CPU time between phases)."""
    t = time.monotonic()
    result = list(pool.map(fn, items))
    print(json.dumps({"phase": name, "secs": time.monotonic() - t}), flush=True)
    sys.stdin.readline()
    return result


with ThreadPoolExecutor(max_workers=WORKERS) as pool:
    uuids = phase("enrol", enrol, range(HOSTS))
    phase("provision", provision, enumerate(uuids))
    phase("deprovision", deprovision, uuids)
    phase("delete", delete, uuids)
print(json.dumps({"requests": requests_sent}), flush=True)
