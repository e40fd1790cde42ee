/**
 * A Worker's build configuration (#23–#27). It is a view over the Worker's triggers, not a
 * separate record, so the two can never disagree: the production side *is* the production trigger (its
 * first branch include is the watched branch), the previews side is either the stored
 * previews base config (Previews model) or the legacy preview trigger. Editing one view
 * edits the other.
 */
import { errors } from "../errors.ts";
import { DEFAULT_BUILD_CACHING, type BuildSettings, type EnvOwnerKind, type EnvVar, type RepoConnection, type Trigger, type WorkerPreviews } from "./config-types.ts";
import { patchEnvVars } from "./env-vars.ts";
import { nowIso } from "./ids.ts";
import type { Repositories } from "./ports.ts";
import { upsertRepoConnection, type RepoConnectionInput } from "./repo-connection-upsert.ts";
import { createTrigger, liveTriggers, requireLiveBuildToken } from "./triggers.ts";

export type EnvInput = Record<string, { is_secret: boolean; value: string } | null>;

export interface SettingsInput {
  build_command: string;
  deploy_command: string;
  build_token_uuid: string;
  build_caching_enabled?: boolean | undefined;
  root_directory?: string | undefined;
  path_includes?: string[] | undefined;
  path_excludes?: string[] | undefined;
  environment_variables?: EnvInput | undefined;
}

export type SettingsPatch = Partial<SettingsInput>;

export interface CreateWorkerConfigInput {
  script_tag: string;
  git_repository: RepoConnectionInput & { branch: string };
  production_settings: SettingsInput;
  previews_enabled?: boolean | undefined;
  previews_base_config?: SettingsInput | undefined;
}

export interface PatchWorkerConfigInput {
  git_repository?: { branch: string } | undefined;
  production_settings?: SettingsPatch | undefined;
  previews_base_config?: SettingsPatch | undefined;
  previews_enabled?: boolean | undefined;
}

export interface SettingsView extends BuildSettings {
  environment_variables: EnvVar[];
  /** Only on a legacy config's previews side: the command migrate would use (null: none proposed). */
  proposed_deploy_command?: string | null;
}

export interface WorkerConfigView {
  script_tag: string;
  connection: RepoConnection;
  branch: string;
  production: SettingsView;
  previews_enabled: boolean;
  previews_base: SettingsView | null;
}

// ---------- environment variables shared by every settings owner ----------

/** Applies a variables map where `null` deletes a key (#25, #30), with env-vars.ts's checks. */
export async function patchEnv(repos: Repositories, kind: EnvOwnerKind, ownerId: string, input: EnvInput | undefined): Promise<void> {
  if (input) await patchEnvVars(repos, kind, ownerId, input, { fieldPrefix: "environment_variables." });
}

/** Copies every variable of one owner to another (secrets stay sealed at rest). */
export async function copyEnv(repos: Repositories, from: [EnvOwnerKind, string], to: [EnvOwnerKind, string]): Promise<void> {
  await repos.envVars.removeAll(to[0], to[1]);
  await repos.envVars.upsert(to[0], to[1], await repos.envVars.list(from[0], from[1]));
}

// ---------- settings ----------

export function settingsFromInput(input: SettingsInput): BuildSettings {
  return {
    build_command: input.build_command,
    deploy_command: input.deploy_command,
    build_token_uuid: input.build_token_uuid,
    build_caching_enabled: input.build_caching_enabled ?? DEFAULT_BUILD_CACHING,
    root_directory: input.root_directory ?? "/",
    path_includes: input.path_includes ?? ["*"],
    path_excludes: input.path_excludes ?? [],
  };
}

export function applySettingsPatch(settings: BuildSettings, patch: SettingsPatch): BuildSettings {
  const { environment_variables: _env, ...fields } = patch;
  const defined = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<BuildSettings>;
  return { ...settings, ...defined };
}

const settingsOf = (t: Trigger): BuildSettings => ({
  build_command: t.build_command,
  deploy_command: t.deploy_command,
  build_token_uuid: t.build_token_uuid,
  build_caching_enabled: t.build_caching_enabled,
  root_directory: t.root_directory,
  path_includes: t.path_includes,
  path_excludes: t.path_excludes,
});

// ---------- the view ----------

async function sides(repos: Repositories, accountId: string, workerTag: string) {
  const live = await liveTriggers(repos, accountId, workerTag);
  return {
    production: live.find((t) => t.role === "production"),
    legacyPreview: live.find((t) => t.role === "preview"),
    previews: await repos.workerPreviews.get(accountId, workerTag),
  };
}

async function requireWorker(repos: Repositories, accountId: string, tag: string) {
  const worker = await repos.workers.getByTag(accountId, tag);
  if (!worker) throw errors.noBuildConfig();
  return worker;
}

export async function getWorkerConfig(repos: Repositories, accountId: string, workerTag: string): Promise<WorkerConfigView> {
  await requireWorker(repos, accountId, workerTag);
  const { production, legacyPreview, previews } = await sides(repos, accountId, workerTag);
  if (!production) throw errors.noBuildConfig();
  const connection = await repos.repoConnections.get(accountId, production.repo_connection_uuid);
  if (!connection) throw new Error(`trigger ${production.trigger_uuid} refers to a missing repo connection`);
  let previewsBase: SettingsView | null = null;
  if (previews?.base_settings) {
    previewsBase = { ...previews.base_settings, environment_variables: await repos.envVars.list("previews_base", workerTag) };
  } else if (legacyPreview) {
    previewsBase = {
      ...settingsOf(legacyPreview),
      environment_variables: await repos.envVars.list("trigger", legacyPreview.trigger_uuid),
      proposed_deploy_command: proposeDeployCommand(legacyPreview.deploy_command),
    };
  }
  return {
    script_tag: workerTag,
    connection,
    branch: production.branch_includes[0] ?? "",
    production: { ...settingsOf(production), environment_variables: await repos.envVars.list("trigger", production.trigger_uuid) },
    previews_enabled: previews?.previews_enabled ?? false,
    previews_base: previewsBase,
  };
}

/** `wrangler versions upload` → `wrangler preview` (migrate_to_previews); null when not applicable. */
export function proposeDeployCommand(command: string): string | null {
  return command.includes("wrangler versions upload") ? command.replace("wrangler versions upload", "wrangler preview") : null;
}

// ---------- #23 create ----------

export async function createWorkerConfig(repos: Repositories, accountId: string, input: CreateWorkerConfigInput): Promise<WorkerConfigView> {
  const worker = await repos.workers.getByTag(accountId, input.script_tag);
  if (!worker) throw errors.notFound();
  const { production } = await sides(repos, accountId, worker.tag);
  if (production) throw errors.alreadyExists();
  if (input.previews_enabled && !input.previews_base_config) {
    throw errors.invalidBody("previews_base_config", "required when previews_enabled is true");
  }
  const { branch, ...repo } = input.git_repository;
  const connection = await upsertRepoConnection(repos, accountId, repo);
  const settings = settingsFromInput(input.production_settings);
  const trigger = await createTrigger(repos, accountId, {
    ...settings,
    external_script_id: worker.tag,
    trigger_name: `${worker.name} (production)`,
    repo_connection_uuid: connection.repo_connection_uuid,
    branch_includes: [branch],
    branch_excludes: [],
  });
  await patchEnv(repos, "trigger", trigger.trigger_uuid, input.production_settings.environment_variables);
  if (input.previews_base_config) {
    await requireLiveBuildToken(repos, accountId, input.previews_base_config.build_token_uuid, "previews_base_config.build_token_uuid");
    await putPreviews(repos, accountId, worker.tag, input.previews_enabled ?? false, settingsFromInput(input.previews_base_config));
    await patchEnv(repos, "previews_base", worker.tag, input.previews_base_config.environment_variables);
  } else if (input.previews_enabled !== undefined) {
    await putPreviews(repos, accountId, worker.tag, input.previews_enabled, null);
  }
  return getWorkerConfig(repos, accountId, worker.tag);
}

async function putPreviews(repos: Repositories, accountId: string, workerTag: string, enabled: boolean, base: BuildSettings | null) {
  const existing = await repos.workerPreviews.get(accountId, workerTag);
  const now = nowIso();
  const row: WorkerPreviews = {
    worker_tag: workerTag,
    account_id: accountId,
    previews_enabled: enabled,
    base_settings: base,
    created_on: existing?.created_on ?? now,
    modified_on: now,
  };
  await repos.workerPreviews.put(row);
}

// ---------- #25 update ----------

export async function updateWorkerConfig(
  repos: Repositories,
  accountId: string,
  workerTag: string,
  patch: PatchWorkerConfigInput,
  patchExistingPreviews: boolean,
): Promise<WorkerConfigView> {
  await requireWorker(repos, accountId, workerTag);
  const { production, legacyPreview, previews } = await sides(repos, accountId, workerTag);
  if (!production) throw errors.noBuildConfig();
  const now = nowIso();

  if (patch.git_repository || patch.production_settings) {
    const settings = applySettingsPatch(settingsOf(production), patch.production_settings ?? {});
    if (settings.build_token_uuid !== production.build_token_uuid) {
      await requireLiveBuildToken(repos, accountId, settings.build_token_uuid, "production_settings.build_token_uuid");
    }
    const branchIncludes = patch.git_repository ? [patch.git_repository.branch, ...production.branch_includes.slice(1)] : production.branch_includes;
    await repos.triggers.update({ ...production, ...settings, branch_includes: branchIncludes, modified_on: now });
    await patchEnv(repos, "trigger", production.trigger_uuid, patch.production_settings?.environment_variables);
  }

  let base = previews?.base_settings ?? null;
  if (patch.previews_base_config) {
    // A first previews base config starts from the production settings.
    base = applySettingsPatch(base ?? settingsOf(production), patch.previews_base_config);
    if (base.build_token_uuid !== (previews?.base_settings ?? settingsOf(production)).build_token_uuid) {
      await requireLiveBuildToken(repos, accountId, base.build_token_uuid, "previews_base_config.build_token_uuid");
    }
    if (!previews?.base_settings) await copyEnv(repos, ["trigger", production.trigger_uuid], ["previews_base", workerTag]);
    await patchEnv(repos, "previews_base", workerTag, patch.previews_base_config.environment_variables);
    if (patchExistingPreviews) {
      const { items } = await repos.previews.list(accountId, workerTag);
      for (const preview of items) {
        await repos.previews.update({ ...preview, settings: applySettingsPatch(preview.settings, patch.previews_base_config), modified_on: now });
        await patchEnv(repos, "preview", preview.preview_id, patch.previews_base_config.environment_variables);
      }
    }
  }
  let enabled = previews?.previews_enabled ?? false;
  if (patch.previews_enabled !== undefined) {
    if (patch.previews_enabled && legacyPreview) throw errors.previewsWithLegacyTrigger();
    if (patch.previews_enabled && !base) throw errors.invalidBody("previews_base_config", "required to enable previews");
    enabled = patch.previews_enabled;
  }
  if (patch.previews_base_config || patch.previews_enabled !== undefined) await putPreviews(repos, accountId, workerTag, enabled, base);
  return getWorkerConfig(repos, accountId, workerTag);
}

// ---------- #26 delete ----------

/**
 * Deletes the configuration: triggers, previews side, Previews. The Worker, its repo
 * connection and deploy hooks stay. Answers the deleted triggers, whose unfinished builds
 * the caller cancels once this has committed.
 */
export async function deleteWorkerConfig(repos: Repositories, accountId: string, workerTag: string): Promise<string[]> {
  await requireWorker(repos, accountId, workerTag);
  const live = await liveTriggers(repos, accountId, workerTag);
  if (!live.some((t) => t.role === "production")) throw errors.noBuildConfig();
  const now = nowIso();
  for (const trigger of live) {
    await repos.triggers.softDelete(accountId, trigger.trigger_uuid, now);
    await repos.envVars.removeAll("trigger", trigger.trigger_uuid);
  }
  await repos.workerPreviews.remove(accountId, workerTag);
  await repos.envVars.removeAll("previews_base", workerTag);
  const { items } = await repos.previews.list(accountId, workerTag);
  for (const preview of items) await repos.envVars.removeAll("preview", preview.preview_id);
  await repos.previews.removeAllOfWorker(accountId, workerTag);
  return live.map((t) => t.trigger_uuid);
}

// ---------- #27 migrate ----------

/** Answers the view and the removed legacy trigger (whose unfinished builds the caller cancels). */
export async function migrateToPreviews(
  repos: Repositories,
  accountId: string,
  workerTag: string,
  deployCommand: string | undefined,
): Promise<{ view: WorkerConfigView; removedTrigger: string | null }> {
  await requireWorker(repos, accountId, workerTag);
  const { production, legacyPreview, previews } = await sides(repos, accountId, workerTag);
  if (!production) throw errors.noBuildConfig();
  if (!legacyPreview) {
    if (!previews?.base_settings) throw errors.invalidBody("", "the Worker has no non-production trigger to migrate");
    // Already on the Previews model: migrating again only makes sure previews are on.
    await putPreviews(repos, accountId, workerTag, true, previews.base_settings);
    return { view: await getWorkerConfig(repos, accountId, workerTag), removedTrigger: null };
  }
  const command = deployCommand ?? proposeDeployCommand(legacyPreview.deploy_command);
  if (!command) {
    throw errors.invalidBody(
      "deploy_command",
      `cannot rewrite "${legacyPreview.deploy_command}" to use wrangler preview; send deploy_command`,
    );
  }
  await putPreviews(repos, accountId, workerTag, true, { ...settingsOf(legacyPreview), deploy_command: command });
  await copyEnv(repos, ["trigger", legacyPreview.trigger_uuid], ["previews_base", workerTag]);
  await repos.triggers.softDelete(accountId, legacyPreview.trigger_uuid, nowIso());
  await repos.envVars.removeAll("trigger", legacyPreview.trigger_uuid);
  return { view: await getWorkerConfig(repos, accountId, workerTag), removedTrigger: legacyPreview.trigger_uuid };
}
