/**
 * Config autofill (#9) and the install step's package-manager detection (docs/build-image.md):
 * what a repository directory says about its Worker, read through a port so the
 * rules stay free of git. Malformed files never fail detection: their fields are simply null.
 */
import * as jsonc from "jsonc-parser";
import { parse as parseToml } from "smol-toml";

export const PACKAGE_MANAGERS = ["npm", "yarn", "pnpm", "bun", "uv"] as const;
export type PackageManager = (typeof PACKAGE_MANAGERS)[number];

/** Wrangler's own precedence when several config files exist (its findWranglerConfig). */
export const WRANGLER_CONFIG_FILES = ["wrangler.json", "wrangler.jsonc", "wrangler.toml"] as const;

/** Lockfiles in the order they are checked; the first present decides. */
export const LOCKFILES: readonly (readonly [string, PackageManager])[] = [
  ["bun.lock", "bun"],
  ["bun.lockb", "bun"],
  ["pnpm-lock.yaml", "pnpm"],
  ["yarn.lock", "yarn"],
  ["package-lock.json", "npm"],
  ["npm-shrinkwrap.json", "npm"],
  ["uv.lock", "uv"],
];

export interface ConfigAutofill {
  config_file: string | null;
  default_worker_name: string | null;
  env_worker_names: Record<string, string> | null;
  package_manager: PackageManager;
  scripts: Record<string, string> | null;
}

/** One directory of a repository at one commit. */
export interface DirectoryReader {
  /** Names of the regular files directly in the directory. */
  files: ReadonlySet<string>;
  /** A file's text, or undefined when it cannot be read. */
  read(name: string): Promise<string | undefined>;
}

/**
 * A root directory as a repository-relative path without leading or trailing slash ("" for the
 * root): "/", "", "./apps/web/" and "apps/x/../web" are fine; undefined when it climbs out of
 * the repository ("..", "apps/../..") or holds a NUL.
 */
export function normalizeRootDirectory(input: string | undefined): string | undefined {
  if (input === undefined) return "";
  if (input.includes("\0")) return undefined;
  const parts: string[] = [];
  for (const segment of input.split(/[\\/]+/)) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(segment);
  }
  return parts.join("/");
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A package.json as an object, or undefined when absent or malformed. */
export function parsePackageJson(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text.replace(/^\uFEFF/, ""));
    return isRecord(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** `packageManager` of package.json first ("pnpm@9.1.0" → pnpm), then lockfiles, else npm. */
export function detectPackageManager(packageJson: Record<string, unknown> | undefined, files: ReadonlySet<string>): PackageManager {
  const declared = packageJson?.packageManager;
  if (typeof declared === "string") {
    const name = declared.trim().split("@")[0]?.toLowerCase();
    const known = PACKAGE_MANAGERS.find((pm) => pm === name);
    if (known) return known;
  }
  for (const [file, pm] of LOCKFILES) if (files.has(file)) return pm;
  return "npm";
}

/** Parses a Wrangler config file (TOML, or JSON with comments and trailing commas); undefined when malformed. */
export function parseWranglerConfig(file: string, text: string): Record<string, unknown> | undefined {
  try {
    if (file.endsWith(".toml")) return parseToml(text) as Record<string, unknown>;
    const errors: jsonc.ParseError[] = [];
    const parsed: unknown = jsonc.parse(text, errors, { allowTrailingComma: true, disallowComments: false });
    return errors.length === 0 && isRecord(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Worker names of a Wrangler config: the top-level `name`, and per `env.<x>` its own `name`
 * or Wrangler's default `<name>-<x>` (envs with neither are left out; null when none remain).
 */
export function workerNames(config: Record<string, unknown> | undefined): {
  default_worker_name: string | null;
  env_worker_names: Record<string, string> | null;
} {
  const name = typeof config?.name === "string" && config.name !== "" ? config.name : null;
  const envs: Record<string, string> = {};
  if (config && isRecord(config.env)) {
    for (const [env, settings] of Object.entries(config.env)) {
      const own = isRecord(settings) && typeof settings.name === "string" && settings.name !== "" ? settings.name : undefined;
      const derived = own ?? (name !== null ? `${name}-${env}` : undefined);
      if (derived !== undefined) envs[env] = derived;
    }
  }
  return { default_worker_name: name, env_worker_names: Object.keys(envs).length > 0 ? envs : null };
}

/**
 * Detects the autofill answer in one directory. `config_file` names the Wrangler file found even
 * when it is malformed (its names are then null).
 */
export async function detectConfig(dir: DirectoryReader): Promise<ConfigAutofill> {
  const configFile = WRANGLER_CONFIG_FILES.find((f) => dir.files.has(f)) ?? null;
  let names: ReturnType<typeof workerNames> = { default_worker_name: null, env_worker_names: null };
  if (configFile !== null) {
    const text = await dir.read(configFile);
    names = workerNames(text === undefined ? undefined : parseWranglerConfig(configFile, text));
  }
  const packageJson = dir.files.has("package.json") ? parsePackageJson(await dir.read("package.json")) : undefined;
  let scripts: Record<string, string> | null = null;
  if (packageJson !== undefined) {
    scripts = {};
    if (isRecord(packageJson.scripts)) {
      for (const [key, value] of Object.entries(packageJson.scripts)) if (typeof value === "string") scripts[key] = value;
    }
  }
  return {
    config_file: configFile,
    ...names,
    package_manager: detectPackageManager(packageJson, dir.files),
    scripts,
  };
}
