/**
 * Build environment variables
 * (https://developers.cloudflare.com/workers/ci-cd/builds/configuration/#environment-variables): per owner (a trigger, a Worker's
 * previews base config, a Preview) at most 64, keys `^[a-zA-Z_][a-zA-Z0-9_]*$`, values at most
 * 5000 characters. Secret values are write-only: every answer shows them as `value: null`.
 *
 * `applyEnvPatch` is the one validation of a variables change (also used by the Worker build
 * configuration PATCH, where `null` deletes a variable); `patchEnvVars` applies it to storage.
 */
import { errors } from "../errors.ts";
import type { EnvOwnerKind, EnvVar } from "./config-types.ts";
import { LIMITS } from "./config-types.ts";
import { nowIso } from "./ids.ts";
import type { Repositories } from "./ports.ts";
import { requireLiveTrigger } from "./triggers.ts";

/** One variable as a request gives it. */
export interface EnvVarInput {
  is_secret: boolean;
  value: string;
}

/**
 * Secrets shorter than this are not masked in build logs: masking a value such as `e` would
 * replace every "e" of the log and so reveal the value (docs/compatibility.md).
 */
export const MIN_MASKED_SECRET_LENGTH = 4;

/** The answer's `messages` for variables being set: one per secret too short to be masked. */
export function shortSecretMessages(...changes: (Record<string, EnvVarInput | null> | undefined)[]): string[] {
  const keys = new Set<string>();
  for (const change of changes) {
    for (const [key, input] of Object.entries(change ?? {})) if (input?.is_secret && input.value.length < MIN_MASKED_SECRET_LENGTH) keys.add(key);
  }
  return [...keys].map((key) => `${key}: secret values shorter than ${MIN_MASKED_SECRET_LENGTH} characters are not masked in build logs`);
}

/** A change to an owner's variables: a key mapped to its new value, or to null to delete it. */
export type EnvPatch = Record<string, EnvVarInput | null>;

export interface EnvPatchOptions {
  /** Put before the key in error messages, e.g. "environment_variables." (default: nothing). */
  fieldPrefix?: string;
  /** created_on of new keys (default: now). */
  now?: string;
}

export interface EnvPatchPlan {
  /** Every variable of the owner after the change, by key. */
  result: EnvVar[];
  /** The variables to write (new keys get `now`, existing keys keep their created_on). */
  upserts: EnvVar[];
  /** Existing keys to delete. */
  removals: string[];
}

/** One variable in an answer: secrets always with `value: null`. */
export interface EnvVarView {
  created_on: string;
  is_secret: boolean;
  value: string | null;
}

/**
 * Checks a patch against the owner's current variables and plans the writes, without
 * writing anything: a key that breaks the pattern, a value over 5000 characters or more than
 * 64 variables afterwards throws 400 12002 naming the key, so a rejected change stores none
 * of its keys. A `null` for a key that does not exist is no change.
 */
export function applyEnvPatch(existing: EnvVar[], patch: EnvPatch, options: EnvPatchOptions = {}): EnvPatchPlan {
  const prefix = options.fieldPrefix ?? "";
  const now = options.now ?? nowIso();
  const field = (key: string) => `${prefix}${key === "" ? '""' : key}`;
  const current = new Map(existing.map((v) => [v.key, v]));
  const upserts: EnvVar[] = [];
  const removals: string[] = [];
  const added: string[] = [];
  for (const [key, input] of Object.entries(patch)) {
    if (!LIMITS.envKeyPattern.test(key)) throw errors.invalidBody(field(key), "Key contains invalid characters");
    const old = current.get(key);
    if (input === null) {
      if (old) {
        removals.push(key);
        current.delete(key);
      }
      continue;
    }
    if (input.value.length > LIMITS.envValueLength) {
      throw errors.invalidBody(`${field(key)}.value`, `must be at most ${LIMITS.envValueLength} characters`);
    }
    const next: EnvVar = { key, is_secret: input.is_secret, value: input.value, created_on: old?.created_on ?? now };
    if (!old) added.push(key);
    upserts.push(next);
    current.set(key, next);
  }
  if (current.size > LIMITS.envVarsPerOwner) {
    // Name the first new key past the limit: the one the caller has to drop.
    const over = added[added.length - (current.size - LIMITS.envVarsPerOwner)] ?? added[0] ?? "";
    throw errors.invalidBody(field(over), `too many variables: at most ${LIMITS.envVarsPerOwner} per owner`);
  }
  const result = [...current.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { result, upserts, removals };
}

/** Validates and applies a patch to an owner's stored variables (inside the caller's transaction). */
export async function patchEnvVars(
  repos: Repositories,
  kind: EnvOwnerKind,
  ownerId: string,
  patch: EnvPatch,
  options: EnvPatchOptions = {},
): Promise<EnvPatchPlan> {
  const plan = applyEnvPatch(await repos.envVars.list(kind, ownerId), patch, options);
  for (const key of plan.removals) await repos.envVars.remove(kind, ownerId, key);
  if (plan.upserts.length > 0) await repos.envVars.upsert(kind, ownerId, plan.upserts);
  return plan;
}

/** Variables as every answer shows them (`environmentVariables`): secrets always `value: null`. */
export function presentEnvVars(vars: EnvVar[]): Record<string, EnvVarView> {
  // No prototype: a variable may be called `__proto__` (the key pattern allows it).
  const out: Record<string, EnvVarView> = Object.create(null);
  for (const v of vars) out[v.key] = { created_on: v.created_on, is_secret: v.is_secret, value: v.is_secret ? null : v.value };
  return out;
}

/** The list form of #19 (`{"variables": [{key, value, type}]}`), as a patch. */
export function envPatchFromList(variables: { key: string; value: string; type: "text" | "secret" }[]): Record<string, EnvVarInput> {
  const patch: Record<string, EnvVarInput> = Object.create(null);
  variables.forEach((v, i) => {
    if (Object.hasOwn(patch, v.key)) throw errors.invalidBody(`variables.${i}.key`, `duplicate key ${v.key}`);
    patch[v.key] = { is_secret: v.type === "secret", value: v.value };
  });
  return patch;
}

// ---------- a trigger's variables (#18, #19, #20) ----------

/** #18: the variables of a live trigger of the account (404 12000 otherwise). */
export async function listTriggerEnvVars(repos: Repositories, accountId: string, triggerUuid: string): Promise<EnvVar[]> {
  await requireLiveTrigger(repos, accountId, triggerUuid);
  return repos.envVars.list("trigger", triggerUuid);
}

/** #19: upserts the given keys, leaves the others; answers the upserted variables only. */
export async function upsertTriggerEnvVars(
  repos: Repositories,
  accountId: string,
  triggerUuid: string,
  variables: Record<string, EnvVarInput>,
): Promise<EnvVar[]> {
  await requireLiveTrigger(repos, accountId, triggerUuid);
  const plan = await patchEnvVars(repos, "trigger", triggerUuid, variables);
  return plan.upserts;
}

/** #20: deletes one variable; 404 12000 for an unknown key or trigger. */
export async function deleteTriggerEnvVar(repos: Repositories, accountId: string, triggerUuid: string, key: string): Promise<void> {
  await requireLiveTrigger(repos, accountId, triggerUuid);
  if (!(await repos.envVars.remove("trigger", triggerUuid, key))) throw errors.notFound();
}
