#!/usr/bin/python3
"""Drive oneblk's StorPool simulator with StorPool's own Python bindings.

Usage: /usr/bin/python3 tools/sim/storpool/bindings_check.py [--repo .] [--port 3381]
       [--bindings DIR_OF_python-storpool]

Starts `scripts/oneblk sim storpool` on the port, calls every API method the simulator
implements through storpool.spapi.Api and validates each reply strictly against the
bindings' return type (the compiled methods would hand back a partial object on a validation
failure; here the failure is reported). Error replies are checked as spapi.ApiError.
Exit status 0 when every check passed.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import types

ap = argparse.ArgumentParser()
ap.add_argument(
    "--repo", default=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
)
ap.add_argument("--port", type=int, default=3381)
ap.add_argument("--bindings", required=True, help="a checkout of github.com/storpool/python-storpool")
ap.add_argument("--token", default="pycheck0token")
opts = ap.parse_args()

sys.path.insert(0, opts.bindings)
sys.path.append("/usr/lib/python3/dist-packages")
# spconfig (storpool.conf parsing, only for Api.fromConfig) imports confget; not used here.
sys.modules.setdefault("confget", types.ModuleType("confget"))

from storpool import spapi  # noqa: E402
from storpool import sptypes as sp  # noqa: E402
from storpool.spcatch import InvalidArgumentError  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB

results = []  # (label, ok, detail)
called = set()  # API methods (HTTP names) exercised


def record(label, ok, detail=""):
    results.append((label, ok, detail))
    print(("PASS " if ok else "FAIL ") + label + ("" if ok else ": " + detail), flush=True)


def returns_of(pyname):
    """The bindings' validator of a method's reply."""
    return getattr(spapi.Api, pyname).__globals__["returns"]


def http_name(pyname):
    doc = getattr(spapi.Api, pyname).__doc__ or ""
    first = doc.split("\n", 1)[0]  # "HTTP: GET /ctrl/1.0/VolumesList"
    path = first.split(" ")[-1]
    return path[len("/ctrl/1.0/"):].replace("MultiCluster/", "").split("/")[0]


def call(pyname, *args, check=None):
    """Call a bindings method; validate the raw reply strictly; return the typed value."""
    label = "%s%s" % (pyname, "(%s)" % ", ".join(repr(a)[:60] for a in args) if args else "")
    called.add(http_name(pyname))
    try:
        raw = getattr(api, pyname)(*args, returnRawAPIData=True)
    except spapi.ApiError as e:
        record(label, False, "ApiError %s: %s (HTTP %s)" % (e.name, e.desc, e.status))
        return None
    except InvalidArgumentError as e:
        record(label, False, "argument rejected by the bindings: %s" % e)
        return None
    except Exception as e:  # noqa: BLE001
        record(label, False, "%s: %s" % (type(e).__name__, e))
        return None
    try:
        typed = returns_of(pyname)(raw)
    except InvalidArgumentError as e:
        record(label, False, "reply rejected: %s" % e)
        return None
    except Exception as e:  # noqa: BLE001
        record(label, False, "reply rejected (%s): %s" % (type(e).__name__, e))
        return None
    # the ordinary (non-raw) call path too
    try:
        getattr(api, pyname)(*args) if not _mutates(pyname) else None
    except Exception as e:  # noqa: BLE001
        record(label, False, "typed call failed: %s" % e)
        return None
    if check is not None:
        try:
            msg = check(typed, raw)
        except Exception as e:  # noqa: BLE001
            msg = "check raised %s: %s" % (type(e).__name__, e)
            traceback.print_exc()
        if msg:
            record(label, False, msg)
            return typed
    record(label, True)
    return typed


def _mutates(pyname):
    return (getattr(spapi.Api, pyname).__doc__ or "").startswith("HTTP: POST")


def expect_error(label, fn, name=None, status=None):
    """fn() must raise ApiError (with name, desc, transient as the bindings read them)."""
    try:
        fn()
    except spapi.ApiError as e:
        err = e.json.get("error")
        problems = []
        if not isinstance(err, dict):
            problems.append("error is not an object")
        else:
            if not isinstance(err.get("name"), str):
                problems.append("error.name missing or not a string")
            if not isinstance(err.get("descr"), str):
                problems.append("error.descr missing or not a string")
            if not isinstance(err.get("transient"), bool):
                problems.append("error.transient missing or not a bool")
        if "data" in e.json:
            problems.append("error reply also carries data")
        if name is not None and e.name != name:
            problems.append("name %r, expected %r" % (e.name, name))
        if status is not None and e.status != status:
            problems.append("HTTP %s, expected %s" % (e.status, status))
        if e.transient is not False:
            problems.append("transient %r" % e.transient)
        record("error: " + label, not problems,
               "; ".join(problems) + " [%s: %s]" % (e.name, e.desc))
        return e
    except Exception as e:  # noqa: BLE001
        record("error: " + label, False, "raised %s: %s, not ApiError" % (type(e).__name__, e))
        return None
    record("error: " + label, False, "no error")
    return None


def raw_call(method, path, body=None):
    """The bindings' transport without argument validation (for bad names)."""
    return api(method, False, path, body)


def raw_http(method, path, text):
    """A request with a literal body, its reply read as the bindings' transport reads it."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", opts.port, timeout=30)
    try:
        conn.request(method, "/ctrl/1.0/" + path, text,
                     {"Authorization": "Storpool v1:" + opts.token})
        res = conn.getresponse()
        status, jres = res.status, json.load(res)
    finally:
        conn.close()
    if status != 200 or "error" in jres:
        raise spapi.ApiError(status, jres)
    return jres["data"]


def eq(got, want, what):
    return None if got == want else "%s = %r, expected %r" % (what, got, want)


def first_problem(*msgs):
    for m in msgs:
        if m:
            return m
    return None


def up_disks(disks):
    """A problem unless every disk is read as a disk that is up (not its fallback, a down one)."""
    down = [i for i, d in disks.items() if type(d).__name__ != "UpDiskSummary"]
    return "disks %s not read as UpDiskSummary" % down if down else None


def template_disks(template):
    """The ids of a template's disks: those of the group its volumes' copies go to, by tail."""
    return sorted(api.placementGroupDescribe(template.placeTail).disks
                  | api.placementGroupDescribe(template.placeAll).disks)


def disks_add_up(disks, status):
    """The disks of a template add up to its capacity and free space (VolumeTemplatesStatus)."""
    size = sum(d.sectorsCount * 512 for d in disks)
    free = sum(max(0, d.sectorsCount * 512 - d.objectsOnDiskSize) for d in disks)
    return first_problem(eq(size, status.capacityPlaceAll, "disk sizes"),
                         eq(free, status.availablePlaceAll, "disk free space"))


# ---------------------------------------------------------------- start the simulator
root = tempfile.mkdtemp(prefix="sp-pycheck-")
for h in ("alpha", "bravo"):
    os.makedirs(os.path.join(root, "hosts", h), exist_ok=True)
cmd = [
    os.path.join(opts.repo, "scripts", "oneblk"), "sim", "storpool",
    "--port", str(opts.port), "--token", opts.token,
    "--clients", "alpha=1,bravo=2",
    "--template", "one-ds-0:10:3",
    "--state-dir", os.path.join(root, "state"),
    "--hosts-root", os.path.join(root, "hosts"),
]
proc = subprocess.Popen(cmd, cwd=opts.repo, stdout=subprocess.PIPE, text=True)
line = proc.stdout.readline()
try:
    info = json.loads(line)
except ValueError:
    proc.kill()
    sys.exit("simulator did not start: %r" % line)
print("simulator:", info["url"], flush=True)

api = spapi.Api(host="127.0.0.1", port=opts.port, auth=opts.token, timeout=30,
                transientRetries=0)

try:
    # ------------------------------------------------------------ services, templates
    call("servicesList", check=lambda t, r: first_problem(
        eq(sorted(t.clients), [1, 2], "client ids"),
        eq([m.active for m in t.mgmt.values()], [True], "active mgmt"),
        eq(t.servers[1].running, True, "server running"),
        None if t.clients[2].uptime is not None else "no client uptime",
        eq(t.clients[1].status, "running", "client 1 status"),
        eq(t.clusterStatus, "running", "clusterStatus")))
    call("volumeTemplateCreate", {"name": "gold", "replication": 2, "placeAll": "hdd",
                                  "placeTail": "ssd", "iops": 5000, "bw": 200000})
    call("volumeTemplateUpdate", "gold", {"replication": 3, "placeHead": "ssd"})
    call("volumeTemplatesList", check=lambda t, r: eq(
        sorted(x.name for x in t), ["gold", "one-ds-0"], "template names"))
    call("volumeTemplateDescribe", "gold", check=lambda t, r: first_problem(
        eq(t.replication, 3, "replication"), eq(t.placeHead, "ssd", "placeHead"),
        eq(t.iops, 5000, "iops")))
    call("volumeTemplatesStatus", check=lambda t, r: eq(
        [x.stored.capacity for x in t if x.name == "one-ds-0"], [10 * GiB], "capacity"))

    # ------------------------------------------------------------ volumes
    r = call("volumeCreate", {"name": "v1", "size": 64 * MiB, "template": "one-ds-0",
                              "tags": {"nvm": "7", "type": "image"}},
             check=lambda t, r: None if t.globalId else "no globalId")
    v1gid = r.globalId if r else None
    call("volumeCreate", {"name": "v2", "size": 32 * MiB, "template": "gold"})
    call("volumeCreate", {"name": "v3", "size": 16 * MiB, "template": "one-ds-0"})
    call("volumeUpdate", "v1", {"size": 128 * MiB})
    call("volumeUpdate", "v1", {"sizeAdd": 64 * MiB})
    call("volumeUpdate", "v3", {"size": 8 * MiB, "shrinkOk": True})
    call("volumeUpdate", "v2", {"tags": {"nvm": "8"}, "iops": 1000, "bw": 50000})
    call("volumeUpdate", "v3", {"rename": "v3b"})
    call("volumesList", check=lambda t, r: eq(sorted(v.name for v in t), ["v1", "v2", "v3b"],
                                              "volume names"))
    call("volumeList", "v1", check=lambda t, r: first_problem(
        eq(len(t), 1, "entries"), eq(t[0].size, 192 * MiB, "size"),
        eq(t[0].tags, {"nvm": "7", "type": "image"}, "tags")))
    if v1gid:
        call("volumeList", "~" + v1gid, check=lambda t, r: eq(t[0].name, "v1", "name by gid"))
    call("volumeDescribe", "v2", check=lambda t, r: first_problem(
        eq(t.iops, 1000, "iops"), eq(t.templateName, "gold", "templateName")))
    call("volumeInfo", "v1", check=lambda t, r: first_problem(
        eq(t.size, 192 * MiB, "size"), eq(t.disksCount, 3, "disksCount"),
        eq(sorted(t.objectsPerDisk.values()), [t.objectsCount] * 3, "objectsPerDisk")))
    call("volumesSpace", check=lambda t, r: eq(len(t), 3, "entries"))
    call("volumesStatus", check=lambda t, r: first_problem(
        eq(sorted(t), ["v1", "v2", "v3b"], "names"),
        eq(t["v1"].status, "up", "status"), eq(t["v1"].snapshot, False, "snapshot"),
        eq(t["v1"].onDiskSize, 3 * t["v1"].storedSize, "onDiskSize"),
        eq(t["v1"].missingDrives, [], "missingDrives")))

    # an unnamed volume goes by ~<globalId>, the name the reply gives
    r = call("volumeCreate", {"size": 16 * MiB, "template": "one-ds-0"},
             check=lambda t, r: first_problem(
                 None if t.globalId else "no globalId",
                 eq(t.name, "~%s" % t.globalId, "name of an unnamed volume")))
    if r:
        call("volumeList", r.name, check=lambda t, _r: first_problem(
            eq(t[0].name, r.name, "listed name"), eq(t[0].globalId, r.globalId, "globalId")))
        call("volumeDelete", r.name)
    expect_error("unnamed volume without a size", lambda: api.volumeCreate(
        {"template": "one-ds-0"}), "invalidParam")

    # ------------------------------------------------------------ snapshots
    s = call("snapshotCreate", "v1", {"name": "v1-s1", "tags": {"k": "a"}},
             check=lambda t, r: None if t.snapshotGlobalId else "no snapshotGlobalId")
    anon = call("snapshotCreate", "v1", {"deleteAfter": 3600},
                check=lambda t, r: None if t.autoName else "no autoName")
    call("snapshotCreate", "v2", {"name": "v2-s1", "bind": True})
    call("snapshotsList", check=lambda t, r: eq(len(t), 3, "entries"))
    call("snapshotList", "v1-s1", check=lambda t, r: first_problem(
        eq(t[0].onVolume, "v1", "onVolume"), eq(t[0].tags, {"k": "a"}, "tags")))
    if anon:
        call("snapshotList", anon.autoName, check=lambda t, r: first_problem(
            eq(t[0].autoName, True, "autoName"),
            None if t[0].targetDeleteDate else "no targetDeleteDate"))
    call("snapshotDescribe", "v1-s1", check=lambda t, r: eq(
        len(t.objects), t.objectsCount, "objects"))
    call("snapshotInfo", "v1-s1", check=lambda t, r: first_problem(
        eq(t.onVolume, "v1", "onVolume"), eq(t.disksCount, 3, "disksCount"),
        eq([c.count for c in t.objectsPerChain], [t.objectsCount], "objectsPerChain")))
    expect_error("missing snapshot (SnapshotGetInfo/nope)", lambda: api.snapshotInfo("nope"),
                 "objectDoesNotExist")
    call("snapshotsSpace", check=lambda t, r: eq(len(t), 3, "entries"))
    call("volumeListSnapshots", "v1", check=lambda t, r: eq(len(t), 2, "parents"))
    call("snapshotUpdate", "v1-s1", {"tags": {"k": "b"}, "bind": False})
    call("snapshotUpdate", "v2-s1", {"rename": "v2-s1b"})
    call("volumesStatus", check=lambda t, r: first_problem(
        eq(t["v1-s1"].snapshot, True, "snapshot flag"), eq(len(t), 6, "entries")))
    call("volumesQuickStatus", check=lambda t, r: first_problem(
        eq(sorted(t), sorted(api.volumesStatus()), "names"),
        eq(type(t["v1-s1"]).__name__, "SnapshotStatusQuick", "snapshot entry"),
        eq(type(t["v1"]).__name__, "VolumeStatusQuick", "volume entry"),
        eq(t["v1"].status, "up", "status"),
        None if "storedSize" not in r["v1"] else "storedSize in the quick status"))
    expect_error("VolumesGetStatusQuick with POST",
                 lambda: raw_call("POST", "VolumesGetStatusQuick", {}), "invalidParam")
    call("volumeCreate", {"name": "v4", "parent": "v1-s1"})
    r = call("volumeCreate", {"name": "v5", "baseOn": "v2", "template": "gold"},
             check=lambda t, r: None if t.autoName else "no autoName")
    call("volumeRevert", "v1", {"toSnapshot": "v1-s1"},
         check=lambda t, r: None)
    call("volumeList", "v1", check=lambda t, r: eq(t[0].size, 192 * MiB, "size after revert"))
    g = call("snapshotCreateGroup", {
        "volumes": [{"volume": "v1", "name": "g-v1"}, {"volume": "v2", "name": "g-v2"}],
        "tags": {"vm": "9"}},
        check=lambda t, r: eq(sorted(x.snapshot for x in t.snapshots), ["g-v1", "g-v2"],
                              "snapshots"))
    if g:
        gid = [x.snapshotGlobalId for x in g.snapshots if x.snapshot == "g-v2"][0]
        call("snapshotDeleteById", gid)
    call("snapshotDelete", "g-v1")
    call("volumeFreeze", "v5", None)
    call("snapshotList", "v5", check=lambda t, r: eq(t[0].onVolume, "v5", "onVolume"))
    call("volumeFreeze", "v4", {"deleteAfter": 600})

    # ------------------------------------------------------------ servers, disks
    call("serversList", check=lambda t, r: first_problem(
        eq(sorted(t.servers), [1, 2, 3], "server ids"),
        eq(t.clients, {}, "clients"), None if "clients" not in r else "clients listed",
        eq(sorted(t.servers), sorted(api.servicesList().servers), "servers of ServicesList")))
    expect_error("ServersList with POST", lambda: raw_call("POST", "ServersList", {}),
                 "invalidParam")
    statuses = {x.name: x for x in api.volumeTemplatesStatus()}
    templates = {x.name: x for x in api.volumeTemplatesList()}
    call("disksList", check=lambda t, r: up_disks(t) or first_problem(
        eq(sorted(t), sorted(i for n in templates for i in template_disks(templates[n])),
           "disks of the templates"),
        *[disks_add_up([t[i] for i in template_disks(templates[n])], statuses[n])
          for n in templates]))
    expect_error("DisksList with POST", lambda: raw_call("POST", "DisksList", {}),
                 "invalidParam")

    def disk_objects_add_up(t, r):
        v1 = [o for o in t.objects.values() if o.volume == "v1"]
        space = {x.name: x for x in api.volumesSpace()}
        return first_problem(
            eq(sum(o.onDiskSize for o in t.objects.values()), t.objectsOnDiskSize,
               "objects' onDiskSize"),
            eq(len(t.objects), t.objectsAllocated, "objects"),
            eq(sum(o.storedSize for o in v1), space["v1"].storedSize, "v1's stored bytes"),
            eq({o.state for o in t.objects.values()}, {"OBJECT_OK"}, "object states"))
    call("diskDescribe", 1, check=disk_objects_add_up)
    expect_error("missing disk (DiskDescribe/4000)", lambda: api.diskDescribe(4000),
                 "objectDoesNotExist")
    call("serverDisksList", 2, check=lambda t, r: first_problem(
        up_disks(t), None if t else "no disk",
        eq({d.serverId for d in t.values()}, {2}, "serverId")))
    expect_error("missing server (ServerDisksList/9)", lambda: api.serverDisksList(9),
                 "objectDoesNotExist")
    call("serverDiskDescribe", 2, 2, check=lambda t, r: eq(t.serverId, 2, "serverId"))
    expect_error("disk on another server (ServerDiskDescribe/1/2)",
                 lambda: api.serverDiskDescribe(1, 2), "objectDoesNotExist")

    # ------------------------------------------------------------ placement groups
    call("placementGroupsList", check=lambda t, r: first_problem(
        eq(sorted(t), ["default", "hdd", "ssd"], "groups the templates name"),
        eq(sorted(t["default"].disks), template_disks(templates["one-ds-0"]), "default's disks"),
        eq([g.name for g in t.values() if not g.disks], [], "groups without disks")))
    expect_error("PlacementGroupsList with POST",
                 lambda: raw_call("POST", "PlacementGroupsList", {}), "invalidParam")
    call("placementGroupUpdate", "nvme", {"addDisks": [1, 2]})
    call("placementGroupDescribe", "nvme", check=lambda t, r: eq(t.disks, {1, 2}, "disks"))
    expect_error("missing group (PlacementGroupDescribe/nope)",
                 lambda: api.placementGroupDescribe("nope"), "objectDoesNotExist")
    call("placementGroupUpdate", "nvme", {"rename": "nvme2", "rmDisks": [1]})
    call("placementGroupDescribe", "nvme2", check=lambda t, r: eq(t.disks, {2}, "disks"))
    call("placementGroupUpdate", "hdd", {"rename": "hdd2"})
    call("volumeTemplateDescribe", "gold", check=lambda t, r: eq(
        t.placeAll, "hdd2", "placeAll of a renamed group"))
    call("volumeList", "v2", check=lambda t, r: eq(t[0].placeAll, "hdd2", "v2's placeAll"))
    expect_error("missing disk (PlacementGroupUpdate addDisks 4000)",
                 lambda: api.placementGroupUpdate("nvme2", {"addDisks": [4000]}),
                 "objectDoesNotExist")
    expect_error("rename onto an existing group", lambda: api.placementGroupUpdate(
        "nvme2", {"rename": "ssd"}), "objectExists")
    call("placementGroupDelete", "nvme2")
    expect_error("delete of a group a template names",
                 lambda: api.placementGroupDelete("default"), "busy")

    # ------------------------------------------------------------ template delete
    n_disks = len(api.disksList())
    call("volumeTemplateCreate", {"name": "scratch", "replication": 2, "placeAll": "scr"})
    call("disksList", check=lambda t, r: eq(len(t), n_disks + 2, "disks with scratch's"))
    call("volumeTemplateDelete", "scratch")
    call("volumeTemplatesList", check=lambda t, r: eq(
        sorted(x.name for x in t), ["gold", "one-ds-0"], "template names"))
    call("disksList", check=lambda t, r: eq(len(t), n_disks, "disks without scratch's"))
    call("placementGroupDescribe", "scr", check=lambda t, r: eq(t.disks, set(), "scr's disks"))
    call("placementGroupDelete", "scr")
    expect_error("delete of a template in use (VolumeTemplateDelete/one-ds-0)",
                 lambda: api.volumeTemplateDelete("one-ds-0"), "busy")
    expect_error("missing template (VolumeTemplateDelete/nope)",
                 lambda: api.volumeTemplateDelete("nope"), "objectDoesNotExist")

    # ------------------------------------------------------------ attachments
    call("volumesReassign", [{"volume": "v1", "rw": [1]}, {"snapshot": "v1-s1", "ro": [2]}])
    call("attachmentsList", check=lambda t, r: eq(
        sorted((a.volume, a.snapshot, a.client, a.rights) for a in t),
        [("v1", False, 1, "rw"), ("v1-s1", True, 2, "ro")], "attachments"))
    call("volumesReassignWait", {"reassign": [{"volume": "v2", "ro": [1, 2]}],
                                 "attachTimeout": 10})
    call("volumesReassignWait", {"reassign": [{"volume": "v2", "rw": [2], "detach": [1]}]})
    call("attachmentsList", check=lambda t, r: eq(
        sorted((a.volume, a.client, a.rights) for a in t if a.volume == "v2"),
        [("v2", 2, "rw")], "v2 attachments"))

    # ------------------------------------------------------------ errors
    expect_error("missing volume (Volume/nope)", lambda: api.volumeList("nope"),
                 "objectDoesNotExist")
    expect_error("missing volume (VolumeDescribe/nope)", lambda: api.volumeDescribe("nope"),
                 "objectDoesNotExist")
    expect_error("missing snapshot (SnapshotDelete/nope)", lambda: api.snapshotDelete("nope"),
                 "objectDoesNotExist")
    expect_error("missing template", lambda: api.volumeTemplateDescribe("nope"),
                 "objectDoesNotExist")
    expect_error("bad volume name", lambda: raw_call(
        "POST", "VolumeCreate", {"name": "bad name!", "size": MiB}), "invalidParam")
    expect_error("reserved volume name 'list'", lambda: raw_call(
        "POST", "VolumeCreate", {"name": "list", "size": MiB}), "invalidParam")
    expect_error("volume name of 200 characters", lambda: raw_call(
        "POST", "VolumeCreate", {"name": "x" * 200, "size": MiB}), "invalidParam")
    expect_error("size not a multiple of 512", lambda: raw_call(
        "POST", "VolumeCreate", {"name": "v9", "size": 1000}), "invalidParam")
    expect_error("existing volume", lambda: api.volumeCreate(
        {"name": "v1", "size": MiB}), "objectExists")
    expect_error("resize smaller without shrinkOk", lambda: api.volumeUpdate(
        "v2", {"size": MiB}), "invalidParam")
    expect_error("delete of an attached volume", lambda: api.volumeDelete("v1"))
    expect_error("delete of an attached snapshot", lambda: api.snapshotDelete("v1-s1"))
    expect_error("snapshot attached rw", lambda: raw_call(
        "POST", "VolumesReassign", [{"snapshot": "v1-s1", "rw": [1]}]))
    expect_error("too big for the template", lambda: api.volumeCreate(
        {"name": "huge", "size": 64 * GiB, "template": "one-ds-0"}))
    expect_error("snapshot name 'status'", lambda: raw_call(
        "POST", "VolumeSnapshot/v2", {"name": "status"}), "invalidParam")
    expect_error("replication 4", lambda: raw_call(
        "POST", "VolumeCreate", {"name": "v9", "size": MiB, "replication": 4}), "invalidParam")
    expect_error("replication 0 (update)", lambda: raw_call(
        "POST", "VolumeUpdate/v2", {"replication": 0}), "invalidParam")
    expect_error("bad placement group name", lambda: raw_call(
        "POST", "VolumeUpdate/v2", {"placeAll": "no such.group"}), "invalidParam")
    expect_error("template name 'list'", lambda: raw_call(
        "POST", "VolumeTemplateCreate", {"name": "list"}), "invalidParam")
    expect_error("tag value of 200 characters", lambda: raw_call(
        "POST", "VolumeUpdate/v2", {"tags": {"k": "x" * 200}}), "invalidParam")
    expect_error("unknown method", lambda: raw_call("GET", "NoSuchMethod"))
    expect_error("bad token", lambda: spapi.Api(
        host="127.0.0.1", port=opts.port, auth="wrong", transientRetries=0).volumesList())
    expect_error("body is not JSON", lambda: raw_http("POST", "VolumeCreate", "{nope"),
                 "jsonError")

    # ------------------------------------------------------------ clean up
    call("volumesReassign", [{"volume": "v1", "detach": "all"},
                             {"snapshot": "v1-s1", "detach": [2]},
                             {"volume": "v2", "detach": "all", "force": True}])
    call("attachmentsList", check=lambda t, r: eq(t, [], "attachments"))
    for v in ("v1", "v2", "v3b"):
        call("volumeDelete", v)
    call("volumesList", check=lambda t, r: eq(t, [], "volumes"))
finally:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(root, ignore_errors=True)

failed = [r for r in results if not r[1]]
methods = sorted(called)
print("\nmethods called (%d): %s" % (len(methods), ", ".join(methods)))
print("%d checks, %d passed, %d failed" % (len(results), len(results) - len(failed), len(failed)))
for label, _, detail in failed:
    print("  FAIL %s: %s" % (label, detail))
sys.exit(1 if failed else 0)
