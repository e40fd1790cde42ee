/**
 * The log viewer's pure parts, run in Node on the same ES modules the browser loads: ANSI runs
 * (hostile input never leaves an escape or control byte, and the runs' text is the plain text
 * search works on) and the steps recovered from the runner's lines.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";

interface Run {
  text: string;
  fg?: string;
  bg?: string;
  bold?: boolean;
  underline?: boolean;
  italic?: boolean;
}
// Browser modules (plain JS, outside the TypeScript build): typed here by what the tests use.
const modules = ["../../src/web/assets/ansi.js", "../../src/web/assets/steps.js", "../../src/web/assets/links.js"];
const ansi = (await import(modules[0] as string)) as { ansiRuns(text: string): Run[]; plainText(text: string): string };
const steps = (await import(modules[1] as string)) as {
  stepOf(text: string): { kind: string; title: string } | null;
  stepStatus(list: { start: number }[], index: number, build: { status: string; build_outcome: string | null } | null): string;
  stepDuration(list: { start: number }[], index: number, ts: number[], build: { status: string; stopped_on?: string } | null, now?: number): number;
};

const links = (await import(modules[2] as string)) as {
  linksFor(m: Record<string, string>, providers: { github: string; gitlab: string }): { repo: string; commit: string | null; branch: string | null } | null;
};

const ESC = "\u001b";
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f\u009b]/;

describe("ANSI runs", () => {
  it("colours, bold, 256 and 24-bit colours, reverse; resets end a run", () => {
    assert.deepEqual(
      ansi.ansiRuns(`${ESC}[1;32mok${ESC}[0m plain ${ESC}[38;5;196mred${ESC}[39m ${ESC}[48;2;1;2;3mbg${ESC}[0m`).map((r) => [r.text, r.fg ?? null, r.bg ?? null, Boolean(r.bold)]),
      [
        ["ok", "#5fd38d", null, true],
        [" plain ", null, null, false],
        ["red", "#ff0000", null, false],
        [" ", null, null, false],
        ["bg", null, "#010203", false],
      ],
    );
    const [reversed] = ansi.ansiRuns(`${ESC}[7mrev`);
    assert.deepEqual([reversed?.fg, reversed?.bg], ["#111418", "#d7dde3"]);
    assert.deepEqual(ansi.ansiRuns("no escapes"), [{ text: "no escapes" }]);
  });

  it("drops every other escape and control: cursor moves, erase line, OSC titles and links, lone ESC, C0, C1 CSI", () => {
    const hostile = `${ESC}[2K${ESC}[1Gprogress ${ESC}]0;title\u0007${ESC}]8;;https://evil.example\u001b\\link${ESC}]8;;\u001b\\ ${ESC}(B${ESC}=end${ESC}\u0000\u0008\u007f\u009b\tok`;
    const runs = ansi.ansiRuns(hostile);
    const text = runs.map((r) => r.text).join("");
    assert.equal(text, "progress link end\tok");
    assert.equal(ansi.plainText(hostile), text);
    assert.doesNotMatch(text, CONTROLS);
  });

  it("whatever the input: no escape or control byte but tab in the runs, and their text is the plain text", () => {
    const piece = fc.oneof(
      fc.string(),
      fc.constantFrom(ESC, `${ESC}[`, `${ESC}[0m`, `${ESC}[31m`, `${ESC}[38;5;`, `${ESC}[38;2;300;1;1m`, `${ESC}]`, "\u0007", `${ESC}\\`, "m", ";", "[", "\u009b", "\u0000", "\t", `${ESC}[?25l`, `${ESC}[4:3m`),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
        const line = parts.join("");
        const text = ansi.ansiRuns(line).map((r) => r.text).join("");
        assert.doesNotMatch(text, CONTROLS);
        assert.equal(text, ansi.plainText(line));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("steps from the runner's lines", () => {
  it("knows the four markers and nothing else", () => {
    assert.deepEqual(steps.stepOf("Initializing build environment..."), { kind: "init", title: "Initializing and clone" });
    assert.deepEqual(steps.stepOf("Installing project dependencies: npm clean-install --progress=false"), { kind: "install", title: "Install" });
    assert.deepEqual(steps.stepOf("Executing user build command: npm run build"), { kind: "build", title: "Build" });
    assert.deepEqual(steps.stepOf("Executing user deploy command: npx wrangler deploy"), { kind: "deploy", title: "Deploy" });
    assert.equal(steps.stepOf("echo Executing user build command: fake"), null);
    assert.equal(steps.stepOf("Success: Build command completed"), null);
  });

  it("every step but the last passed; the last has the build's outcome; durations from line times", () => {
    const list = [{ start: 0 }, { start: 3 }, { start: 5 }];
    const ts = [1000, 1100, 1200, 4000, 4500, 9000, 9500];
    const stopped = { status: "stopped", build_outcome: "fail", stopped_on: new Date(12_000).toISOString() };
    assert.deepEqual([0, 1, 2].map((k) => steps.stepStatus(list, k, stopped)), ["success", "success", "fail"]);
    assert.equal(steps.stepStatus(list, 2, { status: "running", build_outcome: null }), "running");
    assert.deepEqual([0, 1, 2].map((k) => steps.stepDuration(list, k, ts, stopped)), [3000, 5000, 3000]);
    assert.equal(steps.stepDuration(list, 2, ts, { status: "running" }, 10_000), 1000, "a running last step runs until now");
  });
});

describe("links to the provider", () => {
  const providers = { github: "https://github.com", gitlab: "https://git.example.org" };
  it("GitHub and GitLab (self-managed, a group path, a branch with slashes)", () => {
    assert.deepEqual(links.linksFor({ provider_type: "github", provider_account_name: "acme", repo_name: "app", commit_hash: "abc123", branch: "feature/x y" }, providers), {
      repo: "https://github.com/acme/app",
      commit: "https://github.com/acme/app/commit/abc123",
      branch: "https://github.com/acme/app/tree/feature/x%20y",
    });
    assert.deepEqual(links.linksFor({ provider_type: "gitlab", provider_account_name: "group/sub", repo_name: "app", commit_hash: "abc123", branch: "" }, providers), {
      repo: "https://git.example.org/group/sub/app",
      commit: "https://git.example.org/group/sub/app/-/commit/abc123",
      branch: null,
    });
    assert.equal(links.linksFor({ provider_type: "bitbucket", provider_account_name: "a", repo_name: "b" }, providers), null);
    assert.equal(links.linksFor({ provider_type: "github", provider_account_name: "", repo_name: "b" }, providers), null);
  });
});
