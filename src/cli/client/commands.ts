/**
 * The command-line client (issue 9 §2): `kiln builds list|get|logs|cancel|retry|create` and
 * `kiln triggers list`, over HTTP against any Workers Builds API — Kiln, or Cloudflare itself
 * (`--api-url https://api.cloudflare.com/client/v4`). A table for people, `--json` for scripts
 * (the API's `result`; lists `{result, result_info}`); API errors as `code: message`, exit 1;
 * `logs --follow` exits 1 when the build ends in anything but success.
 */
import { Option, type Command } from "commander";
import { clientOptions, loadClientConfig } from "../../config.ts";
import { table, UsageError } from "../output.ts";
import { ApiClient, ClientError } from "./api-client.ts";
import { followLogs, printLines } from "./follow.ts";
import { buildDetails, buildRow, BUILD_COLUMNS, type BuildView, type TriggerView } from "./format.ts";
import { terminalMode } from "./terminal-text.ts";

export type Opts = Record<string, unknown>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TAG = /^[0-9a-f]{32}$/;

/** Set by `logs --follow` when the build did not succeed (exit 1 without an error message). */
export class BuildNotSucceeded extends Error {
  constructor(readonly outcome: string | null) {
    super(`build ended ${outcome ?? "without an outcome"}`);
    this.name = "BuildNotSucceeded";
  }
}

export function clientCommand(parent: Command, name: string, description: string): Command {
  const cmd = parent.command(name).description(description);
  for (const o of clientOptions) cmd.addOption(new Option(`--${o.flag} <${o.arg}>`, `${o.description} [${o.env}]`));
  return cmd.option("--json", "print the API's result as one JSON object");
}

export function connect(opts: Opts): { api: ApiClient; account: string; json: boolean } {
  const config = loadClientConfig({ apiUrl: opts.apiUrl, apiToken: opts.apiToken, account: opts.account }, process.env);
  return { api: new ApiClient(config.apiUrl, config.apiToken), account: config.accountId, json: Boolean(opts.json) };
}

function uuidArg(value: string, what = "build"): string {
  if (!UUID.test(value)) throw new UsageError(`invalid ${what} id ${JSON.stringify(value)}: a UUID is expected`);
  return value;
}

/** A Worker given by name or tag → its tag (names are looked up in the account's scripts). */
async function workerTag(api: ApiClient, account: string, worker: string): Promise<string> {
  if (TAG.test(worker)) return worker;
  const scripts = await api.request<{ id: string; tag: string }[]>("GET", `/accounts/${account}/workers/scripts`);
  const found = scripts.result.find((s) => s.id === worker);
  if (!found) throw new ClientError(`no Worker named ${JSON.stringify(worker)} in account ${account}`);
  return found.tag;
}

/** `1 build`, `2 builds`. */
export const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? "" : "s"}`;

/**
 * The footer under a page of builds, or the error for a page past the last. Cloudflare and Kiln
 * answer such a page with an empty list; saying "page 3 of 1" would hide that the page is wrong.
 */
export function pageFooter(page: number, info: { per_page: number; total_count: number; total_pages?: number }): string {
  const pages = info.total_pages ?? Math.ceil(info.total_count / info.per_page);
  if (info.total_count === 0) {
    if (page > 1) throw new ClientError(`page ${page} is past the last page: there are no builds`);
    return "no builds";
  }
  if (page > pages) throw new ClientError(`page ${page} is past the last page: ${count(pages, "page")} of ${count(info.total_count, "build")}`);
  return `page ${page} of ${pages} (${count(info.total_count, "build")})`;
}

export function out(json: boolean, object: unknown, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(object)}\n` : `${human}\n`);
}

export function registerClient(program: Command): void {
  const builds = program.command("builds").description("builds of a Workers Builds API (Kiln or Cloudflare): list, get, logs, cancel, retry, create");

  clientCommand(builds, "list", "a Worker's builds, newest first")
    .requiredOption("--worker <name|tag>", "the Worker, by name or tag")
    .option("--page <n>", "page number (20 builds a page)", "1")
    .action(async (opts: Opts) => {
      const { api, account, json } = connect(opts);
      const page = Number(opts.page);
      if (!Number.isInteger(page) || page < 1) throw new UsageError(`invalid --page ${JSON.stringify(String(opts.page))}: a whole number from 1`);
      const tag = await workerTag(api, account, String(opts.worker));
      const r = await api.request<BuildView[]>("GET", `/accounts/${account}/builds/workers/${tag}/builds?page=${page}&per_page=20`);
      const info = r.result_info;
      // --json is the API's answer as it is (an empty page past the last, which scripts stop on).
      if (json) return out(json, { result: r.result, result_info: info }, "");
      const footer = info ? `\n${pageFooter(page, info)}` : "";
      out(json, { result: r.result, result_info: info }, `${table(r.result.map(buildRow), BUILD_COLUMNS)}${footer}`);
    });

  clientCommand(builds, "get", "one build")
    .argument("<build-uuid>")
    .action(async (uuid: string, opts: Opts) => {
      const { api, account, json } = connect(opts);
      const r = await api.request<BuildView>("GET", `/accounts/${account}/builds/builds/${uuidArg(uuid)}`);
      out(json, r.result, buildDetails(r.result));
    });

  clientCommand(builds, "logs", "a build's log; --follow until the build ends (exit 1 unless it succeeds)")
    .argument("<build-uuid>")
    .option("--follow", "keep printing new lines until the build stops")
    .option("--raw", "write the build's control sequences as they are (only to a terminal); by default a terminal gets colours only")
    .action(async (uuid: string, opts: Opts) => {
      const { api, account, json } = connect(opts);
      uuidArg(uuid);
      const mode = terminalMode(process.stdout.isTTY === true, opts.raw === true);
      if (opts.follow) {
        const outcome = await followLogs(api, account, uuid, { json, mode });
        if (outcome !== "success") throw new BuildNotSucceeded(outcome);
        return;
      }
      await printLines(api, account, uuid, json, mode);
    });

  clientCommand(builds, "cancel", "cancel a queued or running build (answers once it has stopped)")
    .argument("<build-uuid>")
    .action(async (uuid: string, opts: Opts) => {
      const { api, account, json } = connect(opts);
      const r = await api.request<{ build_uuid: string; build_outcome: string; stopped_on: string }>("PUT", `/accounts/${account}/builds/builds/${uuidArg(uuid)}/cancel`);
      out(json, r.result, `build ${r.result.build_uuid}: ${r.result.build_outcome} (stopped ${r.result.stopped_on})`);
    });

  clientCommand(builds, "retry", "a new build of the same commit and branch (Kiln extension)")
    .argument("<build-uuid>")
    .action(async (uuid: string, opts: Opts) => {
      const { api, account, json } = connect(opts);
      const r = await api.request<{ build_uuid: string; created_on: string }>("POST", `/accounts/${account}/builds/builds/${uuidArg(uuid)}/retry`);
      out(json, r.result, `build ${r.result.build_uuid} queued (retry of ${uuid})`);
    });

  clientCommand(builds, "create", "start a build of a trigger")
    .requiredOption("--trigger <uuid>", "trigger UUID")
    .option("--branch <branch>", "branch to build")
    .option("--commit <hash>", "commit to build")
    .action(async (opts: Opts) => {
      const { api, account, json } = connect(opts);
      if (opts.branch === undefined && opts.commit === undefined) throw new UsageError("missing --branch (or --commit)");
      const body = { ...(opts.branch !== undefined ? { branch: String(opts.branch) } : {}), ...(opts.commit !== undefined ? { commit_hash: String(opts.commit) } : {}) };
      const r = await api.request<{ build_uuid: string; created_on: string }>("POST", `/accounts/${account}/builds/triggers/${uuidArg(String(opts.trigger), "trigger")}/builds`, body);
      out(json, r.result, `build ${r.result.build_uuid} queued`);
    });

  const triggers = program.command("triggers").description("triggers of a Workers Builds API (Kiln or Cloudflare)");
  clientCommand(triggers, "list", "a Worker's triggers")
    .requiredOption("--worker <name|tag>", "the Worker, by name or tag")
    .action(async (opts: Opts) => {
      const { api, account, json } = connect(opts);
      const tag = await workerTag(api, account, String(opts.worker));
      const r = await api.request<TriggerView[]>("GET", `/accounts/${account}/builds/workers/${tag}/triggers`);
      const rows = r.result.map((t) => ({
        trigger_uuid: t.trigger_uuid,
        name: t.trigger_name,
        branches: [...t.branch_includes, ...t.branch_excludes.map((b) => `!${b}`)].join(","),
        build_command: t.build_command || "-",
        deploy_command: t.deploy_command,
        root: t.root_directory,
        deleted: t.deleted_on ? "yes" : "",
      }));
      out(json, { result: r.result, result_info: r.result_info }, table(rows, ["trigger_uuid", "name", "branches", "build_command", "deploy_command", "root", "deleted"]));
    });
}
