import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { it } from "node:test";
import { CLOUDFLARE, renderApiDoc } from "../scripts/api-doc.ts";

it("docs/api.md matches the route table (regenerate with: node --import tsx scripts/api-doc.ts)", () => {
  assert.equal(fs.readFileSync("docs/api.md", "utf8"), renderApiDoc());
});

/** Every text file under these roots (README.md, package.json and the CI script too). */
function files(roots: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) {
      if (path.basename(p) === "node_modules" || path.basename(p) === "screenshots") return;
      for (const name of fs.readdirSync(p)) walk(path.join(p, name));
    } else if (/\.(ts|tsx|mjs|js|md|json|css|html)$/.test(p) || path.basename(p) === "kiln" || path.dirname(p) === ".ci") out.push(p);
  };
  for (const root of roots) if (fs.existsSync(root)) walk(root);
  return out;
}

/** Where docs and comments live: everything a reader of the repository sees. */
const ROOTS = ["README.md", "package.json", ".ci", "docs", "src", "scripts", "bench", "bin", "test"];

// What Kiln was written from is not shipped, and a reader has no issue tracker: a line must say
// the behaviour and the reason itself, or cite Cloudflare's public docs or Kiln's docs/ instead.
// The patterns and their examples necessarily quote citations: the scan skips the lines from here
// to CHECKER_END (this file only).
const CHECKER_BEGIN = "citation patterns: begin";
const DESIGN_NOTES = [/spec\/api\.md/, /behaviour\.md/, /\bkiln\.md\b/, /design\s+(brief|notes?)\b/i, /\/work\/shared|\.\.\/shared\//, /\b(the|a|per)\s+brief\b/i, /\bbrief\s+§/, /\bspec\s+(files?\b|§)/i, /anchors\.md|anchors\s+(item\s+)?\d/];
const ISSUES = [
  /\bissues?\s+#?\d/i, // "issue 8", "issues 9 and 18", "issue #13"
  /\b(the|this|that|a|an|later|earlier|next|previous|same)\s+issue\b/i, // "bounded in a later issue", "the issue"
  /\b(PR|pull request|ticket|fix(es|ed)?|close[sd]?|resolve[sd]?)\s+#\d/i, // "fixes #13", "PR #13"
];
// An endpoint number is Cloudflare's order as docs/api.md lists it (#1–#38): any other "#N" is not one.
const ENDPOINTS = new Set(CLOUDFLARE.map(([n]) => n));
/** "§3", "(§1, §2)": a numbered item of something outside the document. An RFC's section is a public reference and stays. */
const SECTION = /(?<!RFC\s?\d+\s?)§\s*\d/;

/** Why a line cites something a reader does not have, or undefined when it stands on its own. */
function citation(line: string): string | undefined {
  if (DESIGN_NOTES.some((re) => re.test(line))) return "design notes";
  if (ISSUES.some((re) => re.test(line))) return "an issue";
  if (SECTION.test(line)) return "a numbered section outside the document";
  for (const m of line.matchAll(/(?<![\w&/])#(\d{1,3})(?![\w])/g)) if (!ENDPOINTS.has(Number(m[1]))) return `#${m[1]}, not an endpoint`;
  return undefined;
}

it("the citation check tells an issue or a design note from Cloudflare's endpoint numbers", () => {
  for (const bad of ["/** Drain (issue 7 §6): a stopping runner… */", "issue 14 §3", "(issues 9 and 18)", "the issue #13", "fixes #13", "bounded in a later issue.", `### HTTP limits (§3) — \`test/api/http-limits.test.ts\``, "(§4 in part, §5, §9)", "see the brief", "as the design notes say", "/work/shared/spec/api.md", "kiln.md §2.4", "(#45)"]) {
    assert.ok(citation(bad), bad);
  }
  for (const good of ["#13 create, #14 update, #15 delete", "(#33–#37)", "#23's default", "get build #4", "color: #5fd38d;", "[\"bg\", null, \"#010203\"]", "parsed.error.issues[0]", "const issue = parsed.error.issues[0];", "32 is what Svix issues.", "RFC 9110 §15.5", "## 8. Hardening", "\"issues\", \"ignored\""]) {
    assert.equal(citation(good), undefined, good);
  }
});

const CHECKER_END = "citation patterns: end";

it("docs and comments stand on their own: none cites a tracker or the notes Kiln was written from", () => {
  const hits: string[] = [];
  for (const file of files(ROOTS)) {
    const lines = fs.readFileSync(file, "utf8").split("\n");
    const self = path.resolve(file) === path.resolve("test/docs.test.ts");
    const begin = self ? lines.findIndex((l) => l.includes(`"${CHECKER_BEGIN}"`)) : -1;
    const end = self ? lines.findIndex((l) => l.includes(`"${CHECKER_END}"`)) : -1;
    if (self) assert.ok(begin > 0 && end > begin, "the checker's own region is marked");
    lines.forEach((line, i) => {
      if (self && i >= begin && i <= end) return;
      const why = citation(line);
      if (why) hits.push(`${file}:${i + 1}: ${why}: ${line.trim()}`);
    });
  }
  assert.deepEqual(hits, []);
});

it("every relative link between documents (README.md, docs/*.md) points to a file that exists", () => {
  const broken: string[] = [];
  for (const file of ["README.md", ...files(["docs"]).filter((f) => f.endsWith(".md"))]) {
    const text = fs.readFileSync(file, "utf8");
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = (m[1] ?? "").split("#")[0] ?? "";
      // Documents only: screenshots are refreshed on purpose by `npm run screenshots` (docs/dashboard.md).
      if (target === "" || /^[a-z]+:/.test(target) || !/\.md$/.test(target)) continue;
      if (!fs.existsSync(path.join(path.dirname(file), target))) broken.push(`${file}: ${m[1]}`);
    }
  }
  assert.deepEqual(broken, []);
});
