/**
 * The configuration commands against a real `kiln serve` over loopback: a green build from
 * nothing through CLI commands only (admin commands, `kiln connect`, `builds create --follow`),
 * then each command's create, update, list and delete, their tables and JSON, the defaults
 * Cloudflare's dashboard fills in, and errors as `kiln: <code>: <message>` (API) or
 * `kiln: <message>` (found locally; usage errors exit 2).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { makeDatabase, type TestDatabase } from "../helpers/databases.ts";
import { kiln, startServer } from "../helpers/cli.ts";
import { makeRepo, type TestRepo } from "../helpers/git-repos.ts";

const NO_SUCH = "00000000-0000-4000-8000-000000000000";

describe("kiln configuration commands (repos, build-tokens, triggers, vars, deploy-hooks, cache, connect)", () => {
  let db: TestDatabase;
  let repo: TestRepo;
  let server: Awaited<ReturnType<typeof startServer>>;
  let account: string;
  let token: string;
  let readToken: string;

  const env = () => ({ KILN_API_URL: `${server.base}/client/v4`, KILN_API_TOKEN: token, KILN_ACCOUNT_ID: account });
  const client = (args: string[], options: { input?: string; env?: Record<string, string> } = {}) =>
    kiln(args, { ...env(), ...(options.env ?? {}) }, options.input === undefined ? {} : { input: options.input });
  /** Runs a command that must succeed with --json; answers its JSON. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are checked field by field
  const json = async (args: string[], input?: string): Promise<any> => {
    const r = await client([...args, "--json"], input === undefined ? {} : { input });
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const admin = async (args: string[]) => {
    const r = await kiln([...args, ...db.flags, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, string>;
  };
  const fails = async (args: string[], code: number, stderr: string | RegExp, options: { input?: string; env?: Record<string, string> } = {}) => {
    const r = await client(args, options);
    assert.equal(r.code, code, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, "");
    if (typeof stderr === "string") assert.equal(r.stderr.trim(), stderr);
    else assert.match(r.stderr, stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  };

  before(async () => {
    db = await makeDatabase("sqlite");
    repo = makeRepo({ name: "hello-worker", files: { "package.json": JSON.stringify({ name: "hello-worker", scripts: { build: "echo built-it" } }) } });
    account = (await admin(["account", "create", "--name", "config-cli"])).id as string;
    token = (await admin(["token", "create", "--account", account, "--name", "w", "--permission", "Workers CI Write"])).value as string;
    readToken = (await admin(["token", "create", "--account", account, "--name", "r", "--permission", "Workers CI Read"])).value as string;
    server = await startServer([...db.flags, "--git-url-template", repo.template, "--cancel-grace", "1"]);
  });

  after(async () => {
    server?.child.kill("SIGTERM");
    await server?.exited;
    await db?.cleanup();
    repo?.cleanup();
  });

  it("from nothing to a green build with CLI commands only: worker create, connect, builds create --follow", async () => {
    const worker = await admin(["worker", "create", "--account", account, "--name", "hello"]);
    const human = await client([
      "connect", "--worker", "hello", "--repo", "acme/hello-worker", "--owner-id", "7", "--repo-id", "4242",
      "--cloudflare-token", "-", "--cloudflare-token-id", "cf-token-id", "--build-command", "npm run build", "--deploy-command", "echo deployed-it", "--preview",
    ], { input: "the-cloudflare-token-value\n" });
    assert.equal(human.code, 0, human.stderr);
    assert.ok(!human.stdout.includes("the-cloudflare-token-value"), "the secret is never printed");
    const production = /^production trigger:\s+([0-9a-f-]{36}): branch main, deploy "echo deployed-it"$/m.exec(human.stdout)?.[1];
    assert.ok(production, human.stdout);
    assert.match(human.stdout, /^preview trigger:\s+[0-9a-f-]{36}: every other branch, deploy "npx wrangler versions upload"$/m);
    assert.match(human.stdout, /^build token:\s+[0-9a-f-]{36} \(new: hello builds\)$/m);
    assert.match(human.stdout, new RegExp(`^  kiln builds create --trigger ${production} --branch main --follow$`, "m"));

    const triggers = await json(["triggers", "list", "--worker", "hello"]);
    assert.equal(triggers.result.length, 2);
    const [prod, preview] = triggers.result;
    assert.equal(prod.trigger_uuid, production);
    assert.equal(prod.external_script_id, worker.tag);
    assert.equal(prod.trigger_name, "hello (production)");
    assert.deepEqual([prod.branch_includes, prod.branch_excludes, prod.path_includes, prod.path_excludes], [["main"], [], ["*"], []]);
    assert.deepEqual([prod.build_command, prod.deploy_command, prod.root_directory, prod.build_caching_enabled], ["npm run build", "echo deployed-it", "/", true]);
    assert.deepEqual([prod.repo_connection.provider_type, prod.repo_connection.provider_account_name, prod.repo_connection.provider_account_id, prod.repo_connection.repo_name, prod.repo_connection.repo_id], ["github", "acme", "7", "hello-worker", "4242"]);
    assert.deepEqual([preview.branch_includes, preview.branch_excludes, preview.deploy_command], [["*"], ["main"], "npx wrangler versions upload"]);
    assert.equal(preview.build_token_uuid, prod.build_token_uuid);

    const build = await client(["builds", "create", "--trigger", production, "--branch", "main", "--follow"]);
    assert.equal(build.code, 0, build.stderr);
    assert.ok(build.stdout.includes("  built-it\n") && build.stdout.includes("  deployed-it\n"), build.stdout);
    assert.match(build.stderr, /^build [0-9a-f-]{36} queued\nbuild [0-9a-f-]{36}: success\n$/);

    // Connecting again makes nothing: the Worker already has its triggers.
    const tokensBefore = (await json(["build-tokens", "list"])).result.length;
    await fails(
      ["connect", "--worker", "hello", "--repo", "acme/hello-worker", "--owner-id", "7", "--repo-id", "4242", "--build-token", prod.build_token_uuid],
      1,
      `kiln: Worker hello is already connected (trigger ${production}, ${preview.trigger_uuid}): change it with kiln triggers update, or delete its triggers first`,
    );
    assert.equal((await json(["build-tokens", "list"])).result.length, tokensBefore);
  });

  it("connect: --json answers everything it made; a failing step says what the steps before it made; usage errors exit 2", async () => {
    await admin(["worker", "create", "--account", account, "--name", "second"]);
    const bt = await json(["build-tokens", "create", "--name", "shared", "--secret", "s3cret-value", "--cloudflare-token-id", "cf-2"]);
    const out = await json(["connect", "--worker", "second", "--repo", "second-repo", "--owner", "acme", "--owner-id", "7", "--repo-id", "5001", "--build-token", bt.build_token_uuid, "--branch", "trunk", "--no-build-caching"]);
    assert.deepEqual(Object.keys(out).sort(), ["build_token", "preview_trigger", "production_trigger", "repo_connection", "worker"]);
    assert.equal(out.worker.id, "second");
    assert.deepEqual(out.build_token, { build_token_uuid: bt.build_token_uuid });
    assert.equal(out.preview_trigger, null);
    assert.deepEqual(out.production_trigger.branch_includes, ["trunk"]);
    assert.equal(out.production_trigger.deploy_command, "npx wrangler deploy", "the dashboard's default");
    assert.equal(out.production_trigger.build_command, "");
    assert.equal(out.production_trigger.build_caching_enabled, false);
    assert.equal(out.repo_connection.repo_name, "second-repo");

    await admin(["worker", "create", "--account", account, "--name", "third"]);
    await fails(
      ["connect", "--worker", "third", "--repo", "acme/third", "--owner-id", "7", "--repo-id", "5002", "--build-token", NO_SUCH],
      1,
      /^kiln: made before the failure: repo connection [0-9a-f-]{36}\nkiln: 12002: Invalid request body: build_token_uuid: /,
    );
    await fails(["connect", "--worker", "third", "--repo", "acme/third", "--owner-id", "7", "--repo-id", "5002"], 2, /^kiln: missing --build-token <uuid> \(an existing build token\) or --cloudflare-token/);
    await fails(["connect", "--worker", "third", "--repo", "third", "--owner-id", "7", "--repo-id", "5002", "--build-token", bt.build_token_uuid], 2, "kiln: missing required option --owner (or --repo owner/name)");
    await fails(["connect", "--worker", "nope", "--repo", "acme/x", "--owner-id", "7", "--repo-id", "1", "--build-token", bt.build_token_uuid], 1, `kiln: no Worker named "nope" in account ${account}`);
  });

  it("repos connect | delete: one connection per repository id; ids and provider checked", async () => {
    const first = await json(["repos", "connect", "--provider", "gitlab", "--repo", "group/project", "--owner-id", "11", "--repo-id", "900"]);
    assert.deepEqual(
      [first.provider_type, first.provider_account_name, first.provider_account_id, first.repo_name, first.repo_id, first.deleted_on],
      ["gitlab", "group", "11", "project", "900", null],
    );
    const again = await client(["repos", "connect", "--provider", "gitlab", "--repo", "project", "--owner", "group", "--owner-id", "11", "--repo-id", "900"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`^repo connection:\\s+${first.repo_connection_uuid}$`, "m"), "the same connection");
    assert.match(again.stdout, /^repository:\s+gitlab group\/project \(repo 900, owner 11\)$/m);

    const deleted = await client(["repos", "delete", first.repo_connection_uuid]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, `deleted repo connection ${first.repo_connection_uuid}\n`);
    await fails(["repos", "delete", first.repo_connection_uuid], 1, "kiln: 12000: Not found");
    await fails(["repos", "connect", "--repo", "a/b", "--owner-id", "1"], 2, "kiln: missing required option --repo-id");
    await fails(["repos", "connect", "--provider", "bitbucket", "--repo", "a/b", "--owner-id", "1", "--repo-id", "2"], 2, 'kiln: invalid --provider "bitbucket": use github, gitlab, gitlab_internal');
    await fails(["repos", "delete", "not-a-uuid"], 2, 'kiln: invalid repo connection id "not-a-uuid": a UUID is expected');
    await fails(["repos", "connect", "--repo", "a/b", "--owner-id", "1", "--repo-id", "2"], 1, "kiln: 10000: Authentication error", { env: { KILN_API_TOKEN: readToken } });
  });

  it("build-tokens create | list | delete: the secret from a flag or stdin, never answered", async () => {
    const created = await json(["build-tokens", "create", "--name", "from-stdin", "--secret", "-", "--cloudflare-token-id", "cf-9"], "piped-secret-value\n");
    assert.deepEqual(Object.keys(created).sort(), ["build_token_name", "build_token_uuid", "cloudflare_token_id", "owner_type"]);
    assert.deepEqual([created.build_token_name, created.cloudflare_token_id], ["from-stdin", "cf-9"]);

    const table = await client(["build-tokens", "list", "--per-page", "200"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^build_token_uuid\s+build_token_name\s+cloudflare_token_id\s+owner_type$/m);
    assert.match(table.stdout, new RegExp(`^${created.build_token_uuid}\\s+from-stdin\\s+cf-9\\s+\\S+$`, "m"));
    assert.ok(!table.stdout.includes("piped-secret-value"));
    const listed = await json(["build-tokens", "list", "--per-page", "200"]);
    assert.deepEqual(Object.keys(listed).sort(), ["result", "result_info"]);
    assert.ok(listed.result.some((t: { build_token_uuid: string }) => t.build_token_uuid === created.build_token_uuid));
    assert.ok(!JSON.stringify(listed).includes("piped-secret-value"));

    assert.equal((await client(["build-tokens", "delete", created.build_token_uuid])).stdout, `deleted build token ${created.build_token_uuid}\n`);
    await fails(["build-tokens", "delete", created.build_token_uuid], 1, "kiln: 12000: Not found");
    await fails(["build-tokens", "create", "--name", "x", "--cloudflare-token-id", "y"], 2, "kiln: missing required option --secret");
    await fails(["build-tokens", "list", "--per-page", "500"], 2, 'kiln: invalid --per-page "500": a whole number from 1 to 200');
  });

  it("triggers create (dashboard defaults) | update (only the flags given; lists replaced or emptied) | delete | list", async () => {
    const w = await admin(["worker", "create", "--account", account, "--name", "trig"]);
    const conn = await json(["repos", "connect", "--repo", "acme/trig", "--owner-id", "7", "--repo-id", "6001"]);
    const bt = await json(["build-tokens", "create", "--name", "trig", "--secret", "v", "--cloudflare-token-id", "c"]);
    const created = await json(["triggers", "create", "--worker", "trig", "--repo-connection", conn.repo_connection_uuid, "--build-token", bt.build_token_uuid]);
    assert.deepEqual(
      {
        name: created.trigger_name, tag: created.external_script_id, build: created.build_command, deploy: created.deploy_command, root: created.root_directory,
        bi: created.branch_includes, be: created.branch_excludes, pi: created.path_includes, pe: created.path_excludes, token: created.build_token_uuid,
      },
      { name: "production", tag: w.tag, build: "", deploy: "npx wrangler deploy", root: "/", bi: ["main"], be: [], pi: ["*"], pe: [], token: bt.build_token_uuid },
    );

    // The second trigger, for every other branch, is named for what it is.
    const preview = await json(["triggers", "create", "--worker", w.tag as string, "--repo-connection", conn.repo_connection_uuid, "--build-token", bt.build_token_uuid, "--branch-include", "*", "--branch-exclude", "main", "--deploy-command", "npx wrangler versions upload"]);
    assert.deepEqual([preview.trigger_name, preview.branch_includes, preview.branch_excludes, preview.deploy_command], ["preview", ["*"], ["main"], "npx wrangler versions upload"]);
    await fails(["triggers", "create", "--worker", "trig", "--repo-connection", conn.repo_connection_uuid, "--build-token", bt.build_token_uuid], 1, "kiln: 12011: Trigger limit reached");
    assert.equal((await client(["triggers", "delete", preview.trigger_uuid])).code, 0);

    const updated = await client([
      "triggers", "update", created.trigger_uuid, "--name", "prod", "--build-command", "npm run build", "--deploy-command", "npx wrangler deploy --env production",
      "--root-directory", "/apps/site", "--branch-include", "main", "--branch-include", "release/*", "--branch-exclude", "release/old",
      "--path-include", "apps/site/*", "--path-exclude", "*.md", "--path-exclude", "docs/*", "--build-caching",
    ]);
    assert.equal(updated.code, 0, updated.stderr);
    assert.match(updated.stdout, new RegExp(`^updated trigger ${created.trigger_uuid}\\ntrigger:\\s+${created.trigger_uuid}\\nname:\\s+prod$`, "m"));
    assert.match(updated.stdout, /^branch includes: main, release\/\*$/m);
    assert.match(updated.stdout, /^path excludes:\s+\*\.md, docs\/\*$/m);
    assert.match(updated.stdout, /^build caching:\s+enabled$/m);
    const after1 = (await json(["triggers", "list", "--worker", w.tag as string])).result[0];
    assert.deepEqual(
      [after1.trigger_name, after1.build_command, after1.deploy_command, after1.root_directory, after1.branch_includes, after1.branch_excludes, after1.path_includes, after1.path_excludes, after1.build_caching_enabled],
      ["prod", "npm run build", "npx wrangler deploy --env production", "/apps/site", ["main", "release/*"], ["release/old"], ["apps/site/*"], ["*.md", "docs/*"], true],
    );
    // Only what is given changes; an empty value empties a list.
    const cleared = await json(["triggers", "update", created.trigger_uuid, "--path-exclude", "", "--no-build-caching"]);
    assert.deepEqual([cleared.path_excludes, cleared.build_caching_enabled, cleared.trigger_name, cleared.branch_excludes], [[], false, "prod", ["release/old"]]);

    await fails(["triggers", "update", created.trigger_uuid], 2, "kiln: nothing to update: give at least one field flag (see kiln triggers update --help)");
    await fails(["triggers", "update", created.trigger_uuid, "--branch-exclude", "*"], 1, 'kiln: 12002: Invalid request body: branch_excludes: must not exclude every branch ("*")');
    await fails(["triggers", "update", NO_SUCH, "--name", "x"], 1, "kiln: 12000: Not found");
    await fails(["triggers", "update", created.trigger_uuid, "--build-token", "nope"], 2, 'kiln: invalid build token id "nope": a UUID is expected');
    await fails(["triggers", "create", "--worker", "trig", "--build-token", bt.build_token_uuid], 2, "kiln: missing required option --repo-connection");
    await fails(["triggers", "create", "--worker", "ghost", "--repo-connection", conn.repo_connection_uuid, "--build-token", bt.build_token_uuid], 1, `kiln: no Worker named "ghost" in account ${account}`);
    await fails(["triggers", "update", created.trigger_uuid, "--name", "x"], 1, "kiln: 10000: Authentication error", { env: { KILN_API_TOKEN: readToken } });
    // A Read token lists.
    assert.equal((await client(["triggers", "list", "--worker", "trig"], { env: { KILN_API_TOKEN: readToken } })).code, 0);

    // Its branch includes now hold a `*`: as the Worker's only live trigger it is still its production one.
    assert.equal((await client(["cache", "purge", "--worker", "trig"])).stdout, `purged the build cache of trigger ${created.trigger_uuid}\n`);

    const deleted = await client(["triggers", "delete", created.trigger_uuid]);
    assert.equal(deleted.stdout, `deleted trigger ${created.trigger_uuid}\n`);
    const listed = await client(["triggers", "list", "--worker", "trig"]);
    assert.match(listed.stdout, new RegExp(`^${created.trigger_uuid}\\s+prod\\s+main,release/\\*,!release/old\\s+npm run build\\s+npx wrangler deploy --env production\\s+/apps/site\\s+yes$`, "m"));
    await fails(["triggers", "delete", NO_SUCH], 1, "kiln: 12000: Not found");
  });

  it("vars set | list | unset on --trigger or --worker (the production trigger); secrets write-only", async () => {
    const triggers = (await json(["triggers", "list", "--worker", "hello"])).result;
    const production = triggers[0].trigger_uuid as string;
    const preview = triggers[1].trigger_uuid as string;

    const set = await client(["vars", "set", "--worker", "hello", "NODE_ENV=production", "GREETING=a=b c"]);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, `set NODE_ENV, GREETING on trigger ${production}\n`);
    const secret = await client(["vars", "set", "--worker", "hello", "API_KEY", "--secret"], { input: "top-secret-value\n" });
    assert.equal(secret.code, 0, secret.stderr);
    assert.equal(secret.stdout, `set API_KEY (secret) on trigger ${production}\n`);
    assert.ok(!secret.stdout.includes("top-secret-value"));
    assert.equal(secret.stderr, "", "a secret long enough to be masked: no warning");
    // A secret too short to be masked: the server's note reaches the person (stderr; stdout stays the JSON).
    const short = await client(["vars", "set", "--worker", "hello", "PIN=123", "--secret", "--json"]);
    assert.equal(short.code, 0, short.stderr);
    assert.equal(short.stderr, "kiln: warning: PIN: secret values shorter than 4 characters are not masked in build logs\n");
    assert.equal(JSON.parse(short.stdout).PIN.is_secret, true);
    assert.equal((await client(["vars", "unset", "--worker", "hello", "PIN"])).code, 0);

    const table = await client(["vars", "list", "--trigger", production]);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trim().split("\n");
    assert.match(lines[0] ?? "", /^key\s+type\s+value\s+created$/);
    assert.match(lines[1] ?? "", /^API_KEY\s+secret\s+\(hidden\)\s+\d{4}-/);
    assert.match(lines[2] ?? "", /^GREETING\s+text\s+a=b c\s+\d{4}-/);
    assert.match(lines[3] ?? "", /^NODE_ENV\s+text\s+production\s+\d{4}-/);
    const listed = await json(["vars", "list", "--worker", "hello"]);
    assert.deepEqual(
      Object.fromEntries(Object.entries(listed).map(([k, v]) => [k, [(v as { is_secret: boolean }).is_secret, (v as { value: unknown }).value]])),
      { API_KEY: [true, null], GREETING: [false, "a=b c"], NODE_ENV: [false, "production"] },
    );
    assert.deepEqual(await json(["vars", "list", "--trigger", preview]), {}, "the preview trigger has its own");

    // The secret reaches the build (and only as the build's variable).
    await client(["triggers", "update", production, "--deploy-command", 'test "$API_KEY" = top-secret-value && echo "key ok $NODE_ENV"']);
    const build = await client(["builds", "create", "--trigger", production, "--branch", "main", "--follow"]);
    assert.equal(build.code, 0, build.stdout + build.stderr);
    assert.ok(build.stdout.includes("  key ok production\n"), build.stdout);
    await client(["triggers", "update", production, "--deploy-command", "echo deployed-it"]);

    const unset = await client(["vars", "unset", "--trigger", production, "GREETING", "API_KEY"]);
    assert.equal(unset.stdout, `unset GREETING, API_KEY on trigger ${production}\n`);
    assert.deepEqual(Object.keys(await json(["vars", "list", "--worker", "hello"])), ["NODE_ENV"]);
    await fails(["vars", "unset", "--trigger", production, "GREETING"], 1, "kiln: 12000: Not found");
    await fails(["vars", "set", "--trigger", production, "1BAD=x"], 1, "kiln: 12002: Invalid request body: 1BAD: Key contains invalid characters");
    await fails(["vars", "set", "--trigger", production, "A=1", "B"], 2, 'kiln: missing =VALUE in "B": only a single KEY reads its value from stdin');
    await fails(["vars", "list", "--trigger", production, "--worker", "hello"], 2, "kiln: give --trigger or --worker, not both");
    await fails(["vars", "list"], 2, "kiln: missing --trigger <uuid> (or --worker <name> for its production trigger)");
    await admin(["worker", "create", "--account", account, "--name", "bare"]);
    await fails(["vars", "list", "--worker", "bare"], 1, 'kiln: Worker "bare" has no production trigger (make one with `kiln connect` or `kiln triggers create`)');
  });

  it("deploy-hooks create (prints its URL, which starts a build) | list | delete; cache purge", async () => {
    const created = await client(["deploy-hooks", "create", "--worker", "hello", "--name", "cms"]);
    assert.equal(created.code, 0, created.stderr);
    const url = /^url:\s+(\S+)$/m.exec(created.stdout)?.[1] ?? "";
    const uuid = /^deploy hook:\s+(\S+)$/m.exec(created.stdout)?.[1] ?? "";
    assert.equal(url, `${server.base}/client/v4/workers/builds/deploy_hooks/${uuid}`);
    assert.match(created.stdout, /^branch:\s+main$/m, "the default branch");
    assert.ok(created.stdout.endsWith(`Start a build:\n  curl -X POST ${url}\n`), created.stdout);

    const started = await fetch(url, { method: "POST" });
    assert.equal(started.status, 200);
    const build = ((await started.json()) as { result: { build_uuid: string } }).result.build_uuid;
    assert.equal((await client(["builds", "logs", build, "--follow"])).code, 0);

    const listed = await json(["deploy-hooks", "list", "--worker", "hello"]);
    assert.equal(listed.result.length, 1);
    assert.equal(listed.result[0].url, url);
    assert.equal(listed.result[0].deploy_hook_name, "cms");
    assert.notEqual(listed.result[0].latest_build, null, "its build is its latest");
    const table = await client(["deploy-hooks", "list", "--worker", "hello"]);
    assert.match(table.stdout, new RegExp(`^${uuid}\\s+cms\\s+main\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ\\s+${url.replace(/[.]/g, "\\.")}$`, "m"));

    const other = await json(["deploy-hooks", "create", "--worker", "hello", "--name", "nightly", "--branch", "release"]);
    assert.equal(other.branch, "release");
    assert.equal(other.url, `${server.base}/client/v4/workers/builds/deploy_hooks/${other.deploy_hook_uuid}`);
    await fails(["deploy-hooks", "create", "--worker", "hello", "--name", "cms"], 1, "kiln: 12010: Already exists");
    await fails(["deploy-hooks", "create", "--worker", "hello"], 2, "kiln: missing required option --name");

    const deleted = await client(["deploy-hooks", "delete", "--worker", "hello", uuid]);
    assert.equal(deleted.stdout, `deleted deploy hook ${uuid} (cms)\n`);
    assert.equal((await fetch(url, { method: "POST" })).status, 404, "a deleted hook starts nothing");
    await fails(["deploy-hooks", "delete", "--worker", "hello", uuid], 1, "kiln: 12000: Not found");

    const production = (await json(["triggers", "list", "--worker", "hello"])).result[0].trigger_uuid;
    assert.equal((await client(["cache", "purge", "--worker", "hello"])).stdout, `purged the build cache of trigger ${production}\n`);
    assert.equal((await client(["cache", "purge", "--trigger", production, "--json"])).stdout, "null\n");
    await fails(["cache", "purge", "--trigger", NO_SUCH], 1, "kiln: 12000: Not found");
  });
});
