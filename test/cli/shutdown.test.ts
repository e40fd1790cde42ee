/**
 * Shutdown that keeps the API up: the first SIGTERM/SIGINT stops claiming and
 * drains while status, logs and cancels keep being answered and /healthz says draining; a
 * second signal terminates the running builds and stores their outcomes before exiting; a
 * person at a terminal is told what is awaited and how to cut it short.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { openStore } from "../../src/store/index.ts";
import { waitFor } from "../helpers/builds.ts";
import { cleanEnv, KILN_BIN, startServer } from "../helpers/cli.ts";
import { makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { servedTrigger } from "../helpers/served-builds.ts";

const SHUTDOWN_LINE = "Build was terminated: the server shut down before the build finished";

describe("sqlite: shutdown keeps the API up", () => {
  let db: TestDatabase;
  let repo: TestRepo;
  /** Kills what a failed test left running. */
  let stop: (() => void) | undefined;
  before(async () => {
    repo = makeRepo({ name: "drain", files: { "a.txt": "a" } });
  });
  after(() => repo.cleanup());

  it("first signal: no new claims, status/logs/cancel answered, /healthz 503 draining; exits once the drain is empty", async () => {
    db = await makeDatabase("sqlite");
    try {
      const server = await startServer([...db.flags, "--drain-timeout", "30"], { KILN_GIT_URL_TEMPLATE: repo.template });
      stop = () => server.child.kill("SIGKILL");
      const t = await servedTrigger(server, db.flags, "drain", "echo started; sleep 30");
      const uuid = await t.start();
      const logged = async () => (await t.api("GET", `/accounts/${t.account}/builds/builds/${uuid}/logs`)).body.result.lines.some((l: [number, string]) => l[1] === "started");
      await waitFor("the build to print", logged);
      const healthy = await fetch(`${server.base}/healthz`);
      assert.equal(healthy.status, 200);

      server.child.kill("SIGTERM");
      await waitFor("the drain to start", async () => server.stderr().includes("terminates them now)\"}"));
      assert.match(server.stderr(), /"signal":"SIGTERM","builds":1,"drain_s":30,"msg":"shutting down: waiting for running builds \(a second signal terminates them now\)"/);

      const health = await fetch(`${server.base}/healthz`);
      assert.equal(health.status, 503);
      assert.deepEqual(await health.json(), {
        success: false,
        errors: [{ code: 10503, message: "Service unavailable: the server is shutting down (draining its builds)" }],
        messages: [],
        result: { status: "draining", database: "sqlite" },
      });
      assert.equal((await t.build(uuid)).status, "running");
      assert.ok(await logged(), "the log is still served");
      // A build made during the drain is queued, not claimed by the node going away.
      const later = await t.start();
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await t.build(later)).status, "queued");

      const cancel = await t.api("PUT", `/accounts/${t.account}/builds/builds/${uuid}/cancel`);
      assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
      assert.equal(cancel.body.result.build_outcome, "cancelled");
      // Nothing left to wait for: the server stops without waiting out the 30 s.
      const since = Date.now();
      assert.equal(await server.exited, 0);
      assert.ok(Date.now() - since < 10_000, `exited ${Date.now() - since} ms after the last build ended`);
      assert.match(server.stderr(), /"msg":"stopped"/);

      const store = await openStore({ dataDir: db.dataDir, secretKey: Buffer.from(db.secretKey, "base64") });
      try {
        assert.equal((await store.builds.getByUuid(later))?.status, "queued", "the next start or another runner takes it");
      } finally {
        await store.close();
      }
    } finally {
      stop?.();
      await db.cleanup();
    }
  });

  it("second signal: the running builds are terminated now, their outcomes stored, nothing left in work/; a terminal is told each step", async () => {
    db = await makeDatabase("sqlite");
    try {
      const term = await startOnTerminal([...db.flags, "--drain-timeout", "120"], { KILN_GIT_URL_TEMPLATE: repo.template });
      stop = term.kill;
      const t = await servedTrigger(term, db.flags, "drain2", "echo started; sleep 120", "drain");
      const uuids = [await t.start(), await t.start()];
      await waitFor("both builds to run", async () => (await Promise.all(uuids.map(t.build))).every((b) => b.status === "running"));

      term.type("\x03");
      await waitFor("the drain note", async () => term.output().includes("Press Ctrl-C again"));
      assert.match(term.output(), /Kiln is shutting down: waiting up to 120 s for 2 running builds to finish \(the API keeps answering\)\.\r?\nPress Ctrl-C again \(or send SIGTERM again\) to terminate them now\./);
      const since = Date.now();
      term.type("\x03");
      assert.equal(await term.exited, 0, term.output().slice(-3000));
      assert.ok(Date.now() - since < 15_000, `second signal to exit: ${Date.now() - since} ms`);
      assert.match(term.output(), /Terminating 2 builds now and storing their outcome; a third signal exits at once\./);

      const store = await openStore({ dataDir: db.dataDir, secretKey: Buffer.from(db.secretKey, "base64") });
      try {
        for (const uuid of uuids) {
          const b = await store.builds.getByUuid(uuid);
          assert.equal(b?.status, "stopped");
          assert.equal(b?.build_outcome, "terminated");
          assert.ok(b?.stopped_on);
          const lines = await store.builds.readLogs(uuid, 0, 1000);
          assert.equal(lines.at(-1)?.[1], SHUTDOWN_LINE);
        }
      } finally {
        await store.close();
      }
      assert.deepEqual(fs.readdirSync(path.join(db.dataDir, "work")), [], "no workspace left behind");
    } finally {
      stop?.();
      await db.cleanup();
    }
  });
});

/**
 * `kiln serve` on a pseudo-terminal (util-linux `script`): what a person running it in a shell
 * sees, and Ctrl-C typed as a person does (the terminal sends SIGINT to the foreground group).
 */
async function startOnTerminal(args: string[], env: Record<string, string>) {
  const command = [process.execPath, KILN_BIN, "serve", "--port", "0", "--log-level", "info", ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  // `exec`: script(1) runs the command through a shell, and a shell left waiting between the
  // terminal and Kiln receives the same Ctrl-C; some shells then end with 130 themselves after
  // Kiln exited 0, which is the shell's exit status, not Kiln's.
  const child = spawn("script", ["-qfec", `exec ${command}`, "/dev/null"], { env: { ...cleanEnv(), ...env }, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-262_144)));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const base = await waitFor("the server to listen", async () => /"url":"(http:\/\/[^"]+)\/client\/v4","msg":"listening"/.exec(out)?.[1], 30_000);
  return {
    base,
    stdout: () => out,
    output: () => out,
    type: (text: string) => child.stdin.write(text),
    kill: () => {
      child.kill("SIGKILL");
    },
    exited,
  };
}
