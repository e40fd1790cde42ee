/** Helpers for build tests: a configured trigger over a real git repository, waiting, /proc inspection. */
import fs from "node:fs";
import assert from "node:assert/strict";
import type { Harness } from "./harness.ts";
import { seedBuildToken, seedConnection } from "./fixtures.ts";
import type { TestRepo } from "./git-repos.ts";

export interface BuildSetup {
  accountId: string;
  write: string;
  read: string;
  triggerUuid: string;
  workerTag: string;
  buildTokenUuid: string;
  tokenSecret: string;
}

/** An account with a Worker whose production trigger builds `repo` with the given commands. */
export async function setupTrigger(
  h: Harness,
  repo: TestRepo,
  commands: { build?: string; deploy?: string; env?: Record<string, { is_secret: boolean; value: string }> },
  name = "app",
  providerType: "github" | "gitlab" = "github",
): Promise<BuildSetup> {
  const accountId = (await h.account(name)).id;
  const write = (await h.token([accountId], ["Workers CI Write"], { name: "ci-writer" })).value;
  const read = (await h.token([accountId], ["Workers CI Read"])).value;
  const worker = await h.worker(accountId, name);
  const connection = await seedConnection(h, accountId, { name: repo.name, id: `repo-${repo.name}-${accountId.slice(0, 6)}` }, providerType);
  const { token, secret } = await seedBuildToken(h, accountId);
  const created = await h.call("POST", `/client/v4/accounts/${accountId}/builds/triggers`, {
    token: write,
    body: {
      external_script_id: worker.tag,
      trigger_name: "production",
      repo_connection_uuid: connection.repo_connection_uuid,
      build_token_uuid: token.build_token_uuid,
      build_command: commands.build ?? "",
      deploy_command: commands.deploy ?? "",
      root_directory: "/",
      branch_includes: ["main"],
      branch_excludes: [],
      path_includes: ["*"],
      path_excludes: [],
      // The default is on; build tests turn the cache on themselves when they test it.
      build_caching_enabled: false,
    },
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const triggerUuid = created.body.result.trigger_uuid as string;
  if (commands.env) {
    const now = new Date().toISOString();
    const vars = Object.entries(commands.env).map(([key, v]) => ({ key, is_secret: v.is_secret, value: v.value, created_on: now }));
    await h.store.transaction((r) => r.envVars.upsert("trigger", triggerUuid, vars));
  }
  return { accountId, write, read, triggerUuid, workerTag: worker.tag, buildTokenUuid: token.build_token_uuid, tokenSecret: secret };
}

export async function startBuild(h: Harness, s: BuildSetup, body: Record<string, unknown> = { branch: "main" }): Promise<string> {
  const r = await h.call("POST", `/client/v4/accounts/${s.accountId}/builds/triggers/${s.triggerUuid}/builds`, { token: s.write, body });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.result.build_uuid as string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are checked by the tests
export async function getBuild(h: Harness, s: BuildSetup, uuid: string): Promise<any> {
  const r = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}`, { token: s.read });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.result;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see getBuild
export function waitForStatus(h: Harness, s: BuildSetup, uuid: string, status: string, timeoutMs = 30_000): Promise<any> {
  return waitFor(`build ${uuid} to be ${status}`, async () => {
    const b = await getBuild(h, s, uuid);
    return b.status === status ? b : undefined;
  }, timeoutMs);
}

/** Every log line of a build, following the cursor like Cloudflare's client does. */
export async function allLogs(h: Harness, s: BuildSetup, uuid: string): Promise<{ lines: [number, string][]; pages: number }> {
  const lines: [number, string][] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const r = await h.call("GET", `/client/v4/accounts/${s.accountId}/builds/builds/${uuid}/logs${cursor ? `?cursor=${cursor}` : ""}`, { token: s.read });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    pages++;
    lines.push(...r.body.result.lines);
    cursor = r.body.result.cursor;
    if (!r.body.result.truncated) return { lines, pages };
  }
}

/** Pids of live processes whose environment carries this build's id (every process of a build does). */
export function buildProcesses(buildUuid: string): number[] {
  const marker = `WORKERS_CI_BUILD_UUID=${buildUuid}`;
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = fs.readFileSync(`/proc/${entry}/environ`, "utf8");
      if (environ.split("\0").includes(marker)) {
        const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
        // Zombies are already dead; only their parent has not reaped them yet.
        if (!/\) Z /.test(stat)) pids.push(Number(entry));
      }
    } catch {
      /* the process ended while we looked */
    }
  }
  return pids;
}
