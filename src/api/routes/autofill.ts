/**
 * Config autofill (#9): reads a repository branch through the git mirror (no checkout) and
 * detects the Wrangler config file, the Worker names, the package manager and the scripts.
 * @see https://developers.cloudflare.com/api/resources/workers_builds/
 */
import { z } from "zod";
import { detectConfig, normalizeRootDirectory } from "../../domain/autofill.ts";
import { errors } from "../../errors.ts";
import { GitError } from "../../git/exec.ts";
import { Mirrors, mirrorsDir } from "../../git/mirror.ts";
import { cloneUrl, NoCloneUrlError } from "../../git/url.ts";
import { defineRoute, ok } from "../route.ts";
import { accountParams } from "../schemas/common.ts";
import { configAutofill, providerType } from "../schemas/config.ts";

const autofillParams = accountParams.extend({
  provider_type: providerType,
  provider_account_id: z.string().min(1),
  repo_id: z.string().min(1),
});

const autofillQuery = z.object({
  branch: z.string().min(1, "must not be empty").max(256, "must be at most 256 characters"),
  root_directory: z.string().max(256, "must be at most 256 characters").optional(),
});

/** One Mirrors per data dir (cheap; the fetch locks are process-wide anyway). */
const mirrorsByDir = new Map<string, Mirrors>();
function mirrorsFor(dataDir: string): Mirrors {
  let mirrors = mirrorsByDir.get(dataDir);
  if (!mirrors) {
    mirrors = new Mirrors({ dir: mirrorsDir(dataDir) });
    mirrorsByDir.set(dataDir, mirrors);
  }
  return mirrors;
}

/** @see https://developers.cloudflare.com/api/resources/workers_builds/ (getWorkerConfigAutofill) */
/** Config files larger than this are not read (a Wrangler config or package.json is a few KiB). */
export const MAX_AUTOFILL_FILE_BYTES = 4 * 1024 * 1024;

export const getConfigAutofill = defineRoute({
  method: "GET",
  path: "/accounts/:account_id/builds/repos/:provider_type/:provider_account_id/:repo_id/config_autofill",
  operationId: "getWorkerConfigAutofill",
  summary: "Detect the Wrangler config file, Worker names, package manager and scripts of a repository branch",
  tag: "Repositories",
  auth: "read",
  params: autofillParams,
  query: autofillQuery,
  result: configAutofill,
  async handler({ params, query, deps, request }) {
    const root = normalizeRootDirectory(query.root_directory);
    if (root === undefined) throw errors.invalidQuery("root_directory", "must stay inside the repository");

    // The clone URL template needs the account and repository *names*; the path only carries
    // ids. Take them from this account's connection of that repository; without one (autofill
    // usually runs before the connection is saved), the ids stand in for the names.
    const connection = await deps.store.repoConnections.findByRepo(params.account_id, params.provider_type, params.repo_id);
    const coordinates = {
      provider_type: params.provider_type,
      provider_account_id: params.provider_account_id,
      provider_account_name: connection?.provider_account_name ?? params.provider_account_id,
      repo_id: params.repo_id,
      repo_name: connection?.repo_name ?? params.repo_id,
    };

    try {
      const mirror = mirrorsFor(deps.config.dataDir).mirror(cloneUrl(coordinates, deps.config.gitUrlTemplate));
      const ref = await mirror.resolveRef({ branch: query.branch });
      if (!ref.ok) throw errors.notFound();
      const entries = await mirror.listFiles(ref.commit, root);
      if (entries === undefined) throw errors.notFound();
      const prefix = root === "" ? "" : `${root}/`;
      return ok(
        await detectConfig({
          files: new Set(entries.filter((e) => e.type === "blob").map((e) => e.name)),
          // A pushed 1 GiB wrangler.toml is not read into the server's memory: it counts as unreadable.
          read: async (name) => (await mirror.readFile(ref.commit, prefix + name, { maxBytes: MAX_AUTOFILL_FILE_BYTES }))?.toString("utf8"),
        }),
      );
    } catch (error) {
      // An unreachable repository or a provider without a clone URL is, to the caller, no repository.
      if (error instanceof GitError || error instanceof NoCloneUrlError) {
        request.log.warn({ provider_type: params.provider_type, repo_id: params.repo_id, reason: error.message }, "config autofill: repository not readable");
        throw errors.notFound();
      }
      throw error;
    }
  },
});

export const autofillRoutes = [getConfigAutofill];
