/**
 * The build cache (https://developers.cloudflare.com/workers/ci-cd/builds/build-caching/): per trigger, the package
 * manager's cache directory, restored into the build's HOME before the install step and saved
 * after a successful build. Local to one runner host, under `<dataDir>/cache` (the `root`).
 *
 * Layout:
 *   <root>/<trigger_uuid>/g<generation>-<name>/manifest.json   { version, generation, name, size_bytes, saved_on, last_read }
 *   <root>/<trigger_uuid>/g<generation>-<name>/data/           the saved directory tree
 *   <root>/<trigger_uuid>/.tmp-g<generation>-<name>-<pid>-<rand>/  a save in progress (renamed into place when complete)
 * `name` is the logical cache ("deps" by default; e.g. "build-output" later).
 *
 * Generations: a purge bumps the trigger's generation in the database; an entry of an older
 * generation is treated as absent and deleted (by restore, save and enforceLimits).
 * Atomicity: a save writes a temporary directory and renames it into place, so a complete-looking
 * entry is complete; an entry without a readable manifest or data dir is corrupt and is deleted.
 * Errors: cache problems never throw (restore answers "discarded"/"miss", save answers
 * "failed"); invalid arguments (a trigger uuid or name that is not a plain path segment) throw TypeError.
 *
 * Both directions copy as root between a root-only tree and the build's HOME, so neither may be
 * steered by what the build left there (copyTree): the walk goes descriptor to descriptor
 * (tenant-file.ts), never through a symlink; symlinks are copied as symlinks and never followed;
 * only directories, regular files and symlinks are copied (FIFOs, sockets and devices are
 * skipped: opening a FIFO would wait for a writer forever); a file is opened O_NOFOLLOW|O_NONBLOCK
 * and checked on its descriptor before a byte is copied; a hard-linked file that is not the
 * build user's is skipped; the apparent sizes are added up as the walk goes and a save stops
 * before the first file that would take it over `maxBytes` (a sparse 10 GiB file costs one
 * fstat, not 10 GiB of disk); every entry checks the AbortSignal, so a stopped build's copy ends
 * within one file. Nothing is written through an existing entry: directories are made with
 * mkdir and then opened O_NOFOLLOW, files and links are created O_EXCL (an entry in the way is
 * unlinked first, which removes a symlink, never what it points to).
 */
import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import type { PackageManager } from "./tools.ts";
import { processExists } from "./process-tree.ts";
import { descriptorPath, readTenantFile, TenantDir, TenantFileError } from "./tenant-file.ts";

export const GiB = 1024 ** 3;
const DAY_MS = 24 * 60 * 60 * 1000;
/** A temporary save dir whose process is gone, or older than this, is debris. */
const STALE_TMP_MS = 6 * 60 * 60 * 1000;

export interface CacheManifest {
  version: 1;
  generation: number;
  name: string;
  size_bytes: number;
  saved_on: string;
  last_read: string | null;
}

export type RestoreResult = "hit" | "miss" | "discarded";

export interface Owner {
  uid: number;
  gid: number;
}

export interface RestoreOptions {
  /** `<dataDir>/cache` (see cacheRoot). */
  root: string;
  triggerUuid: string;
  generation: number;
  /** Where the cache goes, e.g. cacheDirFor(manager, home).dir; created (with missing parents) when absent. */
  target: string;
  /** Logical cache name (default "deps"). */
  name?: string;
  /** chown the restored tree (and the parents restore created) to this user, symlinks not followed. */
  owner?: Owner;
  /**
   * The directory Kiln made that holds `target` (the build's work dir or HOME): the parents of
   * `target` below it are made by restore and must not be symlinks. Without it, `target`'s
   * parent is trusted (made with mkdir -p).
   */
  within?: string;
  signal?: AbortSignal;
  now?: Date;
}

export interface SaveOptions {
  root: string;
  triggerUuid: string;
  generation: number;
  /** The directory to save (e.g. cacheDirFor(manager, home).dir). */
  source: string;
  /**
   * When given, `source` must resolve (realpath) inside it, e.g. the build's work dir: a build
   * that replaced its HOME or cache dir with a symlink out of it saves nothing.
   */
  within?: string;
  name?: string;
  now?: Date;
  /** An entry larger than this is not kept (default 10 GiB). */
  maxBytes?: number;
  /** The build user: its hard-linked files are saved, anyone else's are skipped. */
  owner?: Owner;
  signal?: AbortSignal;
}

export type SaveResult =
  | { status: "saved"; sizeBytes: number }
  | { status: "skipped"; reason: string }
  | { status: "failed"; error: string };

export interface LimitOptions {
  maxBytesPerTrigger?: number;
  maxAgeDays?: number;
  now?: Date;
}

/** `<dataDir>/cache`. */
export function cacheRoot(dataDir: string): string {
  return path.join(dataDir, "cache");
}

/**
 * The package manager's cache directory inside the build's HOME, and the environment variables
 * that make the manager use it (add them to the build's env for every step).
 */
export function cacheDirFor(manager: PackageManager, home: string): { dir: string; env: Record<string, string> } {
  switch (manager) {
    case "npm": {
      const dir = path.join(home, ".npm");
      return { dir, env: { npm_config_cache: dir } };
    }
    case "pnpm": {
      // Explicit: without it pnpm puts the store at the filesystem root when HOME is on another filesystem.
      const dir = path.join(home, ".local", "share", "pnpm", "store");
      return { dir, env: { npm_config_store_dir: dir, pnpm_config_store_dir: dir } };
    }
    case "yarn": {
      // Yarn 1 uses YARN_CACHE_FOLDER; Yarn 2+ (global cache on by default) keeps its cache under
      // YARN_GLOBAL_FOLDER/cache, here inside the same directory.
      const dir = path.join(home, ".cache", "yarn");
      return { dir, env: { YARN_CACHE_FOLDER: dir, YARN_GLOBAL_FOLDER: path.join(dir, "berry") } };
    }
    case "bun": {
      const dir = path.join(home, ".bun", "install", "cache");
      return { dir, env: { BUN_INSTALL_CACHE_DIR: dir } };
    }
  }
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

function checkArgs(triggerUuid: string, generation: number, name: string): void {
  if (!SEGMENT.test(triggerUuid)) throw new TypeError(`invalid trigger uuid ${JSON.stringify(triggerUuid)}`);
  if (!SEGMENT.test(name)) throw new TypeError(`invalid cache name ${JSON.stringify(name)}`);
  if (!Number.isSafeInteger(generation) || generation < 0) throw new TypeError(`invalid cache generation ${generation}`);
}

const ENTRY = /^g(\d+)-([A-Za-z0-9][A-Za-z0-9_-]*)$/;
const TMP = /^\.tmp-g(\d+)-([A-Za-z0-9][A-Za-z0-9_-]*)-(\d+)-[0-9a-f]+$/;

function entryName(generation: number, name: string): string {
  return `g${generation}-${name}`;
}

/** Copies the saved cache into `target`. Never throws for cache problems. */
export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  const name = opts.name ?? "deps";
  checkArgs(opts.triggerUuid, opts.generation, name);
  const dir = path.join(opts.root, opts.triggerUuid);
  const now = opts.now ?? new Date();
  let discarded = false;

  // Older generations (purged) and debris of saves that died half-way go first.
  for (const entry of await list(dir)) {
    const e = ENTRY.exec(entry);
    if (e && Number(e[1]) < opts.generation) {
      await remove(path.join(dir, entry));
      continue;
    }
    const t = TMP.exec(entry);
    if (t && t[2] === name && Number(t[1]) <= opts.generation && (await staleTmp(path.join(dir, entry), Number(t[3]), now))) {
      await remove(path.join(dir, entry));
      discarded = true;
    }
  }

  const entry = path.join(dir, entryName(opts.generation, name));
  if (!(await exists(entry))) return discarded ? "discarded" : "miss";
  const manifest = await readManifest(entry);
  const dataDir = path.join(entry, "data");
  if (!manifest || manifest.generation !== opts.generation || manifest.name !== name || !(await isDir(dataDir))) {
    await remove(entry);
    return "discarded";
  }

  let parent: { dir: TenantDir; created: string | undefined } | undefined;
  let source: TenantDir | undefined;
  const targetName = path.basename(opts.target);
  const targetExisted = await exists(opts.target);
  try {
    parent = await makeParents(opts.target, opts.within);
    // Something other than a directory in the target's place (the build's own): nothing is restored.
    const inPlace = await parent.dir.lstat(targetName).catch(() => undefined);
    if (inPlace && !inPlace.isDirectory()) {
      await parent.dir.close();
      return "miss";
    }
    source = await TenantDir.open(dataDir);
    // No more than the save counted: an entry that grew since is not what was saved.
    await copyTree(source, parent.dir, targetName, { maxBytes: manifest.size_bytes, ...(opts.owner ? { chown: opts.owner } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (error) {
    await source?.close();
    await parent?.dir.close();
    if (error instanceof Aborted || opts.signal?.aborted) return "miss";
    // The target's place is a symlink or a file of the build's: nothing restored, the entry is fine.
    if (error instanceof TenantFileError && parent === undefined) return "miss";
    // Removed under us (a purge or eviction) is a miss; anything else is a broken entry.
    if (!targetExisted) await remove(opts.target);
    if (!(await exists(entry))) return "miss";
    await remove(entry);
    return "discarded";
  }
  await source.close();
  await parent.dir.close();
  if (opts.owner && parent.created) {
    try {
      await chownParents(parent.created, path.dirname(opts.target), opts.owner);
    } catch {
      // best effort: the sandbox gives HOME to the build user before each step anyway
    }
  }
  await writeManifest(entry, { ...manifest, last_read: now.toISOString() }).catch(() => undefined);
  return "hit";
}

/** Saves `source` as the trigger's cache of this generation: temp dir, then rename. Never throws for cache problems. */
export async function save(opts: SaveOptions): Promise<SaveResult> {
  const name = opts.name ?? "deps";
  checkArgs(opts.triggerUuid, opts.generation, name);
  const now = opts.now ?? new Date();
  const maxBytes = opts.maxBytes ?? 10 * GiB;
  const dir = path.join(opts.root, opts.triggerUuid);

  let st: Stats;
  try {
    st = await fs.lstat(opts.source);
  } catch {
    return { status: "skipped", reason: "nothing to save" };
  }
  if (!st.isDirectory()) return { status: "skipped", reason: "the cache directory is not a directory" };
  if (opts.within !== undefined) {
    const real = await fs.realpath(opts.source).catch(() => "");
    const base = await fs.realpath(opts.within).catch(() => "");
    if (!real || !base || !(real === base || real.startsWith(base.endsWith("/") ? base : `${base}/`))) {
      return { status: "skipped", reason: "the cache directory resolves outside the build" };
    }
  }

  const tmp = path.join(dir, `.tmp-${entryName(opts.generation, name)}-${process.pid}-${randomBytes(6).toString("hex")}`);
  const final = path.join(dir, entryName(opts.generation, name));
  let from: TenantDir | undefined;
  let into: TenantDir | undefined;
  try {
    // The source is reached from `within` without following a symlink on the way (realpath
    // above said where it is; this makes sure it is still there when it is opened).
    from = opts.within !== undefined ? await TenantDir.open(opts.within, path.relative(opts.within, opts.source)) : await TenantDir.open(opts.source);
    await fs.mkdir(tmp, { recursive: true });
    into = await TenantDir.open(tmp);
    let size: number;
    try {
      size = await copyTree(from, into, "data", { maxBytes, ...(opts.owner ? { ownerUid: opts.owner.uid } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (error) {
      if (!(error instanceof TooLarge)) throw error;
      await remove(tmp);
      return { status: "skipped", reason: `the cache is ${error.bytes} bytes or more, over the limit of ${maxBytes}` };
    } finally {
      await from.close();
      await into.close();
    }
    const manifest: CacheManifest = { version: 1, generation: opts.generation, name, size_bytes: size, saved_on: now.toISOString(), last_read: null };
    await writeManifest(tmp, manifest);
    // Replace any previous entry: move it aside (rename is atomic), move the new one in, drop the old.
    let old: string | undefined;
    if (await exists(final)) {
      old = path.join(dir, `.old-${entryName(opts.generation, name)}-${randomBytes(6).toString("hex")}`);
      await fs.rename(final, old).catch(() => (old = undefined));
    }
    await fs.rename(tmp, final);
    if (old) await remove(old);
    for (const entry of await list(dir)) {
      const e = ENTRY.exec(entry);
      if (e && Number(e[1]) < opts.generation) await remove(path.join(dir, entry));
    }
    return { status: "saved", sizeBytes: size };
  } catch (error) {
    await from?.close();
    await remove(tmp);
    if (error instanceof TenantFileError) return { status: "skipped", reason: error.message };
    return { status: "failed", error: (error as Error).message };
  }
}

export interface EvictionReport {
  /** Paths deleted (entries, debris, empty trigger dirs). */
  deleted: string[];
  bytesFreed: number;
}

/**
 * Per trigger: deletes entries not read for `maxAgeDays` (never read: since saved), corrupt
 * entries and stale temporary dirs; then, while the trigger's entries add up to more than
 * `maxBytesPerTrigger`, deletes the least recently read. Empty trigger dirs go too.
 */
export async function enforceLimits(root: string, opts: LimitOptions = {}): Promise<EvictionReport> {
  const maxBytes = opts.maxBytesPerTrigger ?? 10 * GiB;
  const maxAgeMs = (opts.maxAgeDays ?? 7) * DAY_MS;
  const now = opts.now ?? new Date();
  const report: EvictionReport = { deleted: [], bytesFreed: 0 };
  const drop = async (p: string, bytes = 0) => {
    await remove(p);
    report.deleted.push(p);
    report.bytesFreed += bytes;
  };

  for (const trigger of await list(root)) {
    const tdir = path.join(root, trigger);
    if (trigger.startsWith(".purge-")) {
      await drop(tdir);
      continue;
    }
    if (!(await isDir(tdir))) continue;
    const live: { path: string; size: number; lastUsed: number }[] = [];
    for (const entry of await list(tdir)) {
      const p = path.join(tdir, entry);
      const t = TMP.exec(entry);
      if (t) {
        if (await staleTmp(p, Number(t[3]), now)) await drop(p);
        continue;
      }
      if (entry.startsWith(".old-")) {
        if (await staleTmp(p, -1, now)) await drop(p);
        continue;
      }
      if (!ENTRY.test(entry)) continue;
      const m = await readManifest(p);
      if (!m) {
        await drop(p);
        continue;
      }
      const lastUsed = Date.parse(m.last_read ?? m.saved_on);
      if (!Number.isFinite(lastUsed) || now.getTime() - lastUsed > maxAgeMs) {
        await drop(p, m.size_bytes);
        continue;
      }
      live.push({ path: p, size: m.size_bytes, lastUsed });
    }
    live.sort((a, b) => a.lastUsed - b.lastUsed);
    let total = live.reduce((sum, e) => sum + e.size, 0);
    while (total > maxBytes && live.length > 0) {
      const victim = live.shift()!;
      await drop(victim.path, victim.size);
      total -= victim.size;
    }
    if ((await list(tdir)).length === 0) await fs.rmdir(tdir).then(() => report.deleted.push(tdir), () => undefined);
  }
  return report;
}

/** Deletes every cache of the trigger (all generations): renamed away at once, then removed. */
export async function purge(root: string, triggerUuid: string): Promise<void> {
  checkArgs(triggerUuid, 0, "deps");
  const dir = path.join(root, triggerUuid);
  const trash = path.join(root, `.purge-${triggerUuid}-${randomBytes(6).toString("hex")}`);
  const moved = await fs.rename(dir, trash).then(() => true, () => false);
  await remove(moved ? trash : dir);
}

// ---- helpers ----

class TooLarge extends Error {
  constructor(readonly bytes: number) {
    super(`over the size limit at ${bytes} bytes`);
  }
}

class Aborted extends Error {
  constructor() {
    super("the build was stopped");
  }
}

/** More entries than this in one tree: not a package manager's cache; the copy stops. */
const MAX_ENTRIES = 2_000_000;
/** Deeper than this: the copy stops (each level holds two descriptors). */
const MAX_DEPTH = 128;

interface CopyOptions {
  /** Apparent bytes (regular files and symlinks) after which the copy stops with TooLarge. */
  maxBytes: number;
  /** Skip hard-linked files not owned by this uid (the source is the build's). */
  ownerUid?: number;
  /** lchown everything created to this user (the destination is the build's). */
  chown?: Owner;
  signal?: AbortSignal;
}

/**
 * Copies the directory `from` to `name` inside `into` (see the module comment for what is and is
 * not copied, and why). Returns the apparent bytes copied.
 */
async function copyTree(from: TenantDir, into: TenantDir, name: string, opts: CopyOptions): Promise<number> {
  const state = { bytes: 0, entries: 0 };
  const root = await from.stat();
  await makeDir(into, name, root.mode, opts);
  const dest = await into.dir(name);
  try {
    await copyEntries(from, dest, opts, state, 0);
  } finally {
    await dest.close();
  }
  await fs.lutimes(into.child(name), root.atime, root.mtime).catch(() => undefined);
  return state.bytes;
}

async function copyEntries(from: TenantDir, into: TenantDir, opts: CopyOptions, state: { bytes: number; entries: number }, depth: number): Promise<void> {
  if (depth > MAX_DEPTH) throw new TenantFileError("too-large", `${from.hostPath} is more than ${MAX_DEPTH} directories deep`);
  const listing = await fs.opendir(from.self);
  for await (const entry of listing) {
    if (opts.signal?.aborted) throw new Aborted();
    if (++state.entries > MAX_ENTRIES) throw new TenantFileError("too-large", `more than ${MAX_ENTRIES} entries`);
    const name = entry.name;
    const st = await from.lstat(name).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory()) {
      await makeDir(into, name, st.mode, opts);
      const [sub, dest] = await Promise.all([from.dir(name), into.dir(name)]);
      try {
        await copyEntries(sub, dest, opts, state, depth + 1);
      } finally {
        await sub.close();
        await dest.close();
      }
      await fs.lutimes(into.child(name), st.atime, st.mtime).catch(() => undefined);
    } else if (st.isSymbolicLink()) {
      const target = await fs.readlink(from.child(name));
      state.bytes += Buffer.byteLength(target);
      if (state.bytes > opts.maxBytes) throw new TooLarge(state.bytes);
      await replace(into, name, () => fs.symlink(target, into.child(name)));
      await fs.lutimes(into.child(name), st.atime, st.mtime).catch(() => undefined);
      if (opts.chown) await fs.lchown(into.child(name), opts.chown.uid, opts.chown.gid);
    } else if (st.isFile()) {
      let opened: Awaited<ReturnType<TenantDir["file"]>>;
      try {
        opened = await from.file(name, { maxBytes: Number.POSITIVE_INFINITY, ownerUid: opts.ownerUid });
      } catch (error) {
        // Swapped for something else since the listing, or someone else's hard link: not copied.
        if (error instanceof TenantFileError) continue;
        throw error;
      }
      try {
        state.bytes += opened.stat.size;
        if (state.bytes > opts.maxBytes) throw new TooLarge(state.bytes);
        // The kernel copies from the very file fstat checked (its descriptor, as a path).
        await replace(into, name, () => fs.copyFile(descriptorPath(opened.handle, from.child(name)), into.child(name), fs.constants.COPYFILE_EXCL));
      } finally {
        await opened.handle.close().catch(() => undefined);
      }
      await fs.lutimes(into.child(name), st.atime, st.mtime).catch(() => undefined);
      if (opts.chown) await fs.lchown(into.child(name), opts.chown.uid, opts.chown.gid);
    }
    // FIFOs, sockets and devices: skipped.
  }
}

/** mkdir, or an existing real directory (a symlink or file in the way is an error: TenantDir refuses it). */
async function makeDir(into: TenantDir, name: string, mode: number, opts: CopyOptions): Promise<void> {
  try {
    await fs.mkdir(into.child(name), { mode: mode & 0o7777 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return;
  }
  if (opts.chown) await fs.lchown(into.child(name), opts.chown.uid, opts.chown.gid);
}

/** Creates an entry with `make` (which fails on EEXIST); an entry in the way (not a directory) is unlinked once. */
async function replace(into: TenantDir, name: string, make: () => Promise<void>): Promise<void> {
  try {
    await make();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    await fs.unlink(into.child(name));
    await make();
  }
}

/**
 * The target's parent, opened: made component by component below `within` (each refused when it
 * is a symlink), or with mkdir -p when there is no `within`. `created`: the first directory made.
 */
async function makeParents(target: string, within: string | undefined): Promise<{ dir: TenantDir; created: string | undefined }> {
  const parentPath = path.dirname(target);
  if (within === undefined) {
    const created = await fs.mkdir(parentPath, { recursive: true });
    return { dir: await TenantDir.open(parentPath), created };
  }
  const rel = path.relative(within, parentPath);
  if (rel.startsWith("..") || path.isAbsolute(rel)) throw new TypeError(`${target} is not inside ${within}`);
  let dir = await TenantDir.open(within);
  let created: string | undefined;
  let at = within;
  try {
    for (const part of rel.split("/").filter(Boolean)) {
      at = path.join(at, part);
      const made = await fs.mkdir(dir.child(part)).then(() => true, (error: NodeJS.ErrnoException) => {
        if (error.code !== "EEXIST") throw error;
        return false;
      });
      if (made) created ??= at;
      const next = await dir.dir(part);
      await dir.close();
      dir = next;
    }
  } catch (error) {
    await dir.close();
    throw error;
  }
  return { dir, created };
}

/** lchown each directory from `first` (made by restore) down to `last`. */
async function chownParents(first: string, last: string, owner: Owner): Promise<void> {
  for (let p = last; ; p = path.dirname(p)) {
    await fs.lchown(p, owner.uid, owner.gid);
    if (p === first || p === path.dirname(p)) break;
  }
}

async function readManifest(entry: string): Promise<CacheManifest | null> {
  try {
    // Kiln wrote it, but a FIFO or a huge file there must not hold a build either.
    const read = await readTenantFile(entry, "manifest.json", { maxBytes: 64 * 1024 });
    if (!read.ok) return null;
    const m = JSON.parse(read.data.toString("utf8")) as Partial<CacheManifest> | null;
    if (
      !m ||
      m.version !== 1 ||
      !Number.isSafeInteger(m.generation) ||
      typeof m.name !== "string" ||
      typeof m.size_bytes !== "number" ||
      typeof m.saved_on !== "string" ||
      !(m.last_read === null || typeof m.last_read === "string")
    ) {
      return null;
    }
    return m as CacheManifest;
  } catch {
    return null;
  }
}

/** manifest.json replaced atomically (write aside, rename). */
async function writeManifest(entry: string, m: CacheManifest): Promise<void> {
  const tmp = path.join(entry, `.manifest-${randomBytes(4).toString("hex")}.json`);
  await fs.writeFile(tmp, `${JSON.stringify(m)}\n`);
  await fs.rename(tmp, path.join(entry, "manifest.json"));
}

/** A temp dir is debris when its process is gone (pid ≤ 0: unknown) or it is older than STALE_TMP_MS. */
async function staleTmp(p: string, pid: number, now: Date): Promise<boolean> {
  if (pid > 0 && pid !== process.pid && !processExists(pid)) return true;
  try {
    const st = await fs.lstat(p);
    return now.getTime() - st.mtimeMs > STALE_TMP_MS;
  } catch {
    return false;
  }
}


async function list(dir: string): Promise<string[]> {
  return fs.readdir(dir).catch(() => [] as string[]);
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(() => true, () => false);
}

async function isDir(p: string): Promise<boolean> {
  return fs.lstat(p).then((st) => st.isDirectory(), () => false);
}

async function remove(p: string): Promise<void> {
  await fs.rm(p, { recursive: true, force: true }).catch(() => undefined);
}
