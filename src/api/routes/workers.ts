/**
 * Worker build configuration (#23–#27) and Worker Previews (#28–#30).
 * @see https://developers.cloudflare.com/api/resources/workers_builds/subresources/workers/
 */
import { z } from "zod";
import { getPreview, listPreviews, updatePreview } from "../../domain/previews.ts";
import { shortSecretMessages } from "../../domain/env-vars.ts";
import {
  createWorkerConfig,
  deleteWorkerConfig,
  getWorkerConfig,
  migrateToPreviews,
  updateWorkerConfig,
} from "../../domain/worker-config.ts";
import { pagedInfo, pageQuery } from "../pagination.ts";
import { presentPreview, presentWorkerConfig } from "../present.ts";
import { defineRoute, ok } from "../route.ts";
import { accountParams, uuid } from "../schemas/common.ts";
import { envVarInput, patternList, preview, providerType, workerBuildConfig } from "../schemas/config.ts";

const text = (max: number) => z.string().max(max, `must be at most ${max} characters`);
const name = text(256).min(1, "must not be empty");
const branch = z.string().trim().min(1, "must not be empty").max(256, "must be at most 256 characters");

const settingsFields = {
  build_command: text(512),
  deploy_command: text(512).min(1, "must not be empty"),
  build_token_uuid: uuid,
  build_caching_enabled: z.boolean().optional(),
  root_directory: text(256).optional(),
  path_includes: patternList.optional(),
  path_excludes: patternList.optional(),
};
const settingsInput = z.object({ ...settingsFields, environment_variables: z.record(z.string(), envVarInput).optional() });
const settingsPatch = z
  .object({
    ...settingsFields,
    // In a PATCH, `null` deletes the variable.
    environment_variables: z.record(z.string(), envVarInput.nullable()).optional(),
  })
  .partial()
  .refine((v) => Object.keys(v).length > 0, "must contain at least one field");

const gitRepository = z
  .object({
    provider_type: providerType,
    provider_account_id: name,
    provider_account_name: name,
    repo_id: name,
    repo_name: name,
    branch,
    grant_id: z.string().min(1, "must not be empty").nullable().optional(),
  })
  .refine((v) => v.provider_type !== "gitlab_internal" || Boolean(v.grant_id), { message: "required for gitlab_internal", path: ["grant_id"] });

const scriptParams = accountParams.extend({ script_tag: z.string() });
const previewParams = scriptParams.extend({ preview_id: z.string() });

export const createWorkerBuild = defineRoute({
  method: "POST",
  path: "/accounts/:account_id/builds/workers",
  operationId: "createWorkerBuild",
  summary: "Connect a Worker to a repository with production (and Previews) settings",
  tag: "Workers",
  auth: "write",
  params: accountParams,
  status: 201,
  body: z.object({
    script_tag: z.string().min(1, "must not be empty").max(64, "must be at most 64 characters"),
    git_repository: gitRepository,
    production_settings: settingsInput,
    previews_enabled: z.boolean().optional(),
    previews_base_config: settingsInput.optional(),
  }),
  result: workerBuildConfig,
  async handler({ params, body, deps }) {
    const view = await deps.store.transaction((repos) => createWorkerConfig(repos, params.account_id, body));
    return { ...ok(presentWorkerConfig(view)), messages: shortSecretMessages(body.production_settings.environment_variables, body.previews_base_config?.environment_variables) };
  },
});

export const getWorkerBuild = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/workers/:script_tag",
  operationId: "getWorkerBuild",
  summary: "A Worker's build configuration",
  tag: "Workers",
  auth: "read",
  params: scriptParams,
  result: workerBuildConfig,
  async handler({ params, deps }) {
    return ok(presentWorkerConfig(await getWorkerConfig(deps.store, params.account_id, params.script_tag)));
  },
});

export const updateWorkerBuild = defineRoute({
  method: "PATCH",
  path: "/accounts/:account_id/builds/workers/:script_tag",
  operationId: "updateWorkerBuild",
  summary: "Partially update a Worker's build configuration",
  tag: "Workers",
  auth: "write",
  params: scriptParams,
  query: z.object({ patch_existing_previews: z.enum(["true", "false"]).optional() }),
  body: z
    .object({
      git_repository: z.object({ branch }).optional(),
      production_settings: settingsPatch.optional(),
      previews_base_config: settingsPatch.optional(),
      previews_enabled: z.boolean().optional(),
    })
    .refine((v) => Object.values(v).some((x) => x !== undefined), "must contain at least one of git_repository, production_settings, previews_base_config, previews_enabled"),
  result: workerBuildConfig,
  async handler({ params, query, body, deps }) {
    const view = await deps.store.transaction((repos) =>
      updateWorkerConfig(repos, params.account_id, params.script_tag, body, query.patch_existing_previews === "true"),
    );
    return { ...ok(presentWorkerConfig(view)), messages: shortSecretMessages(body.production_settings?.environment_variables, body.previews_base_config?.environment_variables) };
  },
});

export const deleteWorkerBuild = defineRoute({
  method: "DELETE",
  path: "/accounts/:account_id/builds/workers/:script_tag",
  operationId: "deleteWorkerBuild",
  summary: "Delete the build configuration and triggers, cancelling unfinished builds (the Worker is kept)",
  tag: "Workers",
  auth: "write",
  params: scriptParams,
  result: z.literal("ok"),
  async handler({ params, deps, principal }) {
    const deleted = await deps.store.transaction((repos) => deleteWorkerConfig(repos, params.account_id, params.script_tag));
    for (const trigger of deleted) await deps.builds.hooks.cancelUnfinishedBuilds(params.account_id, trigger, principal);
    return ok("ok" as const);
  },
});

export const migrateWorkerToPreviews = defineRoute({
  method: "POST",
  path: "/accounts/:account_id/builds/workers/:script_tag/migrate_to_previews",
  operationId: "migrateWorkerToPreviews",
  summary: "Turn the legacy non-production trigger into the Previews base config",
  tag: "Workers",
  auth: "write",
  kilnStatus: "inferred",
  params: scriptParams,
  body: z.object({ deploy_command: text(512).min(1, "must not be empty").optional() }).optional(),
  result: workerBuildConfig,
  async handler({ params, body, deps, principal }) {
    const { view, removedTrigger } = await deps.store.transaction((repos) =>
      migrateToPreviews(repos, params.account_id, params.script_tag, body?.deploy_command),
    );
    if (removedTrigger) await deps.builds.hooks.cancelUnfinishedBuilds(params.account_id, removedTrigger, principal);
    return ok(presentWorkerConfig(view));
  },
});

export const listWorkerPreviews = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/workers/:script_tag/previews",
  operationId: "listWorkerPreviews",
  summary: "Paginated Previews of a Worker",
  tag: "Previews",
  auth: "read",
  kilnStatus: "inferred",
  params: scriptParams,
  query: pageQuery,
  result: z.array(preview),
  async handler({ params, query, deps }) {
    const paged = await listPreviews(deps.store, params.account_id, params.script_tag, query);
    const items = await Promise.all(paged.items.map(async (p) => presentPreview(p, await deps.store.envVars.list("preview", p.preview_id))));
    return ok(items, pagedInfo(query, paged));
  },
});

export const getWorkerPreview = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/workers/:script_tag/previews/:preview_id",
  operationId: "getWorkerPreview",
  summary: "One Preview with the build settings it uses",
  tag: "Previews",
  auth: "read",
  kilnStatus: "inferred",
  params: previewParams,
  result: preview,
  async handler({ params, deps }) {
    const p = await getPreview(deps.store, params.account_id, params.script_tag, params.preview_id);
    return ok(presentPreview(p, await deps.store.envVars.list("preview", p.preview_id)));
  },
});

export const updateWorkerPreview = defineRoute({
  method: "PATCH",
  path: "/accounts/:account_id/builds/workers/:script_tag/previews/:preview_id",
  operationId: "updateWorkerPreview",
  summary: "Partially update a Preview (branch, automation flags, settings)",
  tag: "Previews",
  auth: "write",
  kilnStatus: "inferred",
  params: previewParams,
  body: z
    .object({ branch: branch.optional(), auto_build: z.boolean().optional(), auto_delete: z.boolean().optional(), settings: settingsPatch.optional() })
    .refine((v) => Object.values(v).some((x) => x !== undefined), "must contain at least one of branch, auto_build, auto_delete, settings"),
  result: preview,
  async handler({ params, body, deps }) {
    const view = await deps.store.transaction(async (repos) => {
      const p = await updatePreview(repos, params.account_id, params.script_tag, params.preview_id, body);
      return presentPreview(p, await repos.envVars.list("preview", p.preview_id));
    });
    return { ...ok(view), messages: shortSecretMessages(body.settings?.environment_variables) };
  },
});

export const workerRoutes = [
  createWorkerBuild,
  getWorkerBuild,
  updateWorkerBuild,
  deleteWorkerBuild,
  migrateWorkerToPreviews,
  listWorkerPreviews,
  getWorkerPreview,
  updateWorkerPreview,
];
