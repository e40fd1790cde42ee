/**
 * The command-line client's builds: `kiln builds list|get|logs|cancel|retry|create`, over HTTP against any Workers Builds API — Kiln, or Cloudflare itself
 * (`--api-url https://api.cloudflare.com/client/v4`). A table for people, `--json` for scripts
 * (the API's `result`; lists `{result, result_info}`); API errors as `code: message`, exit 1;
 * `logs --follow` exits 1 when the build ends in anything but success.
 */
import type { Command } from "commander";
import { table, UsageError } from "../output.ts";
import { ClientError } from "./api-client.ts";
import { clientCommand, out, session as connect, uuidArg, workerTag, type Opts } from "./client-command.ts";
import { followLogs, printLines } from "./follow.ts";
import { buildDetails, buildRow, BUILD_COLUMNS, type BuildView } from "./format.ts";
import { terminalMode } from "./terminal-text.ts";
import { registerBuildTokens } from "./build-tokens.ts";
import { registerConnect } from "./connect.ts";
import { registerDeployHooks } from "./deploy-hooks.ts";
import { registerRepos } from "./repos.ts";
import { registerTriggers } from "./triggers.ts";
import { registerVars } from "./vars.ts";

/** Set by `logs --follow` when the build did not succeed (exit 1 without an error message). */
export class BuildNotSucceeded extends Error {
  constructor(readonly outcome: string | null) {
    super(`build ended ${outcome ?? "without an outcome"}`);
    this.name = "BuildNotSucceeded";
  }
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

/** Every client command: builds here, configuration in a file per resource. */
export function registerClient(program: Command): void {
  registerBuilds(program);
  registerConnect(program);
  registerRepos(program);
  registerBuildTokens(program);
  registerTriggers(program);
  registerVars(program);
  registerDeployHooks(program);
}

function registerBuilds(program: Command): void {
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
    .option("--follow", "then print its log until it stops, as `builds logs --follow` (exit 1 unless it succeeds)")
    .action(async (opts: Opts) => {
      const { api, account, json } = connect(opts);
      if (opts.branch === undefined && opts.commit === undefined) throw new UsageError("missing --branch (or --commit)");
      const body = { ...(opts.branch !== undefined ? { branch: String(opts.branch) } : {}), ...(opts.commit !== undefined ? { commit_hash: String(opts.commit) } : {}) };
      const r = await api.request<{ build_uuid: string; created_on: string }>("POST", `/accounts/${account}/builds/triggers/${uuidArg(String(opts.trigger), "trigger")}/builds`, body);
      if (!opts.follow) return out(json, r.result, `build ${r.result.build_uuid} queued`);
      // Followed: stdout is the log (or its one JSON object), the build's id goes to stderr.
      process.stderr.write(`build ${r.result.build_uuid} queued\n`);
      const outcome = await followLogs(api, account, r.result.build_uuid, { json, mode: terminalMode(process.stdout.isTTY === true, false) });
      if (outcome !== "success") throw new BuildNotSucceeded(outcome);
    });
}
