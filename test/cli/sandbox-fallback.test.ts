/**
 * `kiln serve` (`npm start`) on a host without the sandbox's tools: it still starts and runs
 * builds, and says what is missing at start and in every build's log, never silently.
 *
 * The tools are made to be missing for the server alone: it runs in a private mount namespace
 * where `/usr/bin/bwrap` (or `/usr/bin/slirp4netns`) is covered by /dev/null, which is not
 * executable, so Kiln's probe finds no such tool, as on a host where the package is not installed.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { detectSandbox } from "../../src/runner/sandbox.ts";
import { waitFor } from "../helpers/builds.ts";
import { startServer } from "../helpers/cli.ts";
import { makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { servedTrigger } from "../helpers/served-builds.ts";

const detected = await detectSandbox();
const isRoot = process.getuid?.() === 0;
const skip = !isRoot ? "hiding a tool needs a mount namespace (root)" : detected.mode !== "bubblewrap" ? `bubblewrap is missing here already: ${detected.detail}` : false;
const ROOT_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };

/** Runs the server with `tool` covered by /dev/null in a mount namespace of its own (the pid stays the server's). */
const hiding = (tool: string) => ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", 'mount --bind /dev/null "$0" && exec "$@"', tool];

/** pino's level number of the server's log line whose message starts with `start`. */
function logLine(stderr: string, start: string): { level: number; msg: string } | undefined {
  for (const line of stderr.split("\n")) {
    try {
      const parsed = JSON.parse(line) as { level: number; msg: string };
      if (parsed.msg.startsWith(start)) return parsed;
    } catch {
      /* not a JSON line */
    }
  }
  return undefined;
}

/** Network namespaces (and the slirp4netns attached to them) a server of this pid made. */
function networksOf(pid: number): string[] {
  const files = fs.existsSync("/run/netns") ? fs.readdirSync("/run/netns").filter((n) => n.startsWith(`kiln-${pid}-`) || n.startsWith(`kiln-probe-${pid}-`)) : [];
  const slirps = fs
    .readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        return fs.readFileSync(`/proc/${e}/cmdline`, "utf8").includes(`/run/netns/kiln-${pid}-`);
      } catch {
        return false;
      }
    });
  return [...files, ...slirps.map((p) => `process ${p}`)];
}

describe("sqlite: kiln serve without the sandbox's tools", { skip }, () => {
  let repo: TestRepo;
  const dbs: TestDatabase[] = [];
  before(() => {
    repo = makeRepo({ name: "fallback", files: { "a.txt": "a" } });
  });
  after(async () => {
    for (const db of dbs) await db.cleanup();
    repo?.cleanup();
  });

  /** A server of its own (a fresh database: its bootstrap block gives the token) and one build. */
  async function serveAndBuild(tool: string, command: string) {
    const db = await makeDatabase("sqlite");
    dbs.push(db);
    const server = await startServer(db.flags, { KILN_GIT_URL_TEMPLATE: repo.template }, { prefix: hiding(tool) });
    try {
      const pid = server.child.pid as number;
      const t = await servedTrigger(server, db.flags, "fallback", command);
      const uuid = await t.start();
      const b = await waitFor("the build to stop", async () => {
        const row = await t.build(uuid);
        return row.status === "stopped" ? row : undefined;
      }, 60_000);
      const logs = await t.api("GET", `/accounts/${t.account}/builds/builds/${uuid}/logs`);
      const lines = (logs.body.result.lines as [number, string][]).map(([, text]) => text);
      const networks = networksOf(pid);
      return { b, lines, stderr: server.stderr(), networks, pid, server };
    } catch (error) {
      server.child.kill("SIGKILL");
      await server.exited;
      throw error;
    }
  }

  it("without bwrap: the start warns that builds are not isolated; a build runs in a process group as nobody and its log says so", async () => {
    const nobody = execFileSync("id", ["-u", "nobody"], { env: ROOT_ENV }).toString().trim();
    const { b, lines, stderr, networks, pid, server } = await serveAndBuild("/usr/bin/bwrap", 'echo "UID: $(id -u)"');
    server.child.kill("SIGTERM");
    assert.equal(await server.exited, 0, stderr);
    const start = logLine(stderr, "WARNING: builds are NOT isolated: ");
    assert.ok(start, stderr);
    assert.equal(start.level, 40, "a warning");
    assert.match(start.msg, /^WARNING: builds are NOT isolated: process group only: bwrap not found \(apt-get install bubblewrap\); the build sees the host's files and network/);
    assert.equal(logLine(stderr, "builds run under bubblewrap"), undefined);
    assert.equal(b.build_outcome, "success", lines.join("\n"));
    const sandbox = lines.filter((l) => l.startsWith("Sandbox: "));
    assert.equal(sandbox.length, 1, lines.join("\n"));
    assert.match(sandbox[0] as string, /^Sandbox: process-group \(WARNING: this build is not isolated; process group only: bwrap not found \(apt-get install bubblewrap\); .*; user nobody; \d+(\.\d+)? CPUs?\)$/);
    assert.ok(lines.includes(`UID: ${nobody}`), lines.join("\n"));
    // A process-group build never takes a network of its own: none was made for it.
    assert.deepEqual(networks, [], "network namespaces or slirp4netns of the fallback server");
    assert.deepEqual(networksOf(pid), []);
  });

  it("without slirp4netns: builds stay under bubblewrap with no network (loopback only), said at start and in the log", async () => {
    const cmd = "echo \"NETDEVS: $(awk -F: 'NR > 2 { gsub(/ /, \"\", $1); print $1 }' /proc/net/dev | tr '\\n' ' ')\"";
    const { b, lines, stderr, pid, server } = await serveAndBuild("/usr/bin/slirp4netns", cmd);
    server.child.kill("SIGTERM");
    assert.equal(await server.exited, 0, stderr);
    const start = logLine(stderr, "builds run under bubblewrap; build network: ");
    assert.ok(start, stderr);
    assert.equal(start.level, 40, "a warning: the network asked for is not the one in force");
    assert.equal(start.msg, "builds run under bubblewrap; build network: none (isolated unavailable: slirp4netns not found (apt-get install slirp4netns nftables iproute2))");
    assert.equal(b.build_outcome, "success", lines.join("\n"));
    const sandbox = lines.find((l) => l.startsWith("Sandbox: "));
    assert.ok(sandbox !== undefined && sandbox.startsWith("Sandbox: bubblewrap ("), lines.join("\n"));
    assert.ok(sandbox.includes("; network: none (loopback only): isolated network unavailable: slirp4netns not found (apt-get install slirp4netns nftables iproute2); "), sandbox);
    assert.ok(lines.includes("NETDEVS: lo "), lines.join("\n"));
    assert.deepEqual(networksOf(pid), []);
  });
});
