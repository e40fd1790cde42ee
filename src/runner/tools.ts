/**
 * Tool detection and the automatic install step, as Cloudflare's build image does them
 * (https://developers.cloudflare.com/workers/ci-cd/builds/build-image/, docs/build-image.md). Pure functions over the checked-out root directory plus one probe (`toolVersions`)
 * that runs `<tool> --version` on the runner host. The pipeline decides what to do with the
 * answers (log lines, warnings, failing the build); nothing here throws for a broken project.
 *
 * Intended order in the pipeline (after the clone, before the build command):
 *   tools = await detectProject(cwd, env)
 *   versions = await toolVersions(["node", tools.packageManager], env)
 *   versions[manager] === null → fail with missingToolLine(tools)
 *   log detectedToolsLine(tools.packageManager, versions)
 *   nodeVersionWarning(tools, versions.node) → log it when not null
 *   (build cache restore, see build-cache.ts)
 *   cmd = installCommand(tools, env, versions[manager]) → when not null: log installLine(cmd), runStep(cmd)
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { readTenantFile, TenantDir, TenantFileError } from "./tenant-file.ts";

export type PackageManager = "npm" | "pnpm" | "yarn" | "bun";

export const PACKAGE_MANAGERS: readonly PackageManager[] = ["npm", "pnpm", "yarn", "bun"];

/** Lockfiles in precedence order (when several exist, the first found wins). */
const LOCKFILES: readonly [string, PackageManager][] = [
  ["package-lock.json", "npm"],
  ["npm-shrinkwrap.json", "npm"],
  ["pnpm-lock.yaml", "pnpm"],
  ["yarn.lock", "yarn"],
  ["bun.lock", "bun"],
  ["bun.lockb", "bun"],
];

export interface ProjectTools {
  /** The directory inspected (the build's root directory). */
  rootDir: string;
  hasPackageJson: boolean;
  packageManager: PackageManager;
  /** Exact version pinned by package.json `packageManager` ("pnpm@9.1.0+sha512…" → "9.1.0"), else null. */
  packageManagerVersion: string | null;
  /** Why this package manager: package.json `packageManager`, a lockfile, or the npm default. */
  packageManagerSource: "packageManager" | "lockfile" | "default";
  /** The chosen manager's lockfile when present in the root dir (e.g. "pnpm-lock.yaml"), else null. */
  lockfile: string | null;
  /** Every known lockfile present in the root dir, in precedence order. */
  lockfiles: string[];
  /** Node.js version wanted (leading "v" stripped), or null when nothing asks for one. */
  nodeVersion: string | null;
  nodeVersionSource: "NODE_VERSION" | ".nvmrc" | ".node-version" | null;
}

type Env = Record<string, string | undefined>;

/** Files detection reads are at most this large; a larger one counts as absent. */
export const MAX_PROJECT_FILE_BYTES = 4 * 1024 * 1024;

export interface DetectOptions {
  /**
   * The directory Kiln made that holds `rootDir` (the build's checkout): every component from it
   * down to each file read is refused when it is a symlink (the build chose them; Kiln reads as
   * root). Default: `rootDir` itself.
   */
  within?: string;
  /** The build user's uid (see tenant-file.ts): hard-linked files of anyone else are refused. */
  ownerUid?: number;
  signal?: AbortSignal;
  /** Each file read answers within this. */
  timeoutMs?: number;
}

/**
 * Reads package.json, lockfiles and Node version sources in `rootDir`. Never throws for project
 * contents: a file that is a symlink, a FIFO, a device, hard-linked to someone else's file or
 * over MAX_PROJECT_FILE_BYTES counts as absent (the build's own steps still see it).
 */
export async function detectProject(rootDir: string, env: Env = {}, opts: DetectOptions = {}): Promise<ProjectTools> {
  const base = opts.within ?? rootDir;
  const rel = path.relative(base, rootDir);
  const readOpts = {
    maxBytes: MAX_PROJECT_FILE_BYTES,
    ...(opts.ownerUid !== undefined ? { ownerUid: opts.ownerUid } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
  };
  const readText = async (name: string): Promise<string | null> => {
    const read = await readTenantFile(base, path.join(rel, name), readOpts);
    return read.ok ? read.data.toString("utf8") : null;
  };
  const isFile = async (name: string): Promise<boolean> => {
    // Present means: a regular file a build could have committed (its contents are not read).
    let dir: TenantDir | undefined;
    try {
      dir = await TenantDir.open(base, rel);
      const st = await dir.lstat(name);
      return st.isFile();
    } catch (error) {
      if (error instanceof TenantFileError || (error as NodeJS.ErrnoException).code) return false;
      throw error;
    } finally {
      await dir?.close();
    }
  };
  const pkgText = await readText("package.json");
  let hasPackageJson = false;
  let pinned: { manager: PackageManager; version: string | null } | null = null;
  if (pkgText !== null) {
    try {
      const pkg: unknown = JSON.parse(pkgText);
      if (pkg !== null && typeof pkg === "object" && !Array.isArray(pkg)) {
        hasPackageJson = true;
        pinned = parsePackageManagerField((pkg as Record<string, unknown>).packageManager);
      }
    } catch {
      // malformed package.json: treated as absent
    }
  }

  const lockfiles: string[] = [];
  for (const [name] of LOCKFILES) if (await isFile(name)) lockfiles.push(name);

  let packageManager: PackageManager = "npm";
  let packageManagerSource: ProjectTools["packageManagerSource"] = "default";
  if (pinned) {
    packageManager = pinned.manager;
    packageManagerSource = "packageManager";
  } else {
    const first = LOCKFILES.find(([name]) => lockfiles.includes(name));
    if (first) {
      packageManager = first[1];
      packageManagerSource = "lockfile";
    }
  }
  const lockfile = LOCKFILES.find(([name, m]) => m === packageManager && lockfiles.includes(name))?.[0] ?? null;

  let nodeVersion: string | null = null;
  let nodeVersionSource: ProjectTools["nodeVersionSource"] = null;
  const fromEnv = cleanVersion(env.NODE_VERSION ?? "");
  if (fromEnv) {
    nodeVersion = fromEnv;
    nodeVersionSource = "NODE_VERSION";
  } else {
    for (const file of [".nvmrc", ".node-version"] as const) {
      const text = await readText(file);
      const v = text === null ? "" : cleanVersion(firstLine(text));
      if (v) {
        nodeVersion = v;
        nodeVersionSource = file;
        break;
      }
    }
  }

  return {
    rootDir,
    hasPackageJson,
    packageManager,
    packageManagerVersion: pinned?.version ?? null,
    packageManagerSource,
    lockfile,
    lockfiles,
    nodeVersion,
    nodeVersionSource,
  };
}

/** "pnpm@9.1.0+sha512.abc" → pnpm / "9.1.0"; unknown managers and non-strings → null. */
export function parsePackageManagerField(value: unknown): { manager: PackageManager; version: string | null } | null {
  if (typeof value !== "string") return null;
  const m = /^\s*(npm|pnpm|yarn|bun)(?:@([^+\s]*)\S*)?\s*$/.exec(value);
  if (!m) return null;
  return { manager: m[1] as PackageManager, version: m[2] ? m[2] : null };
}

/** SKIP_DEPENDENCY_INSTALL is on for "1" or "true" (case-insensitive, trimmed); anything else is off. */
export function skipDependencyInstall(env: Env): boolean {
  const v = (env.SKIP_DEPENDENCY_INSTALL ?? "").trim().toLowerCase();
  return v === "1" || v === "true";
}

/**
 * The install command, or null when there is none to run (no package.json, or
 * SKIP_DEPENDENCY_INSTALL). Frozen/clean forms only when the manager's lockfile exists (they fail
 * without one):
 * - npm: `npm clean-install --progress=false` with package-lock.json / npm-shrinkwrap.json, else `npm install --progress=false`
 * - pnpm: `pnpm install --frozen-lockfile` (else `pnpm install`)
 * - yarn: Yarn 1 `yarn install --frozen-lockfile`; Yarn 2+ (major ≥ 2 from `managerVersion`,
 *   which is the machine's `yarn --version` or the pinned version) `yarn install --immutable`
 *   (Berry only accepts --frozen-lockfile as a deprecated alias). Unknown version → Yarn 1 form.
 * - bun: `bun install --frozen-lockfile` (else `bun install`)
 */
export function installCommand(tools: ProjectTools, env: Env = {}, managerVersion?: string | null): string | null {
  if (!tools.hasPackageJson || skipDependencyInstall(env)) return null;
  const locked = tools.lockfile !== null;
  switch (tools.packageManager) {
    case "npm":
      return locked ? "npm clean-install --progress=false" : "npm install --progress=false";
    case "pnpm":
      return locked ? "pnpm install --frozen-lockfile" : "pnpm install";
    case "yarn": {
      if (!locked) return "yarn install";
      const major = Number.parseInt(managerVersion ?? tools.packageManagerVersion ?? "", 10);
      return Number.isFinite(major) && major >= 2 ? "yarn install --immutable" : "yarn install --frozen-lockfile";
    }
    case "bun":
      return locked ? "bun install --frozen-lockfile" : "bun install";
  }
}

/** Cloudflare's log line before the install step runs. */
export function installLine(command: string): string {
  return `Installing project dependencies: ${command}`;
}

const TOOL_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

/**
 * How long a tool may take to print its version. `npm --version` takes ~0.2 s on an idle machine
 * and several seconds on one running many builds: past this the build fails saying so.
 */
export const TOOL_PROBE_TIMEOUT_MS = 15_000;

export interface ToolProbe {
  /** Each tool's version, null when it is missing, fails or did not answer in time. */
  versions: Record<string, string | null>;
  /** The tools that did not answer within the timeout (killed): there, but too slow to tell. */
  timedOut: string[];
}

/**
 * `<tool> --version` for each name, on the runner host, as argv (no shell), with only PATH (and
 * HOME when given) in the environment and a timeout. The first line of output with a leading
 * "v" stripped ("v22.16.0" → "22.16.0").
 */
export async function toolVersions(
  names: readonly string[],
  env: { PATH: string; HOME?: string },
  timeoutMs = TOOL_PROBE_TIMEOUT_MS,
  /** Kills the probes (SIGKILL) and answers null for them at once. */
  signal?: AbortSignal,
): Promise<ToolProbe> {
  const childEnv: Record<string, string> = { PATH: env.PATH, COREPACK_ENABLE_DOWNLOAD_PROMPT: "0", NO_UPDATE_NOTIFIER: "1" };
  if (env.HOME) childEnv.HOME = env.HOME;
  const unique = [...new Set(names)];
  const timedOut: string[] = [];
  const results = await Promise.all(
    unique.map(
      (name) =>
        new Promise<string | null>((resolve) => {
          if (!TOOL_NAME.test(name)) return resolve(null);
          execFile(name, ["--version"], { env: childEnv, timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 64 * 1024, cwd: "/", ...(signal ? { signal } : {}) }, (error, stdout) => {
            if (error) {
              // Killed by the timeout (not by the build's abort): the tool exists but did not answer.
              if (error.killed && !signal?.aborted) timedOut.push(name);
              return resolve(null);
            }
            const v = cleanVersion(firstLine(String(stdout)));
            resolve(v || null);
          });
        }),
    ),
  );
  return { versions: Object.fromEntries(unique.map((name, i) => [name, results[i] ?? null])), timedOut };
}

/** The line the build fails with when its package manager did not tell its version in time. */
export function probeTimeoutLine(tool: string, timeoutMs: number): string {
  return `Failed: \`${tool} --version\` did not answer within ${Math.round(timeoutMs / 1000)} s on this build machine (it is overloaded, or the tool hangs)`;
}

/**
 * `Detected the following tools from environment: npm@10.9.2, nodejs@22.16.0` — the package
 * manager first, then Node.js; a tool whose version is unknown (null) is left out.
 */
export function detectedToolsLine(manager: PackageManager, versions: Record<string, string | null | undefined>): string {
  const parts: string[] = [];
  const mv = versions[manager];
  if (mv) parts.push(`${manager}@${stripV(mv)}`);
  const nv = versions.node;
  if (nv) parts.push(`nodejs@${stripV(nv)}`);
  return `Detected the following tools from environment: ${parts.join(", ")}`;
}

/** The line the build fails with when its package manager is not installed on the machine. */
export function missingToolLine(tools: ProjectTools): string {
  const why =
    tools.packageManagerSource === "packageManager"
      ? `package.json "packageManager": "${tools.packageManager}${tools.packageManagerVersion ? `@${tools.packageManagerVersion}` : ""}"`
      : tools.packageManagerSource === "lockfile" && tools.lockfile
        ? tools.lockfile
        : "package.json";
  return `Failed: ${tools.packageManager} is required by this project (${why}) but is not installed on this build machine`;
}

export interface NodeCheck {
  ok: boolean;
  /** Set when the answer could not really be checked (aliases such as "lts/*") or the form is not understood. */
  note?: string;
}

/**
 * Does Node `actual` satisfy the wanted version? Forms: "22", "22.16", "22.16.0" (prefix match,
 * "v" and "x" wildcards allowed: "22.x"), ">=20", ">20", "<=22", "<23", "^22.1", "~22.16".
 * Aliases ("lts/*", "lts/jod", "node", "latest", "stable", "current") cannot be checked
 * offline: ok with a note. Anything else: not ok, with a note.
 */
export function checkNodeVersion(wanted: string, actual: string): NodeCheck {
  const w = stripV(wanted.trim().toLowerCase());
  const a = parseVersion(stripV(actual.trim()));
  if (!a) return { ok: false, note: `cannot read the installed Node.js version "${actual}"` };
  if (/^(lts\/.+|node|latest|stable|current|lts)$/.test(w)) {
    return { ok: true, note: `"${wanted}" is an alias; the installed Node.js ${a.join(".")} is used` };
  }
  const range = /^(>=|<=|>|<|\^|~|=)?\s*v?(\d+(?:\.(?:\d+|x|\*)){0,2})$/.exec(w);
  if (!range) return { ok: false, note: `unrecognised Node.js version "${wanted}"` };
  const op = range[1] ?? "";
  const parts = (range[2] ?? "").split(".");
  const fixed = parts.filter((p) => /^\d+$/.test(p)).map(Number);
  // "22.x.5" style: a wildcard ends the fixed prefix
  const prefix: number[] = [];
  for (const p of parts) {
    if (!/^\d+$/.test(p)) break;
    prefix.push(Number(p));
  }
  const full = [prefix[0] ?? 0, prefix[1] ?? 0, prefix[2] ?? 0];
  const cmp = compare(a, full);
  switch (op) {
    case "":
    case "=":
      return { ok: prefix.every((n, i) => a[i] === n) && fixed.length >= 1 };
    case ">=":
      return { ok: cmp >= 0 };
    case ">":
      return { ok: prefix.length === 3 ? cmp > 0 : prefix.some((n, i) => a[i] !== n) && cmp > 0 };
    case "<=":
      return { ok: cmp <= 0 || prefix.every((n, i) => a[i] === n) };
    case "<":
      return { ok: cmp < 0 };
    case "^":
      return { ok: a[0] === full[0] && cmp >= 0 };
    case "~":
      return { ok: a[0] === full[0] && (prefix.length < 2 || a[1] === full[1]) && cmp >= 0 };
  }
  return { ok: false };
}

export function nodeSatisfies(wanted: string, actual: string): boolean {
  return checkNodeVersion(wanted, actual).ok;
}

/**
 * The warning line when the project asks for a Node.js version this machine does not have
 * (installing other versions is out of scope), or null when there is nothing to say.
 */
export function nodeVersionWarning(tools: ProjectTools, actual: string | null): string | null {
  if (!tools.nodeVersion || !actual) return null;
  const check = checkNodeVersion(tools.nodeVersion, actual);
  if (check.ok) return null;
  return `Warning: this project asks for Node.js ${tools.nodeVersion} (${tools.nodeVersionSource}) but this build machine has Node.js ${stripV(actual)}; installing other Node.js versions is not supported, continuing with ${stripV(actual)}`;
}

/** The warning line when package.json pins a package manager version other than the machine's, else null. */
export function managerVersionWarning(tools: ProjectTools, actual: string | null): string | null {
  if (!tools.packageManagerVersion || !actual || stripV(actual) === tools.packageManagerVersion) return null;
  return `Warning: package.json pins ${tools.packageManager}@${tools.packageManagerVersion} but this build machine has ${tools.packageManager}@${stripV(actual)}; continuing with ${stripV(actual)}`;
}

function parseVersion(v: string): [number, number, number] | null {
  const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(v);
  if (!m) return null;
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

function stripV(v: string): string {
  return v.replace(/^v(?=\d)/i, "");
}

function cleanVersion(v: string): string {
  return stripV(v.trim());
}

/** First non-empty, non-comment line. */
function firstLine(text: string): string {
  for (const line of text.split(/\r?\n/)) {
    const t = line.replace(/#.*$/, "").trim();
    if (t) return t;
  }
  return "";
}
