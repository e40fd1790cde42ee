/**
 * Secrets end to end: a build token secret and secret variables, given through the
 * API, used by real builds that print them (whole, on stderr, split across two writes with a pause,
 * multi-line, with regex characters) and fail with one in an error message. The raw values must
 * appear in no API answer (every endpoint that shows the build, the trigger, its variables, the
 * tokens), no server log line, no build log line (masked as `***`), and not in plain text in the
 * database (SQLite: the bytes of kiln.db and kiln.db-wal; PostgreSQL: every row of every table as
 * text) — they are sealed with AES-256-GCM.
 *
 * And what is NOT masked, asserted so the docs can say it: a transformed value (base64, reversed)
 * or a part of a secret appears as is.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { seedConnection } from "../helpers/fixtures.ts";
import { allLogs, waitForStatus, type BuildSetup } from "../helpers/builds.ts";
import { dialects } from "../helpers/databases.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";
import { startHarness, type Answer, type Harness } from "../helpers/harness.ts";

const hex = (n: number) => randomBytes(n).toString("hex");
const texts = (lines: [number, string][]) => lines.map(([, t]) => t);
const b64 = (s: string) => Buffer.from(s).toString("base64");
const reverse = (s: string) => [...s].reverse().join("");

for (const dialect of dialects()) {
  describe(`${dialect}: secrets never leak`, () => {
    // Fresh values per run; each long and random enough never to occur by chance.
    const TOKEN = `cfut-${hex(20)}`;
    const WHOLE = `whole-${hex(16)}`;
    const SPLIT = `split-${hex(16)}`;
    const LITERAL = [`lit${hex(6)}`, `${hex(6)}ral`] as const; // printed as two literal printf's
    const MULTI = `multi1-${hex(10)}\nmulti2-${hex(10)}`;
    const REGEX = `re.*+?[(${hex(8)})]$^|\\d`;
    const secrets = { TOKEN, WHOLE, SPLIT, LITERAL: LITERAL.join(""), MULTI_1: MULTI.split("\n")[0] as string, MULTI_2: MULTI.split("\n")[1] as string, REGEX };

    const PRINT = [
      'echo "whole=$SECRET_WHOLE"',
      'echo "stderr=$SECRET_WHOLE" >&2',
      'echo "token=$CLOUDFLARE_API_TOKEN"',
      'echo "twice=$SECRET_WHOLE and $SECRET_WHOLE, glued=x${SECRET_WHOLE}y"',
      // Split across two writes with a pause between them (the splitter holds the line).
      "printf 'split='; printf '%s' \"$(printf '%s' \"$SECRET_SPLIT\" | cut -c1-10)\"; sleep 0.2; printf '%s\\n' \"$(printf '%s' \"$SECRET_SPLIT\" | cut -c11-)\"",
      `printf 'literal=${LITERAL[0]}'; sleep 0.2; printf '${LITERAL[1]}\\n'`,
      'printf "multi=%s\\n" "$SECRET_MULTI"',
      'printf "regex=%s\\n" "$SECRET_REGEX"',
      // What is not masked: transformed values and parts.
      "printf 'b64=%s\\n' \"$(printf '%s' \"$SECRET_WHOLE\" | base64 -w0)\"",
      "printf 'rev=%s\\n' \"$(printf '%s' \"$SECRET_WHOLE\" | rev)\"",
      "printf 'part=%s\\n' \"$(printf '%s' \"$SECRET_WHOLE\" | cut -c1-12)\"",
    ].join("\n");
    // Fails with the secrets in error messages (a path, a command name, a git URL), on both streams.
    const FAIL = [
      'echo "about to fail with $CLOUDFLARE_API_TOKEN"',
      'ls "/nonexistent/$SECRET_WHOLE" || :',
      '"./$SECRET_SPLIT-not-a-command" || :',
      'git ls-remote "https://user:$CLOUDFLARE_API_TOKEN@127.0.0.1:1/repo.git" || :',
      'cat "/nonexistent/$CLOUDFLARE_API_TOKEN"',
    ].join("\n");

    let h: Harness;
    let repo: TestRepo;
    const logs: string[] = [];
    const answers: { what: string; text: string }[] = [];
    let accountId = "";
    let write = "";
    let read = "";
    let tokenUuid = "";
    const workers: { name: string; tag: string; triggerUuid: string }[] = [];
    const builds: { uuid: string; worker: string; t: string[]; outcome: string }[] = [];

    /** Calls the API and keeps every answer's body as text. */
    async function call(what: string, method: string, url: string, opts: { token?: string; body?: unknown } = {}): Promise<Answer> {
      const a = await h.call(method, url, opts);
      answers.push({ what: `${what} (${a.status})`, text: typeof a.body === "string" ? a.body : JSON.stringify(a.body) });
      return a;
    }
    const acct = () => `/client/v4/accounts/${accountId}`;

    before(async () => {
      repo = makeRepo({ name: `secrets-${dialect}`, files: { "README.md": "hi\n", "print.sh": PRINT, "fail.sh": FAIL } });
      h = await startHarness(dialect, {}, { runner: true, gitUrlTemplate: repo.template, cancelGrace: 1, slots: 2, buildTimeout: 60 }, { logs });
      accountId = (await h.account("secrets")).id;
      write = (await h.token([accountId], ["Workers CI Write"])).value;
      read = (await h.token([accountId], ["Workers CI Read"])).value;
      const connection = await seedConnection(h, accountId, { name: repo.name, id: `repo-${hex(4)}` });

      // The build token, through the API.
      const token = await call("createBuildToken", "POST", `${acct()}/builds/tokens`, {
        token: write,
        body: { build_token_name: "deploy", build_token_secret: TOKEN, cloudflare_token_id: `cf-${hex(8)}` },
      });
      assert.equal(token.status, 200, JSON.stringify(token.body));
      tokenUuid = token.body.result.build_token_uuid;
      // Invalid requests carrying secrets: the errors must not echo them.
      await call("createBuildToken invalid", "POST", `${acct()}/builds/tokens`, { token: write, body: { build_token_secret: TOKEN, cloudflare_token_id: 7 } });

      for (const [name, command] of [["printer", "sh ./print.sh"], ["failer", "sh ./fail.sh"]] as const) {
        const worker = await h.worker(accountId, name);
        const trigger = await call(`createTrigger ${name}`, "POST", `${acct()}/builds/triggers`, {
          token: write,
          body: {
            external_script_id: worker.tag,
            trigger_name: name,
            repo_connection_uuid: connection.repo_connection_uuid,
            build_token_uuid: tokenUuid,
            build_command: command,
            deploy_command: name === "printer" ? 'echo "deploying with $CLOUDFLARE_API_TOKEN"' : "",
            root_directory: "/",
            branch_includes: ["main"],
            branch_excludes: [],
            path_includes: ["*"],
            path_excludes: [],
          },
        });
        assert.equal(trigger.status, 200, JSON.stringify(trigger.body));
        const triggerUuid = trigger.body.result.trigger_uuid as string;
        workers.push({ name, tag: worker.tag, triggerUuid });
        const vars = `${acct()}/builds/triggers/${triggerUuid}/environment_variables`;
        // Both request forms of #19.
        const map = await call(`upsertEnvironmentVariables map ${name}`, "PATCH", vars, {
          token: write,
          body: { SECRET_WHOLE: { is_secret: true, value: WHOLE }, SECRET_SPLIT: { is_secret: true, value: SPLIT }, PLAIN: { is_secret: false, value: "visible" } },
        });
        assert.equal(map.status, 200, JSON.stringify(map.body));
        const list = await call(`upsertEnvironmentVariables list ${name}`, "PATCH", vars, {
          token: write,
          body: { variables: [{ key: "SECRET_MULTI", value: MULTI, type: "secret" }, { key: "SECRET_REGEX", value: REGEX, type: "secret" }, { key: "SECRET_LITERAL", value: LITERAL.join(""), type: "secret" }] },
        });
        assert.equal(list.status, 200, JSON.stringify(list.body));
        await call(`upsertEnvironmentVariables invalid key ${name}`, "PATCH", vars, { token: write, body: { "BAD-KEY": { is_secret: true, value: WHOLE } } });
        await call(`upsertEnvironmentVariables invalid type ${name}`, "PATCH", vars, { token: write, body: { variables: [{ key: "X", value: WHOLE, type: "bogus" }] } });
        await call(`upsertEnvironmentVariables too long ${name}`, "PATCH", vars, { token: write, body: { X: { is_secret: true, value: WHOLE.repeat(400) } } });
        await call(`upsertEnvironmentVariables not secret flag ${name}`, "PATCH", vars, { token: write, body: { X: { is_secret: "yes", value: TOKEN } } });

        const started = await call(`createManualBuild ${name}`, "POST", `${acct()}/builds/triggers/${triggerUuid}/builds`, { token: write, body: { branch: "main" } });
        assert.equal(started.status, 200, JSON.stringify(started.body));
        const uuid = started.body.result.build_uuid as string;
        const s = { accountId, read, write } as BuildSetup;
        const b = await waitForStatus(h, s, uuid, "stopped", 60_000);
        builds.push({ uuid, worker: name, t: texts((await allLogs(h, s, uuid)).lines), outcome: b.build_outcome });
      }
    });
    after(async () => {
      await h.close();
      repo.cleanup();
    });

    const leaks = (text: string) => Object.entries(secrets).filter(([, v]) => text.includes(v)).map(([k]) => k);

    it("the builds ran as expected: the printer succeeded, the failer failed", () => {
      assert.deepEqual(builds.map((b) => [b.worker, b.outcome]), [["printer", "success"], ["failer", "fail"]], builds.map((b) => b.t.join("\n")).join("\n----\n"));
    });

    it("build logs: every secret masked as ***, also on stderr, split across writes, multi-line, with regex characters, in error messages", () => {
      const [printer, failer] = builds as [(typeof builds)[number], (typeof builds)[number]];
      for (const line of ["whole=***", "stderr=***", "token=***", "twice=*** and ***, glued=x***y", "split=***", "literal=***", "multi=***", "***", "regex=***", "deploying with ***"]) {
        assert.ok(printer.t.includes(line), `missing ${JSON.stringify(line)} in\n${printer.t.join("\n")}`);
      }
      assert.ok(failer.t.includes("about to fail with ***"), failer.t.join("\n"));
      assert.ok(failer.t.some((l) => /^ls: .*\/nonexistent\/\*\*\*/.test(l)), failer.t.join("\n"));
      assert.ok(failer.t.some((l) => l.includes("./***-not-a-command")), failer.t.join("\n"));
      assert.ok(failer.t.some((l) => l.startsWith("cat: /nonexistent/***")), failer.t.join("\n"));
      assert.equal(failer.t.at(-1), "Failed: error occurred while running build command");
      for (const b of builds) assert.deepEqual(leaks(b.t.join("\n")), [], `raw secrets in the log of ${b.worker}`);
    });

    it("NOT masked (documented): a transformed value (base64, reversed) or a part of a secret appears as is", () => {
      const printer = builds[0] as (typeof builds)[number];
      assert.ok(printer.t.includes(`b64=${b64(WHOLE)}`), "base64 of a secret is not masked");
      assert.ok(printer.t.includes(`rev=${reverse(WHOLE)}`), "a reversed secret is not masked");
      assert.ok(printer.t.includes(`part=${WHOLE.slice(0, 12)}`), "a part of a secret is not masked");
    });

    it("no API answer carries a raw secret: every endpoint showing the build, trigger, variables, tokens", async () => {
      const get = (what: string, url: string) => call(what, "GET", url, { token: read });
      await get("verifyToken", "/client/v4/user/tokens/verify");
      await get("listAccounts", "/client/v4/accounts");
      await get("listWorkerScripts", `${acct()}/workers/scripts`);
      await get("listBuildTokens", `${acct()}/builds/tokens`);
      await get("getAccountLimits", `${acct()}/builds/account/limits`);
      await get("getLatestBuildsByScripts", `${acct()}/builds/builds/latest?external_script_ids=${workers.map((w) => w.tag).join(",")}`);
      await get("getBuildsByVersionIds", `${acct()}/builds/builds?version_ids=11111111-2222-4333-8444-555555555555`);
      for (const w of workers) {
        await get("listTriggersByScript", `${acct()}/builds/workers/${w.tag}/triggers`);
        await get("getWorkerBuild", `${acct()}/builds/workers/${w.tag}`);
        await get("listBuildsByScript", `${acct()}/builds/workers/${w.tag}/builds`);
        await get("listEnvironmentVariables", `${acct()}/builds/triggers/${w.triggerUuid}/environment_variables`);
        await get("listDeployHooks", `${acct()}/builds/workers/${w.name}/deploy_hooks`);
      }
      for (const b of builds) {
        await get("getBuildByUuid", `${acct()}/builds/builds/${b.uuid}`);
        for (let cursor: string | undefined, page = 0; page < 100; page++) {
          const r = await get("getBuildLogs", `${acct()}/builds/builds/${b.uuid}/logs${cursor ? `?cursor=${cursor}` : ""}`);
          cursor = r.body.result.cursor;
          if (!r.body.result.truncated) break;
        }
        const stream = await get("streamBuildLogs", `${acct()}/builds/builds/${b.uuid}/logs/stream`);
        assert.match(String(stream.body), /event: end/);
        await call("cancelBuildByUuid (stopped)", "PUT", `${acct()}/builds/builds/${b.uuid}/cancel`, { token: write });
      }
      await call("metrics", "GET", "/metrics");

      // The variables are there, as secrets, with null values.
      const listed = answers.filter((a) => a.what.startsWith("listEnvironmentVariables"));
      assert.equal(listed.length, 2);
      for (const a of listed) {
        const vars = JSON.parse(a.text).result;
        assert.equal(vars.SECRET_WHOLE.is_secret, true);
        assert.equal(vars.SECRET_WHOLE.value, null);
        assert.equal(vars.PLAIN.value, "visible");
      }
      const leaked = answers.map((a) => ({ what: a.what, keys: leaks(a.text) })).filter((a) => a.keys.length > 0);
      assert.deepEqual(leaked, []);
      assert.ok(answers.length >= 40, `${answers.length} answers checked`);
      console.log(`# ${dialect}: ${answers.length} API answers checked, ${Object.keys(secrets).length} secret values`);
    });

    it("no server log line carries a raw secret", () => {
      assert.ok(logs.length > 20, `${logs.length} log lines captured`);
      assert.ok(logs.some((l) => l.includes("environment_variables")), "request lines are captured");
      const leaked = logs.filter((l) => leaks(l).length > 0);
      assert.deepEqual(leaked, []);
      console.log(`# ${dialect}: ${logs.length} server log lines checked`);
    });

    it("the database holds no raw secret (sealed with AES-256-GCM)", async () => {
      let scanned = 0;
      if (dialect === "sqlite") {
        const files = fs.readdirSync(h.db.dataDir).filter((f) => f.startsWith("kiln.db"));
        assert.ok(files.includes("kiln.db"));
        for (const f of files) {
          const bytes = fs.readFileSync(path.join(h.db.dataDir, f));
          scanned += bytes.length;
          for (const [k, v] of Object.entries(secrets)) {
            assert.equal(bytes.includes(Buffer.from(v)), false, `${k} in plain text in ${f}`);
          }
        }
        // The masked build log and the transformed value are there: the scan reads real data.
        const all = Buffer.concat(files.map((f) => fs.readFileSync(path.join(h.db.dataDir, f))));
        assert.ok(all.includes(Buffer.from(b64(WHOLE))), "the scan sees the build log rows");
        console.log(`# sqlite: ${files.join(", ")} scanned, ${scanned} bytes`);
      } else {
        const client = new pg.Client({ connectionString: h.db.database });
        await client.connect();
        try {
          const tables = (await client.query<{ table_name: string }>("select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'")).rows;
          let sawLog = false;
          for (const { table_name } of tables) {
            const rows = (await client.query<{ row: string }>(`select t::text as row from "${table_name}" t`)).rows;
            for (const { row } of rows) {
              scanned++;
              if (row.includes(b64(WHOLE))) sawLog = true;
              assert.deepEqual(leaks(row), [], `raw secret in ${table_name}`);
            }
          }
          assert.ok(sawLog, "the scan sees the build log rows");
          console.log(`# postgres: ${tables.length} tables, ${scanned} rows scanned`);
        } finally {
          await client.end();
        }
      }
    });
  });
}
