/**
 * A backend whose implementation loads on its first call.
 *
 * Opening a backend is synchronous (an action asks `ctx.backend(ds)` and calls it), but the code
 * of a store (its client, its rules) is a large part of what an action would load at start-up.
 * Each store's `open` therefore returns this stand-in: it knows the store's kind and device
 * paths at once, and imports the store's module in the background from the moment it is opened
 * (awaited by the first call), so a LINSTOR action never loads the StorPool code, nor an action
 * that opens no store either.
 */
import type {
  Attachment,
  AttachOptions,
  Backend,
  BackendStats,
  Capacity,
  CloneOptions,
  CreateOptions,
  Leftover,
  LeftoverRef,
  PlacementBase,
  SnapshotInfo,
  UsageFigures,
  UsageVolume,
  VolumeInfo,
} from "./types.ts";

/** The loaded-or-not state's stats before the first call: nothing was asked. */
const NO_REQUESTS: BackendStats = Object.freeze({ requests: 0, bytes: 0 });

/** The stand-in (see the module doc). */
export class DeferredBackend<P extends PlacementBase> implements Backend<P> {
  #impl: Backend<P> | undefined;
  #loading: Promise<Backend<P>> | undefined;
  readonly #load: () => Promise<Backend<P>>;
  readonly #devicePath: (volume: string) => string;

  /**
   * @param kind the store's kind, as the real backend reports it
   * @param devicePath the store's device path rule (must equal the real backend's)
   * @param load imports the store's module and opens the real backend
   */
  constructor(
    readonly kind: string,
    devicePath: (volume: string) => string,
    load: () => Promise<Backend<P>>,
  ) {
    this.#devicePath = devicePath;
    this.#load = load;
    // A backend is opened to be used: its code starts loading now, beside the action's other
    // waits (oned, host commands) rather than after them; a failure surfaces on first use.
    this.#b().catch(() => {});
  }

  /** The real backend, loaded on first use. */
  #b(): Promise<Backend<P>> {
    this.#loading ??= this.#load().then((b) => this.#impl = b);
    return this.#loading;
  }

  get stats(): BackendStats {
    return this.#impl?.stats ?? NO_REQUESTS;
  }

  devicePath(volume: string): string {
    return this.#devicePath(volume);
  }

  async getVolume(volume: string): Promise<VolumeInfo | null> {
    return await (await this.#b()).getVolume(volume);
  }
  async createVolume(volume: string, sizeMiB: number, opts: CreateOptions<P>): Promise<boolean> {
    return await (await this.#b()).createVolume(volume, sizeMiB, opts);
  }
  async deleteVolume(volume: string, opts?: { immediate?: boolean }): Promise<void> {
    return await (await this.#b()).deleteVolume(volume, opts);
  }
  async cloneVolume(source: string, target: string, opts: CloneOptions<P>): Promise<boolean> {
    return await (await this.#b()).cloneVolume(source, target, opts);
  }
  async resizeVolume(volume: string, sizeMiB: number): Promise<number> {
    return await (await this.#b()).resizeVolume(volume, sizeMiB);
  }
  async renameVolume(volume: string, newName: string): Promise<void> {
    return await (await this.#b()).renameVolume(volume, newName);
  }
  async listSnapshots(volume: string): Promise<SnapshotInfo[]> {
    return await (await this.#b()).listSnapshots(volume);
  }
  async createSnapshot(volume: string, snapshot: string): Promise<void> {
    return await (await this.#b()).createSnapshot(volume, snapshot);
  }
  async createSnapshots(items: { volume: string; snapshot: string }[]): Promise<void> {
    return await (await this.#b()).createSnapshots(items);
  }
  async deleteSnapshot(volume: string, snapshot: string): Promise<void> {
    return await (await this.#b()).deleteSnapshot(volume, snapshot);
  }
  async rollbackSnapshot(volume: string, snapshot: string): Promise<void> {
    return await (await this.#b()).rollbackSnapshot(volume, snapshot);
  }
  async openSnapshot(
    volume: string,
    snapshot: string,
    host: string,
    scratch: string,
    placement: P,
  ): Promise<string> {
    return await (await this.#b()).openSnapshot(volume, snapshot, host, scratch, placement);
  }
  async closeSnapshot(
    volume: string,
    snapshot: string,
    host: string,
    scratch: string,
  ): Promise<void> {
    return await (await this.#b()).closeSnapshot(volume, snapshot, host, scratch);
  }
  async attachments(volume: string, host?: string): Promise<Attachment[]> {
    return await (await this.#b()).attachments(volume, host);
  }
  async attach(volume: string, host: string, opts?: AttachOptions): Promise<void> {
    return await (await this.#b()).attach(volume, host, opts);
  }
  async detach(volume: string, host: string): Promise<void> {
    return await (await this.#b()).detach(volume, host);
  }
  warmHosts(hosts: readonly string[]): void {
    this.#b().then((b) => b.warmHosts(hosts)).catch(() => {});
  }
  async setDualPrimary(volume: string, allow: boolean): Promise<void> {
    return await (await this.#b()).setDualPrimary(volume, allow);
  }
  async setProps(volume: string, props: Record<string, string | null>): Promise<void> {
    return await (await this.#b()).setProps(volume, props);
  }
  async usageVolumes(match: Record<string, string>): Promise<UsageVolume[]> {
    return await (await this.#b()).usageVolumes(match);
  }
  async readUsage(volumes: UsageVolume[]): Promise<Map<string, UsageFigures>> {
    return await (await this.#b()).readUsage(volumes);
  }
  async capacity(placement: P): Promise<Capacity> {
    return await (await this.#b()).capacity(placement);
  }

  async markLeftover(ref: LeftoverRef, owner: string): Promise<void> {
    return await (await this.#b()).markLeftover(ref, owner);
  }
  async clearMark(ref: LeftoverRef): Promise<void> {
    return await (await this.#b()).clearMark(ref);
  }
  async findLeftovers(): Promise<Leftover[]> {
    return await (await this.#b()).findLeftovers();
  }

  /** Close the real backend if it was ever opened (a failed open was already reported). */
  async close(): Promise<void> {
    const b = await this.#loading?.catch(() => undefined);
    await b?.close();
  }
}
