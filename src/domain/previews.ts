/**
 * Worker Previews (#28–#30; shapes inferred, docs/compatibility.md): one Preview per branch
 * of a Worker on the Previews model, with its own tag and a copy of the previews base
 * config it builds with. Created by pushes (webhooks) or `kiln preview create`.
 */
import { errors } from "../errors.ts";
import type { Preview } from "./config-types.ts";
import { newHexId, nowIso } from "./ids.ts";
import type { Repositories } from "./ports.ts";
import type { Page, Paged } from "./types.ts";
import { applySettingsPatch, copyEnv, patchEnv, type SettingsPatch } from "./worker-config.ts";
import { requireLiveBuildToken } from "./triggers.ts";

export interface PreviewPatch {
  branch?: string | undefined;
  auto_build?: boolean | undefined;
  auto_delete?: boolean | undefined;
  settings?: SettingsPatch | undefined;
}

async function requireWorker(repos: Repositories, accountId: string, workerTag: string) {
  const worker = await repos.workers.getByTag(accountId, workerTag);
  if (!worker) throw errors.notFound();
  return worker;
}

/** Creates the branch's Preview from the previews base config, or answers the existing one. */
export async function createPreview(
  repos: Repositories,
  accountId: string,
  workerTag: string,
  branch: string,
  options: { auto_build?: boolean; auto_delete?: boolean } = {},
): Promise<Preview> {
  await requireWorker(repos, accountId, workerTag);
  const existing = await repos.previews.findByBranch(accountId, workerTag, branch);
  if (existing) return existing;
  const previews = await repos.workerPreviews.get(accountId, workerTag);
  if (!previews?.base_settings) throw errors.invalidBody("previews_base_config", "the Worker has no previews base config");
  const now = nowIso();
  const preview: Preview = {
    preview_id: newHexId(),
    account_id: accountId,
    worker_tag: workerTag,
    branch,
    auto_build: options.auto_build ?? true,
    auto_delete: options.auto_delete ?? true,
    settings: previews.base_settings,
    created_on: now,
    modified_on: now,
  };
  await repos.previews.insert(preview);
  await copyEnv(repos, ["previews_base", workerTag], ["preview", preview.preview_id]);
  return preview;
}

export async function listPreviews(repos: Repositories, accountId: string, workerTag: string, page: Page): Promise<Paged<Preview>> {
  await requireWorker(repos, accountId, workerTag);
  return repos.previews.list(accountId, workerTag, page);
}

export async function getPreview(repos: Repositories, accountId: string, workerTag: string, previewId: string): Promise<Preview> {
  await requireWorker(repos, accountId, workerTag);
  const preview = await repos.previews.get(accountId, workerTag, previewId);
  if (!preview) throw errors.notFound();
  return preview;
}

export async function updatePreview(
  repos: Repositories,
  accountId: string,
  workerTag: string,
  previewId: string,
  patch: PreviewPatch,
): Promise<Preview> {
  const preview = await getPreview(repos, accountId, workerTag, previewId);
  if (patch.branch !== undefined && patch.branch !== preview.branch) {
    if (await repos.previews.findByBranch(accountId, workerTag, patch.branch)) throw errors.alreadyExists();
  }
  const settings = patch.settings ? applySettingsPatch(preview.settings, patch.settings) : preview.settings;
  if (settings.build_token_uuid !== preview.settings.build_token_uuid) {
    await requireLiveBuildToken(repos, accountId, settings.build_token_uuid, "settings.build_token_uuid");
  }
  const updated: Preview = {
    ...preview,
    branch: patch.branch ?? preview.branch,
    auto_build: patch.auto_build ?? preview.auto_build,
    auto_delete: patch.auto_delete ?? preview.auto_delete,
    settings,
    modified_on: nowIso(),
  };
  await repos.previews.update(updated);
  await patchEnv(repos, "preview", previewId, patch.settings?.environment_variables);
  return updated;
}
