/**
 * Build sandbox escapes (issue 8 §3), through the real API, runner and sandbox: builds that try
 * to read Kiln's database and key file, another build's workspace and the server's environment
 * all fail to; a fork bomb ends `terminated` on the pids limit while the server keeps answering
 * and the next build succeeds; a build filling its workspace past --workspace-limit ends
 * `terminated` with the watchdog's line and its disk is freed.
 *
 * Every attempt is a line of the build's own output: "BLOCKED <name>" when the command failed,
 * "LEAK <name>: <what it read>" when it succeeded. The tests assert on the build log and outcome.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { detectSandbox } from "../../src/runner/sandbox.ts";
import { detectSandboxSupport } from "../../src/runner/sandbox-mode.ts";
import { KEY_FILE, loadSecretKey } from "../../src/secret-key.ts";
import { allLogs, buildProcesses, setupTrigger, startBuild, waitFor, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { dialects } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { startHarness, type Harness } from "../helpers/harness.ts";

const detected = await detectSandbox();
const support = await detectSandboxSupport();
const isRoot = process.getuid?.() === 0;
const noNamespaces = detected.mode !== "namespaces" ? `namespace sandbox unavailable here: ${detected.detail}` : !isRoot ? "the build user needs Kiln to run as root" : false;
const noPidsLimit = noNamespaces || (support.cgroups.version === null ? `no cgroup pids limit here: ${support.cgroups.detail}` : false);

const MB = 1024 * 1024;
const WORKSPACE_LIMIT = 50 * MB;
const texts = (lines: [number, string][]) => lines.map(([, t]) => t);

/**
 * `try NAME CMD…`: prints `BLOCKED NAME: <its error>` when CMD fails, `LEAK NAME: <its first
 * output>` when it succeeds. Defined at the start of every escape script.
 */
const TRY = `try() { name=$1; shift; if out=$("$@" 2>&1); then echo "LEAK $name: $(printf '%s' "$out" | tr -c '[:print:]' '?' | head -c 160)"; else echo "BLOCKED $name: $(printf '%s' "$out" | tr -c '[:print:]' '?' | head -c 160)"; fi; }`;

/** The escape scripts, committed to the test repository. */
const SCRIPTS: Record<string, string> = {
  "escape-data.sh": [
    TRY,
    'try db cat "$DATA/kiln.db"',
    'try db-wal cat "$DATA/kiln.db-wal"',
    `try key cat "$DATA/${KEY_FILE}"`,
    "try dotdot-db cat ../../../kiln.db",
    `try dotdot-key cat ../../../${KEY_FILE}`,
    'try proc1-root-db cat "/proc/1/root$DATA/kiln.db"',
    `try proc-self-root-key cat "/proc/self/root$DATA/${KEY_FILE}"`,
    'try mirrors ls -A "$DATA/mirrors"',
    'try umount umount "$DATA"',
    `try userns-umount unshare -rm sh -c 'umount -l "$DATA" && cat "$DATA/${KEY_FILE}"'`,
    `try nsenter nsenter -t 1 -m cat "$DATA/${KEY_FILE}"`,
    // umount2(2) itself (x86_64: 166, aarch64: 39), as root of a fresh user namespace.
    `try userns-umount2 unshare -rm perl -e 'my $n = $ARGV[1] eq "aarch64" ? 39 : 166; syscall($n, $ARGV[0], 2) == 0 or die "umount2: $!\\n"; open my $f, "<", "$ARGV[0]/${KEY_FILE}" or die "open: $!\\n"; print <$f>' "$DATA" "$(uname -m)"`,
    'echo "DATA-LIST: $(ls -A "$DATA" | tr "\\n" " ")"',
    'echo "WORK-LIST: $(ls -A "$DATA/work" | tr "\\n" " ")"',
    'echo "WHOAMI: $(id -u)"',
  ].join("\n"),
  "escape-workspace.sh": [
    TRY,
    'try a-repo-file cat "$DATA/work/$A_UUID/repo/a-marker.txt"',
    'try a-home-file cat "$DATA/work/$A_UUID/home/.config/a.txt"',
    'try a-workdir ls -A "$DATA/work/$A_UUID"',
    'try a-dotdot cat "../../$A_UUID/repo/a-marker.txt"',
    `try a-processes sh -c 'for p in /proc/[0-9]*; do grep -qas "WORKERS_CI_BUILD_UUID=$A_UUID" "$p/environ" && { echo "$p"; exit 0; }; done; exit 1'`,
            `try a-proc-cwd sh -c 'cat /proc/[0-9]*/cwd/a-marker.txt'`,
            'echo "PIDS-VISIBLE: $(ls /proc | grep -c "^[0-9]")"',
          ].join("\n"),
  "escape-env.sh": [
          TRY,
          "try init-environ cat /proc/1/environ",
          'try server-environ cat "/proc/$SERVER_PID/environ"',
          'try server-cmdline cat "/proc/$SERVER_PID/cmdline"',
          'try parent-environ sh -c \'cat "/proc/$(ps -o ppid= -p 1 2>&1 | tr -d " ")/environ"\'',
          "echo ENV-START; env; echo ENV-END",
          "for p in /proc/[0-9]*; do tr '\\0' '\\n' < \"$p/environ\" 2>&1 || :; done",
          "echo ENVIRON-SCAN-DONE",
        ].join("\n"),
};

function attempts(t: string[]): { blocked: string[]; leaked: string[] } {
  if (process.env.KILN_TEST_SHOW_ATTEMPTS === "1") console.log(t.filter((l) => /^(BLOCKED|LEAK|PIDS|DATA|WORK|WHOAMI)/.test(l)).join("\n"));
  return {
    blocked: t.filter((l) => l.startsWith("BLOCKED ")).map((l) => l.slice(8, l.indexOf(":"))),
    leaked: t.filter((l) => l.startsWith("LEAK ")),
  };
}

/** Escape attempts blocked over the whole file, for docs/reliability.md. */
const tally: Record<string, number> = {};

for (const dialect of dialects()) {
  describe(`${dialect}: sandbox escapes through the real runner (${detected.mode}: ${detected.detail})`, { skip: noNamespaces }, () => {
    let h: Harness;
    let repo: TestRepo;
    let dataDir: string;
    const sentinelKey = `KILN_TEST_SENTINEL_${randomBytes(4).toString("hex").toUpperCase()}`;
    const sentinelValue = `server-only-${randomBytes(12).toString("hex")}`;

    async function run(s: BuildSetup, timeoutMs = 60_000) {
      const uuid = await startBuild(h, s);
      const b = await waitForStatus(h, s, uuid, "stopped", timeoutMs);
      return { uuid, b, t: texts((await allLogs(h, s, uuid)).lines) };
    }

    before(async () => {
      // In the test process's environment before the server starts: the server's environment.
      process.env[sentinelKey] = sentinelValue;
      // The escape scripts are files of the repository (a build command is at most 512 characters).
      repo = makeRepo({ name: `escape-${dialect}`, files: { "README.md": "hello\n", ...SCRIPTS } });
      h = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: repo.template, cancelGrace: 1, slots: 4, buildTimeout: 90, workspaceLimit: WORKSPACE_LIMIT });
      dataDir = h.db.dataDir;
      // The key file as a server without --secret-key has it (the harness passes the key).
      loadSecretKey({ dataDir });
    });
    after(async () => {
      delete process.env[sentinelKey];
      await h.close();
      repo.cleanup();
    });

    it("cannot read the database, the WAL, the key file or the git mirrors, by any path", async () => {
      const key = fs.readFileSync(path.join(dataDir, KEY_FILE), "utf8").trim();
      if (dialect === "sqlite") assert.ok(fs.existsSync(path.join(dataDir, "kiln.db")), "the database is there on the host");
      const names = ["db", "db-wal", "key", "dotdot-db", "dotdot-key", "proc1-root-db", "proc-self-root-key", "mirrors", "umount", "userns-umount", "nsenter", "userns-umount2"];
      const s = await setupTrigger(h, repo, {
        build: "sh ./escape-data.sh",
        env: { DATA: { is_secret: false, value: dataDir } },
      }, "db-reader");
      const { uuid, b, t } = await run(s);
      assert.equal(b.build_outcome, "success", t.join("\n"));
      const { blocked, leaked } = attempts(t);
      assert.deepEqual(leaked, [], t.join("\n"));
      assert.deepEqual(blocked.sort(), [...names].sort(), t.join("\n"));
      assert.ok(t.includes("DATA-LIST: work "), "only the path to its own workspace is visible in the data dir");
      assert.ok(t.includes(`WORK-LIST: ${uuid} `), "only its own workspace");
      assert.ok(!t.includes("WHOAMI: 0"), "not root");
      const all = t.join("\n");
      assert.ok(!all.includes(key), "the key never reaches the log");
      assert.doesNotMatch(all, /SQLite format/);
      // Still there, untouched, on the host.
      assert.equal(fs.readFileSync(path.join(dataDir, KEY_FILE), "utf8").trim(), key);
      tally["data dir"] = blocked.length + 2;
    });

    it("cannot read another build's workspace or HOME, or see its processes", async () => {
      const mark = `a-private-${randomBytes(8).toString("hex")}`;
      const a = await setupTrigger(h, repo, {
        build: 'printf "%s\\n" "$MARK" > a-marker.txt; mkdir -p "$HOME/.config"; printf "%s\\n" "$MARK" > "$HOME/.config/a.txt"; echo A-ready; sleep 60',
        env: { MARK: { is_secret: false, value: mark } },
      }, "tenant-a");
      const aUuid = await startBuild(h, a);
      await waitFor("build A to be ready", async () => texts((await allLogs(h, a, aUuid)).lines).includes("A-ready"), 30_000);
      const aRepo = path.join(dataDir, "work", aUuid, "repo");
      assert.equal(fs.readFileSync(path.join(aRepo, "a-marker.txt"), "utf8").trim(), mark, "A's file is there on the host");
      try {
        const names = ["a-repo-file", "a-home-file", "a-workdir", "a-dotdot", "a-processes", "a-proc-cwd"];
        const bSetup = await setupTrigger(h, repo, {
          build: "sh ./escape-workspace.sh",
          env: { DATA: { is_secret: false, value: dataDir }, A_UUID: { is_secret: false, value: aUuid } },
        }, "tenant-b");
        const { b, t } = await run(bSetup);
        assert.equal(b.build_outcome, "success", t.join("\n"));
        const { blocked, leaked } = attempts(t);
        assert.deepEqual(leaked, [], t.join("\n"));
        assert.deepEqual(blocked.sort(), [...names].sort(), t.join("\n"));
        assert.ok(!t.join("\n").includes(mark), "A's data never reaches B's log");
        const visible = Number(t.find((l) => l.startsWith("PIDS-VISIBLE: "))?.slice(14));
        assert.ok(visible > 0 && visible < 10, `B sees only its own namespace's processes (${visible})`);
        tally["another build"] = blocked.length;
      } finally {
        await h.call("PUT", `/client/v4/accounts/${a.accountId}/builds/builds/${aUuid}/cancel`, { token: a.write });
        await waitForStatus(h, a, aUuid, "stopped");
      }
    });

    it(
      "each build has its own /tmp: a file one build leaves there is not there for the next",
      async () => {
        const mark = `tmp-drop-${randomBytes(8).toString("hex")}`;
        const a = await setupTrigger(h, repo, { build: `printf '%s\\n' "$MARK" > "/tmp/kiln-drop-$MARK_ID"`, env: { MARK: { is_secret: false, value: mark }, MARK_ID: { is_secret: false, value: mark.slice(-8) } } }, "tmp-a");
        const b = await setupTrigger(h, repo, { build: `cat "/tmp/kiln-drop-$MARK_ID" || echo not-there`, env: { MARK_ID: { is_secret: false, value: mark.slice(-8) } } }, "tmp-b");
        try {
          assert.equal((await run(a)).b.build_outcome, "success");
          const { t } = await run(b);
          assert.ok(!t.includes(mark), "build B read what build A left in /tmp");
        } finally {
          fs.rmSync(`/tmp/kiln-drop-${mark.slice(-8)}`, { force: true });
        }
      },
    );

    it("cannot see the server's environment: env, /proc/1/environ, /proc/<server pid>/environ, every /proc/*/environ", async () => {
      const names = ["init-environ", "server-environ", "server-cmdline", "parent-environ"];
      const s = await setupTrigger(h, repo, {
        build: "sh ./escape-env.sh",
        env: { SERVER_PID: { is_secret: false, value: String(process.pid) } },
      }, "env-reader");
      const { b, t } = await run(s);
      assert.equal(b.build_outcome, "success", t.join("\n"));
      const { blocked, leaked } = attempts(t);
      assert.deepEqual(leaked, [], t.join("\n"));
      assert.deepEqual(blocked.sort(), [...names].sort(), t.join("\n"));
      assert.ok(t.includes("ENVIRON-SCAN-DONE"));
      const all = t.join("\n");
      assert.ok(!all.includes(sentinelValue) && !all.includes(sentinelKey), "the server's own variable never reaches the build");
      for (const [k, v] of Object.entries(process.env)) {
        if (v && v.length >= 12 && !["PATH", "HOME", "LANG", "PWD"].includes(k)) assert.ok(!all.includes(v), `server variable ${k} leaked`);
      }
      // What the build does see: exactly the injected variables (design brief §2.3) and its own.
      const env = t.slice(t.indexOf("ENV-START") + 1, t.indexOf("ENV-END"));
      const keys = env.map((l) => l.slice(0, l.indexOf("="))).filter(Boolean).sort();
      const allowed = new Set(["PATH", "HOME", "LANG", "PWD", "OLDPWD", "SHLVL", "CI", "WORKERS_CI", "WORKERS_CI_BUILD_UUID", "WORKERS_CI_COMMIT_SHA", "WORKERS_CI_BRANCH", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN", "WRANGLER_CI_OVERRIDE_NAME", "WRANGLER_CI_MATCH_TAG", "KILN_SANDBOX_ID", "SERVER_PID"]);
      assert.deepEqual(keys.filter((k) => !allowed.has(k)), [], `unexpected variables: ${keys.join(",")}`);
      tally["server environment"] = blocked.length + 2;
    });

    it("a fork bomb ends terminated on the pids limit; the server keeps answering; the next build succeeds", { skip: noPidsLimit }, async () => {
      const bomb = await setupTrigger(h, repo, { build: "bomb() { bomb | bomb & }; bomb; sleep 5" }, "bomber");
      const fine = await setupTrigger(h, repo, { build: "echo still-fine" }, "bystander");
      const t0 = performance.now();
      const uuid = await startBuild(h, bomb);
      // While the bomb runs, the API answers (in-process: the event loop is not starved).
      let worst = 0;
      let answered = 0;
      let status = "";
      while (status !== "stopped") {
        const t = performance.now();
        const health = await h.call("GET", "/healthz");
        const build = await h.call("GET", `/client/v4/accounts/${bomb.accountId}/builds/builds/${uuid}`, { token: bomb.read });
        worst = Math.max(worst, performance.now() - t);
        assert.equal(health.status, 200);
        assert.equal(build.status, 200);
        answered++;
        status = build.body.result.status;
        assert.ok(performance.now() - t0 < 60_000, "the bomb build ended");
        await new Promise((r) => setTimeout(r, 50));
      }
      const ms = performance.now() - t0;
      const b = (await h.call("GET", `/client/v4/accounts/${bomb.accountId}/builds/builds/${uuid}`, { token: bomb.read })).body.result;
      const t = texts((await allLogs(h, bomb, uuid)).lines);
      assert.equal(b.build_outcome, "terminated", t.join("\n"));
      assert.equal(t.at(-1), "Build was terminated: it hit the process limit of the build environment");
      assert.deepEqual(buildProcesses(uuid), [], "nothing of the bomb survives");
      // The step has no CPU limit: the bomb competes with the server for CPU (2 s seen on a 2-CPU
      // machine with another test file running); the bound only says the server keeps answering.
      assert.ok(worst < 10_000, `API answered within ${worst.toFixed(0)} ms during the bomb`);
      const next = await run(fine);
      assert.equal(next.b.build_outcome, "success", next.t.join("\n"));
      assert.ok(next.t.includes("still-fine"));
      console.log(`# fork bomb: terminated after ${ms.toFixed(0)} ms; ${answered} API round trips meanwhile, worst ${worst.toFixed(0)} ms`);
      tally["fork bomb"] = 1;
    });

    it(`a build filling its workspace past --workspace-limit (${WORKSPACE_LIMIT} bytes) ends terminated; its disk is freed`, async () => {
      // 5 MB a file every 0.1 s, at most 400 MB in all should the watchdog fail; `yes` rather than a device.
      const s = await setupTrigger(h, repo, {
        build: "i=0; while [ $i -lt 80 ]; do yes kiln-fill-kiln-fill | head -c 5000000 > fill-$i.bin; i=$((i+1)); sleep 0.1; done; echo filled-everything; sleep 30",
      }, "filler");
      const t0 = performance.now();
      const uuid = await startBuild(h, s);
      const work = path.join(dataDir, "work", uuid);
      let peak = 0;
      const sampler = setInterval(() => {
        try {
          const dir = path.join(work, "repo");
          const size = fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
          peak = Math.max(peak, size);
        } catch {
          /* not there yet, or gone */
        }
      }, 100);
      let b;
      try {
        b = await waitForStatus(h, s, uuid, "stopped", 60_000);
      } finally {
        clearInterval(sampler);
      }
      const ms = performance.now() - t0;
      const t = texts((await allLogs(h, s, uuid)).lines);
      assert.equal(b.build_outcome, "terminated", t.join("\n"));
      assert.equal(t.at(-1), `Build was terminated: it exceeded the workspace limit of ${WORKSPACE_LIMIT} bytes`);
      assert.ok(!t.includes("filled-everything"), "stopped before the end");
      assert.deepEqual(buildProcesses(uuid), []);
      await waitFor("the workspace to be deleted", async () => !fs.existsSync(work) && !fs.existsSync(`${work}.removing`), 30_000);
      console.log(`# workspace fill: terminated after ${ms.toFixed(0)} ms, peak seen ${(peak / MB).toFixed(0)} MiB over a ${WORKSPACE_LIMIT / MB} MiB limit; workspace deleted`);
      tally["workspace limit"] = 1;
    });
  });
}

after(() => {
  if (Object.keys(tally).length) console.log(`# escape attempts blocked: ${JSON.stringify(tally)}`);
});
