/**
 * What every client command shares: the API settings (--api-url, --api-token, --account) and
 * --json, ids checked before a request is sent (a malformed one is a usage error, exit 2),
 * repeatable flags, and Workers found by name or tag in the account's scripts.
 */
import fs from "node:fs";
import { Option, type Command } from "commander";
import { clientOptions, loadClientConfig } from "../../config.ts";
import { UsageError } from "../output.ts";
import { ApiClient, ClientError } from "./api-client.ts";
import { plainLines } from "./terminal-text.ts";

export type Opts = Record<string, unknown>;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TAG = /^[0-9a-f]{32}$/;

export interface Session {
  api: ApiClient;
  account: string;
  json: boolean;
  /** The API base as configured (`…/client/v4`), for the URLs printed (deploy hooks). */
  apiUrl: string;
}

export function clientCommand(parent: Command, name: string, description: string): Command {
  const cmd = parent.command(name).description(description);
  for (const o of clientOptions) cmd.addOption(new Option(`--${o.flag} <${o.arg}>`, `${o.description} [${o.env}]`));
  return cmd.option("--json", "print the API's result as one JSON object");
}

export function session(opts: Opts): Session {
  const config = loadClientConfig({ apiUrl: opts.apiUrl, apiToken: opts.apiToken, account: opts.account }, process.env);
  return { api: new ApiClient(config.apiUrl, config.apiToken), account: config.accountId, json: Boolean(opts.json), apiUrl: config.apiUrl };
}

export function uuidArg(value: string, what = "build"): string {
  if (!UUID.test(value)) throw new UsageError(`invalid ${what} id ${JSON.stringify(value)}: a UUID is expected`);
  return value;
}

/** A repeatable option: every value given, in order. */
export function repeatable(flags: string, description: string): Option {
  return new Option(flags, description).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
}

/** A repeatable option's list: absent → undefined; only empty values (`--path-exclude ''`) → []. */
export function listOption(opts: Opts, key: string): string[] | undefined {
  const value = opts[key];
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value : [value]).map(String).filter((v) => v !== "");
}

/** A string option: absent → undefined. */
export function textOption(opts: Opts, key: string): string | undefined {
  const value = opts[key];
  return value === undefined ? undefined : String(value);
}

export function requiredText(opts: Opts, key: string, flag: string): string {
  const value = textOption(opts, key);
  if (value === undefined || value.trim() === "") throw new UsageError(`missing required option --${flag}`);
  return value.trim();
}

/** A secret given as `-`: read from stdin (so it stays out of the shell's history and `ps`), one trailing newline dropped. */
export function secretValue(value: string): string {
  if (value !== "-") return value;
  if (process.stdin.isTTY) process.stderr.write("kiln: reading the secret from stdin (end with Ctrl-D)\n");
  return fs.readFileSync(0, "utf8").replace(/\r?\n$/, "");
}

export interface Script {
  /** The Worker's name. */
  id: string;
  tag: string;
}

/** A Worker by name or tag, from the account's scripts (`GET /accounts/{id}/workers/scripts`). */
export async function findWorker(api: ApiClient, account: string, worker: string): Promise<Script> {
  const scripts = await api.request<Script[]>("GET", `/accounts/${account}/workers/scripts`);
  const found = scripts.result.find((s) => s.id === worker) ?? (TAG.test(worker) ? scripts.result.find((s) => s.tag === worker) : undefined);
  if (!found) throw new ClientError(`no Worker named ${JSON.stringify(worker)} in account ${account}`);
  return found;
}

/** A Worker given by name or tag → its tag (a tag is taken as it is, without a request). */
export async function workerTag(api: ApiClient, account: string, worker: string): Promise<string> {
  if (TAG.test(worker)) return worker;
  return (await findWorker(api, account, worker)).tag;
}

export function out(json: boolean, object: unknown, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(object)}\n` : `${plainLines(human)}\n`);
}

/** `key: value` lines, the values aligned. */
export function details(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`).join("\n");
}
