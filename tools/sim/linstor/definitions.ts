/**
 * Definitions in the simulated LINSTOR controller: resource groups and volume groups, resource
 * and volume definitions (create, modify, delete), and spawning a resource definition from a
 * group.
 */
import {
  CODE,
  MASK_CRT,
  MASK_DEL,
  MASK_ERROR,
  MASK_INFO,
  MASK_MOD,
  MASK_WARN,
  OBJ,
} from "../../../lib/backend/linstor/api_call_rc.ts";
import {
  describingErrors,
  errorReportId,
  fail,
  notConnectedWarning,
  rc,
  type RcContext,
  rcReply,
  SimApiError,
  type SimRc,
  type SimReply,
} from "./replies.ts";
import { nameFromExternal } from "./ext_names.ts";
import {
  asStrings,
  cleanFilter,
  groupFilter,
  isLinstorName,
  k,
  newCurrentGi,
  type SimRd,
  type SimVd,
  uuid,
} from "./model.ts";
import { type SimController } from "./controller.ts";
import { autoplace, mergedFilter, rdProp } from "./placement.ts";
import { editProps, setProps } from "./props.ts";
import { allocMinor, ensureDrbdLayer, intField } from "./drbd_layer.ts";
import { loadVg } from "./single_gets.ts";
import { NOT_CONNECTED_DETAILS } from "./nodes.ts";
import { FAIL_EXISTS_SNAPSHOT } from "./codes.ts";
import { asVlmNr } from "./volumes.ts";

/** POST /v1/resource-groups. */
export function createRg(ctl: SimController, body: Record<string, unknown>): SimReply {
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC_GRP };
  const name = String(body.name ?? "");
  if (!isLinstorName(name)) {
    fail(CODE.FAIL_INVLD_RSC_GRP_NAME, `Invalid resource group name '${name}'.`);
  }
  if (ctl.rg(name)) fail(CODE.FAIL_EXISTS_RSC_GRP, `A Resource group: ${name} already exists.`);
  const out: SimRc[] = [];
  const g = ctl.addRg(name, groupFilter({}, body.select_filter));
  setProps("resource-group", g.props, body.props as Record<string, string> | undefined, out);
  if (typeof body.description === "string") g.description = body.description;
  if (typeof body.peer_slots === "number") g.peerSlots = body.peer_slots;
  out.push(
    rc(0n, CODE.CREATED, `New resource group '${name}' created.`, {
      details: `Resource group '${name}' UUID is: ${g.uuid}`,
    }),
  );
  return rcReply(out, ctx, 201);
}

/** PUT /v1/resource-groups/{rg}: properties, selection filter, peer slots. */
export function modifyRg(
  ctl: SimController,
  name: string,
  body: Record<string, unknown>,
): SimReply {
  const ctx: RcContext = { op: MASK_MOD, obj: OBJ.RSC_GRP };
  const g = ctl.needRg(name);
  const out: SimRc[] = [];
  editProps("resource-group", g.props, body, out);
  if (typeof body.description === "string") g.description = body.description;
  if (body.select_filter) g.filter = groupFilter(g.filter, body.select_filter);
  if (typeof body.peer_slots === "number") g.peerSlots = body.peer_slots;
  out.push(rc(0n, CODE.MODIFIED, `Resource group '${g.name}' modified.`));
  return rcReply(out, ctx, 200);
}

/** DELETE /v1/resource-groups/{rg} (not the default group, not while it has definitions). */
export function deleteRg(ctl: SimController, name: string): SimReply {
  const ctx: RcContext = { op: MASK_DEL, obj: OBJ.RSC_GRP };
  const g = ctl.rg(name);
  if (!g) {
    return rcReply(
      [rc(MASK_WARN, CODE.WARN_NOT_FOUND, `Resource group '${name}' not found.`)],
      ctx,
      200,
    );
  }
  if (k(g.name) === "DFLTRSCGRP") {
    fail(CODE.FAIL_INVLD_RSC_GRP_NAME, "Cannot delete default resource group");
  }
  if (ctl.state.rds.some((r) => k(r.rg) === k(g.name))) {
    fail(
      CODE.FAIL_EXISTS_RSC_DFN,
      `Cannot delete resource group '${g.name}' because it has existing resource definitions.`,
    );
  }
  ctl.state.rgs = ctl.state.rgs.filter((x) => x !== g);
  return rcReply([rc(0n, CODE.DELETED, `Resource group '${g.name}' deleted.`)], ctx, 200);
}

/** POST /v1/resource-groups/{rg}/volume-groups. */
export function createVg(
  ctl: SimController,
  rgName: string,
  body: Record<string, unknown>,
): SimReply {
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.VLM_GRP };
  const g = ctl.needRg(rgName);
  const nr = typeof body.volume_number === "number"
    ? body.volume_number
    : (g.vgs.length ? Math.max(...g.vgs.map((v) => v.nr)) + 1 : 0);
  if (g.vgs.some((v) => v.nr === nr)) {
    fail(
      CODE.FAIL_EXISTS_VLM_GRP,
      `Volume group ${nr} of resource group '${g.name}' already exists.`,
    );
  }
  const out: SimRc[] = [];
  const props: Record<string, string> = {};
  setProps("volume-group", props, body.props as Record<string, string> | undefined, out);
  g.vgs.push({ nr, props, flags: asStrings(body.flags) ?? [], uuid: uuid() });
  out.push(
    rc(
      0n,
      CODE.CREATED,
      `New volume group with number '${nr}' of resource group '${g.name}' created.`,
    ),
  );
  return rcReply(out, ctx, 201);
}

/** The flags a volume group has (VolumeGroup.Flags). */
const VG_FLAGS = ["GROSS_SIZE"];

/**
 * A volume group's context in CtrlVlmGrpApiCallHandler's modify and delete: a "creation" of the
 * group's volume groups (MASK_CRT, MASK_VLM_GRP, the group named as `VlmGrp`), whose description
 * an error's details end with.
 */
function vgContext(rgName: string): { ctx: RcContext; description: string } {
  return {
    ctx: { op: MASK_CRT, obj: OBJ.VLM_GRP, refs: { VlmGrp: rgName } },
    description: `Volume groups for resource group '${rgName}'`,
  };
}

/**
 * PUT /v1/resource-groups/{rg}/volume-groups/{v} (CtrlVlmGrpApiCallHandler.modify): properties
 * set and deleted under the volume definition whitelist, flags added (`GROSS_SIZE`) or removed
 * (`-GROSS_SIZE`); the reply ends with "Resource group '…' modified.". Every resource definition
 * of the group is then updated on its satellites: one that is not connected answers
 * WARN_NOT_CONNECTED. The call's context is a modify of the volume definition object
 * (`RscGrp`, `VlmNr`); its inner one a creation of volume groups (see {@link vgContext}).
 */
export function modifyVg(
  ctl: SimController,
  rgName: string,
  nr: number,
  body: Record<string, unknown>,
): SimReply {
  const refs = { RscGrp: rgName, VlmNr: String(nr) };
  const inner = vgContext(rgName);
  inner.ctx.refs = { ...refs, ...inner.ctx.refs };
  return describingErrors(inner.ctx, inner.description, () => {
    const { g, vg } = loadVg(ctl, rgName, asVlmNr(nr));
    const out: SimRc[] = [];
    const before = JSON.stringify(vg.props);
    editProps("volume-group", vg.props, body, out);
    const flags = asStrings(body.flags) ?? [];
    for (const f of flags) {
      const flag = f.startsWith("-") ? f.slice(1) : f;
      if (!VG_FLAGS.includes(flag)) {
        // Enum.valueOf's refusal, reported as an unhandled exception of the creation
        fail(
          CODE.FAIL_UNKNOWN_ERROR,
          `Creation of volume groups for resource group '${rgName}' failed due to an unhandled ` +
            "exception of type IllegalArgumentException. No enum constant " +
            `com.linbit.linstor.core.objects.VolumeGroup.Flags.${flag}`,
          { error_report_ids: [errorReportId()] },
        );
      }
    }
    for (const f of flags) {
      if (f.startsWith("-")) vg.flags = vg.flags.filter((x) => x !== f.slice(1));
      else if (!vg.flags.includes(f)) vg.flags.push(f);
    }
    out.push(
      rc(MASK_CRT | OBJ.VLM_GRP, CODE.MODIFIED, `Resource group '${g.name}' modified.`, {
        details: `Resource group '${g.name}' UUID is: ${g.uuid}`,
        obj_refs: { ...inner.ctx.refs, UUID: g.uuid },
      }),
    );
    if (flags.length || JSON.stringify(vg.props) !== before) {
      for (const rd of ctl.state.rds) {
        if (k(rd.rg) !== k(g.name)) continue;
        for (const r of rd.rscs) {
          if (!ctl.isOnline(r.node)) {
            out.push(notConnectedWarning(r.node, { details: NOT_CONNECTED_DETAILS }));
          }
        }
      }
    }
    return rcReply(out, { op: MASK_MOD, obj: OBJ.VLM_DFN, refs }, 200);
  });
}

/**
 * DELETE /v1/resource-groups/{rg}/volume-groups/{v} (CtrlVlmGrpApiCallHandler.delete): the
 * volume group goes; nothing refuses it (definitions spawned from it keep their volumes). The
 * entries carry the handler's creation context (see {@link vgContext}).
 */
export function deleteVg(ctl: SimController, rgName: string, nr: number): SimReply {
  const { ctx, description } = vgContext(rgName);
  return describingErrors(ctx, description, () => {
    const { g, vg } = loadVg(ctl, rgName, asVlmNr(nr));
    g.vgs = g.vgs.filter((x) => x !== vg);
    const own = `Volume group with number '${vg.nr}' of resource group '${rgName}'`;
    return rcReply(
      [rc(0n, CODE.DELETED, `${own} deleted.`, {
        details: `${own} UUID was: ${vg.uuid}`,
        obj_refs: { UUID: vg.uuid, VlmGrp: rgName },
      })],
      ctx,
      200,
    );
  });
}

/**
 * The name of a definition to create from the request's name and external name (ext_names.ts):
 * names are compared without case, external names exactly.
 */
function rdName(
  ctl: SimController,
  name: string,
  ext: string | undefined,
): { name: string; ext?: string } {
  return nameFromExternal(
    name,
    ext,
    (n) => ctl.rd(n) !== undefined,
    (x) => ctl.state.rds.some((rd) => rd.extName === x),
  );
}

/** POST /v1/resource-groups/{rg}/spawn (one transaction: RD + VDs + autoplace). */
export function spawn(ctl: SimController, rgName: string, body: Record<string, unknown>): SimReply {
  // the spawn's context is the group: entries without their own object mask get MASK_RSC_GRP
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC_GRP };
  const extName = typeof body.resource_definition_external_name === "string"
    ? body.resource_definition_external_name
    : undefined;
  const name = rdName(ctl, String(body.resource_definition_name ?? ""), extName).name;
  ctx.refs = { RscDfn: name };
  return ctl.tx([name], () => {
    const g = ctl.needRg(rgName);
    const sizes = (body.volume_sizes as number[] | undefined) ?? [];
    const out: SimRc[] = [];
    const partial = body.partial === true || g.vgs.length === 0;
    if (g.vgs.length === 0 && body.partial !== true) {
      out.push(
        rc(
          MASK_INFO | OBJ.RSC_GRP,
          0,
          "Resource-group doesn't have any volume-groups, automatically assume partial mode.",
        ),
      );
    }
    if (!partial && sizes.length !== g.vgs.length) {
      fail(
        CODE.FAIL_INVLD_VLM_SIZES,
        `Invalid count of volume sizes to spawn resource group '${g.name}'`,
        {
          details:
            `The resource group '${g.name}' has ${g.vgs.length} Volume groups, but only ${sizes.length} sizes were provided.`,
          correction:
            "Either provide the correct count of volume sizes or use the 'partial' option",
        },
      );
    }
    const rd = createRd(
      ctl,
      name,
      g.name,
      (body.resource_definition_props as Record<string, string>) ?? {},
      out,
    );
    if (extName) rd.extName = extName;
    sizes.forEach((s, i) => {
      const vg = g.vgs[i];
      newCurrentGi(createVd(ctl, rd, vg ? vg.nr : i, s, vg ? [...vg.flags] : [], {}, out));
    });
    const filter = mergedFilter(g, cleanFilter(body.select_filter));
    if (typeof filter.place_count === "number" && body.definitions_only !== true) {
      autoplace(ctl, rd, filter, out);
    } else {
      const reason = typeof filter.place_count !== "number"
        ? "No autoplace configuration in the given resource group (at least place-count required)"
        : "--definitions-only was set";
      out.push(
        rc(
          MASK_INFO,
          CODE.INFO_NO_RSC_SPAWNED,
          `Resource definition ${rd.name} and ${sizes.length} created but no resources deployed`,
          { details: reason },
        ),
      );
    }
    return rcReply(out, ctx, 201);
  });
}

/** Add a resource definition of group `rgName` to the state (its CREATED entry goes to `out`). */
export function createRd(
  ctl: SimController,
  name: string,
  rgName: string,
  props: Record<string, string>,
  out: SimRc[],
): SimRd {
  if (!isLinstorName(name)) fail(CODE.FAIL_INVLD_RSC_NAME, `Invalid resource name '${name}'.`);
  if (ctl.rd(name)) {
    fail(CODE.FAIL_EXISTS_RSC_DFN, `A resource definition with the name '${name}' already exists`);
  }
  const g = ctl.needRg(rgName);
  const rd: SimRd = {
    name,
    rg: g.name,
    props: {},
    flags: [],
    port: ctl.state.nextPort++,
    vds: [],
    rscs: [],
    snaps: [],
    created: Date.now(),
    uuid: uuid(),
  };
  ctl.addRd(rd);
  setProps("resource-definition", rd.props, props, out);
  out.push(
    rc(0n | OBJ.RSC_DFN | MASK_CRT, CODE.CREATED, `New resource definition '${name}' created.`, {
      details: `Resource definition '${name}' UUID is: ${rd.uuid}`,
    }),
  );
  return rd;
}

/** Add volume definition `nr` to `rd` (its CREATED entry goes to `out`). */
export function createVd(
  ctl: SimController,
  rd: SimRd,
  nr: number,
  sizeKib: number,
  flags: string[],
  props: Record<string, string>,
  out: SimRc[],
  minor?: number,
): SimVd {
  if (!Number.isInteger(sizeKib) || sizeKib <= 0) {
    fail(CODE.FAIL_INVLD_VLM_SIZE, `Invalid volume size ${sizeKib} KiB.`);
  }
  if (rd.vds.some((v) => v.nr === nr)) {
    fail(
      CODE.FAIL_EXISTS_VLM_DFN,
      `A volume definition with the number ${nr} already exists in resource definition '${rd.name}'.`,
    );
  }
  const vd: SimVd = {
    nr,
    sizeKib,
    props: {},
    flags,
    minor: allocMinor(ctl, minor),
    uuid: uuid(),
  };
  setProps("volume-definition", vd.props, props, out);
  rd.vds.push(vd);
  rd.vds.sort((a, b) => a.nr - b.nr);
  out.push(
    rc(
      0n | OBJ.VLM_DFN | MASK_CRT,
      CODE.CREATED,
      `New volume definition with number '${nr}' of resource definition '${rd.name}' created.`,
    ),
  );
  return vd;
}

/** POST /v1/resource-definitions. */
export function createRdApi(ctl: SimController, body: Record<string, unknown>): SimReply {
  const def = (body.resource_definition ?? {}) as Record<string, unknown>;
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC_DFN };
  const named = rdName(
    ctl,
    String(def.name ?? ""),
    typeof def.external_name === "string" ? def.external_name : undefined,
  );
  const name = named.name;
  ctx.refs = { RscDfn: name };
  return ctl.tx([name], () => {
    const out: SimRc[] = [];
    const rd = createRd(
      ctl,
      name,
      typeof def.resource_group_name === "string" && def.resource_group_name !== ""
        ? def.resource_group_name
        : "DfltRscGrp",
      (def.props as Record<string, string>) ?? {},
      out,
    );
    if (named.ext) rd.extName = named.ext;
    if (typeof body.drbd_port === "number") rd.port = body.drbd_port;
    if (typeof body.drbd_secret === "string") rd.secret = body.drbd_secret;
    // The DRBD layer data (and its peer slots) is made now when the request carries DRBD data
    // or the group has peer slots; the RD's own properties are set after it.
    const slots = intField(body.drbd_peer_slots);
    const layers = Array.isArray(def.layer_data) ? def.layer_data as { type?: string }[] : [];
    if (
      slots !== undefined || body.drbd_port != null || body.drbd_secret != null ||
      body.drbd_transport_type != null || layers.some((l) => l?.type === "DRBD") ||
      ctl.rg(rd.rg)?.peerSlots !== undefined
    ) {
      const props = rd.props;
      rd.props = {};
      ensureDrbdLayer(ctl, rd, slots);
      rd.props = props;
    }
    return rcReply(out, ctx, 201);
  });
}

/** PUT /v1/resource-definitions/{r}: properties and resource group. */
export function modifyRd(
  ctl: SimController,
  name: string,
  body: Record<string, unknown>,
): SimReply {
  const ctx: RcContext = { op: MASK_MOD, obj: OBJ.RSC_DFN, refs: { RscDfn: name } };
  const rd = ctl.needRd(name);
  ctl.touch(rd.name);
  const out: SimRc[] = [];
  const slots = intField(body.drbd_peer_slots);
  if (slots !== undefined) ensureDrbdLayer(ctl, rd, slots);
  if (typeof body.resource_group === "string" && body.resource_group !== "") {
    const g = ctl.needRg(body.resource_group);
    rd.rg = g.name;
  }
  editProps("resource-definition", rd.props, body, out);
  out.push(rc(0n, CODE.MODIFIED, `Resource definition '${rd.name}' modified.`, {
    details: `Resource definition '${rd.name}' UUID is: ${rd.uuid}`,
  }));
  return rcReply(out, ctx, 200);
}

/** DELETE /v1/resource-definitions/{r} (refused with snapshots or while in use). */
export function deleteRd(ctl: SimController, name: string): SimReply {
  const ctx: RcContext = { op: MASK_DEL, obj: OBJ.RSC_DFN, refs: { RscDfn: name } };
  const rd = ctl.rd(name);
  if (!rd) {
    return rcReply(
      [rc(MASK_WARN, CODE.WARN_NOT_FOUND, `Resource definition: ${name} not found.`)],
      ctx,
      200,
    );
  }
  if (rd.snaps.length) {
    fail(
      CODE.FAIL_EXISTS_SNAPSHOT_DFN,
      `Cannot delete resource definition '${rd.name}' because it has snapshots.`,
    );
  }
  const used = rd.rscs.find((r) => ctl.isInUse(rd, r.node));
  if (used) {
    fail(CODE.FAIL_IN_USE, `Resource '${rd.name}' on node '${used.node}' is still in use.`, {
      cause: "Resource is mounted/in use.",
      correction: `Un-mount resource '${rd.name}' on the node '${used.node}'.`,
    });
  }
  ctl.removeRd(rd);
  for (const key of Object.keys(ctl.state.inUse)) {
    if (key.startsWith(`${k(rd.name)}/`)) delete ctl.state.inUse[key];
  }
  ctl.state.clones = ctl.state.clones.filter((c) => k(c.dst) !== k(rd.name));
  return rcReply(
    [rc(0n, CODE.DELETED, `Resource definition '${rd.name}' deleted.`, {
      details: `Resource definition '${rd.name}' UUID was: ${rd.uuid}`,
    })],
    ctx,
    200,
  );
}

/** POST /v1/resource-definitions/{r}/volume-definitions. */
export function createVdApi(
  ctl: SimController,
  name: string,
  body: Record<string, unknown>,
): SimReply {
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.VLM_DFN, refs: { RscDfn: name } };
  return ctl.tx([name], () => {
    const rd = ctl.needRd(name);
    const def = (body.volume_definition ?? {}) as Record<string, unknown>;
    const nr = typeof def.volume_number === "number"
      ? def.volume_number
      : (rd.vds.length ? Math.max(...rd.vds.map((v) => v.nr)) + 1 : 0);
    const out: SimRc[] = [];
    const minor = intField(body.drbd_minor_number);
    // an explicit minor makes the definition's DRBD layer data (VolumeDefinitions.create ->
    // ensureVlmDfnLayerDataExits)
    if (minor !== undefined) ensureDrbdLayer(ctl, rd);
    const vd = createVd(
      ctl,
      rd,
      nr,
      Number(def.size_kib),
      asStrings(def.flags) ?? [],
      (def.props as Record<string, string>) ?? {},
      out,
      minor,
    );
    newCurrentGi(vd);
    return rcReply(out, ctx, 201);
  });
}

/**
 * PUT /v1/resource-definitions/{r}/volume-definitions/{v}: grow (never shrink a deployed volume)
 * and properties.
 */
export function modifyVd(
  ctl: SimController,
  name: string,
  nr: number,
  body: Record<string, unknown>,
): SimReply {
  const ctx: RcContext = {
    op: MASK_MOD,
    obj: OBJ.VLM_DFN,
    refs: { RscDfn: name, VlmNr: String(nr) },
  };
  return ctl.tx([name], () => {
    asVlmNr(nr);
    const rd = ctl.needRd(name);
    const vd = rd.vds.find((v) => v.nr === nr);
    if (!vd) {
      fail(
        CODE.FAIL_NOT_FOUND_VLM_DFN,
        `Volume definition ${nr} of resource definition '${rd.name}' not found.`,
      );
    }
    const out: SimRc[] = [];
    if (typeof body.size_kib === "number") {
      if (body.size_kib < vd.sizeKib && rd.rscs.some((r) => !r.diskless)) {
        fail(CODE.FAIL_INVLD_VLM_SIZE, "Deployed volumes can only grow in size, not shrink.", {
          correction:
            "If you want to shrink the volume definition, you have to remove all volumes of this volume definition first.",
        });
      }
      if (body.size_kib <= 0) {
        fail(CODE.FAIL_INVLD_VLM_SIZE, `Invalid volume size ${body.size_kib} KiB.`);
      }
      if (body.size_kib !== vd.sizeKib) {
        // the resize has to reach every satellite holding the resource
        ctl.needConnected(rd.rscs, (n) => `No connection to satellite '${n}'`);
      }
      if (body.size_kib === vd.sizeKib) {
        out.push(
          rc(
            MASK_WARN,
            CODE.WARN_VLMDFN_RESIZE_SAME_SIZE,
            "New size equals the current size, nothing to do.",
          ),
        );
      }
      vd.sizeKib = body.size_kib;
    }
    editProps("volume-definition", vd.props, body, out);
    out.push(
      rc(
        0n,
        CODE.MODIFIED,
        `Volume definition with number '${vd.nr}' of resource definition '${rd.name}' modified.`,
      ),
    );
    return rcReply(out, ctx, 200);
  });
}

/** The property naming how ZFS volumes are deleted (ZfsDeleteStrategy). */
const ZFS_DELETE_STRATEGY = "StorDriver/Zfs/DeleteStrategy";

/**
 * DELETE /v1/resource-definitions/{r}/volume-definitions/{v} (CtrlVlmDfnDeleteApiCallHandler):
 * the volume definition is marked for deletion, every resource's volume of that number is
 * deleted on its satellite ("Deleted volume N of 'R' on 'node'"; one not connected warns and
 * catches up when it is back), then the definition goes. Refused while a resource of the
 * definition is in use, and, with the ZFS delete strategy `DELETE`, while it has snapshots
 * (ZfsChecks); snapshots keep their own volumes otherwise, and the last volume definition may
 * go too. A missing definition or number is WARN_NOT_FOUND. Errors end their details with the
 * volume definition's description, as the controller reports them.
 */
export function deleteVd(ctl: SimController, name: string, nr: number): SimReply {
  const ctx: RcContext = {
    op: MASK_DEL,
    obj: OBJ.VLM_DFN,
    refs: { RscDfn: name, VlmNr: String(nr) },
  };
  const description = `Resource definition: ${name}, Volume number: ${nr}`;
  return ctl.tx([name], () =>
    describingErrors(ctx, description, () => {
      asVlmNr(nr);
      const rd = ctl.rd(name);
      const vd = rd?.vds.find((v) => v.nr === nr);
      if (!rd || !vd) {
        throw new SimApiError(rc(MASK_WARN, CODE.WARN_NOT_FOUND, `${description} not found.`));
      }
      const used = rd.rscs.find((r) => ctl.isInUse(rd, r.node));
      if (used) {
        throw new SimApiError(
          rc(
            MASK_ERROR | OBJ.RSC_DFN | MASK_DEL,
            CODE.FAIL_IN_USE,
            `Resource '${name}' on node '${used.node}' is still in use.`,
            {
              cause: "Resource is mounted/in use.",
              correction: `Un-mount resource '${name}' on the node '${used.node}'.`,
              error_report_ids: [errorReportId()],
            },
          ),
        );
      }
      const strategy = rdProp(ctl, rd, ZFS_DELETE_STRATEGY) ??
        ctl.state.ctrlProps?.[ZFS_DELETE_STRATEGY];
      if (rd.snaps.length && strategy?.toUpperCase() === "DELETE") {
        fail(
          FAIL_EXISTS_SNAPSHOT,
          `Cannot use DELETE strategy since the resource definition '${rd.name}' still has snapshots`,
        );
      }
      const own = `Volume definition with number '${nr}' of resource definition '${rd.name}'`;
      const out: SimRc[] = [
        rc(0n, CODE.DELETED, `${own} marked for deletion.`, {
          details: `${own} UUID is: ${vd.uuid}`,
        }),
      ];
      for (const r of rd.rscs) {
        if (!ctl.isOnline(r.node)) {
          out.push(notConnectedWarning(r.node, { details: NOT_CONNECTED_DETAILS }));
        }
        out.push(rc(0n, CODE.MODIFIED, `Deleted volume ${nr} of '${name}' on '${r.node}'`));
        // the volume's own properties go with it
        if (r.vlmProps?.[nr]) {
          delete r.vlmProps[nr];
          if (!Object.keys(r.vlmProps).length) delete r.vlmProps;
        }
      }
      rd.vds = rd.vds.filter((v) => v !== vd);
      out.push(
        rc(0n, CODE.DELETED, `${own} deleted.`, { details: `${own} UUID was: ${vd.uuid}` }),
      );
      return rcReply(out, ctx, 200);
    }));
}
