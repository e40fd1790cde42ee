/** `kiln preview create`: makes a branch's Preview by hand (what `wrangler preview` does on Cloudflare). */
import type { Command } from "commander";
import { storeOptions } from "../config.ts";
import { createPreview } from "../domain/previews.ts";
import { HEX_ID_FORMAT } from "../domain/ids.ts";
import { AdminError } from "../domain/admin.ts";
import { emit, UsageError } from "./output.ts";
import { addOptions, storeFromOptions } from "./store-options.ts";

export function registerPreviews(program: Command): void {
  const preview = program.command("preview").description("manage Worker Previews");
  addOptions(preview.command("create").description("create the Preview of a branch from the Worker's previews base config"), storeOptions)
    .option("--account <id>", "account id")
    .option("--worker <name>", "Worker name")
    .option("--branch <branch>", "git branch the Preview tracks")
    .option("--json", "print one JSON object on stdout")
    .action(async (opts: Record<string, unknown>) => {
      const account = String(opts.account ?? "");
      if (!HEX_ID_FORMAT.test(account)) throw new UsageError("missing or invalid --account: an account id is 32 lowercase hex characters");
      const workerName = String(opts.worker ?? "").trim();
      const branch = String(opts.branch ?? "").trim();
      if (!workerName) throw new UsageError("missing required option --worker");
      if (!branch || branch.length > 256) throw new UsageError("missing or invalid --branch (1-256 characters)");
      const { store } = await storeFromOptions(opts);
      try {
        const created = await store.transaction(async (repos) => {
          const worker = await repos.workers.getByName(account, workerName);
          if (!worker) throw new AdminError(`no Worker named ${workerName} in account ${account}`);
          return createPreview(repos, account, worker.tag, branch);
        });
        emit(Boolean(opts.json), { preview_id: created.preview_id, branch: created.branch }, `Preview ${created.preview_id} tracks ${created.branch}`);
      } finally {
        await store.close();
      }
    });
}
