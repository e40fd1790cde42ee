import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { it } from "node:test";
import { renderApiDoc } from "../scripts/api-doc.ts";

it("docs/api.md matches the route table (regenerate with: node --import tsx scripts/api-doc.ts)", () => {
  assert.equal(fs.readFileSync("docs/api.md", "utf8"), renderApiDoc());
});

/** Every text file under these roots (README.md and package.json too). */
function files(roots: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) {
      if (path.basename(p) === "node_modules" || path.basename(p) === "screenshots") return;
      for (const name of fs.readdirSync(p)) walk(path.join(p, name));
    } else if (/\.(ts|tsx|mjs|js|md|json)$/.test(p) || path.basename(p) === "kiln") out.push(p);
  };
  for (const root of roots) if (fs.existsSync(root)) walk(root);
  return out;
}

it("docs and comments stand on their own: none cites the design notes a user does not have", () => {
  // What Kiln was written from is not shipped: cite Cloudflare's public docs or Kiln's docs/ instead.
  const cited = [/spec\/api\.md/, /behaviour\.md/, /design\s+brief/i, /\.\.\/shared\//, /\bbrief\s+§/, /\bspec\s+§/, /anchors\.md|anchors\s+(item\s+)?\d/];
  const hits: string[] = [];
  for (const file of files(["README.md", "docs", "src", "scripts", "bench", "bin", "test"])) {
    const lines = fs.readFileSync(file, "utf8").split("\n");
    lines.forEach((line, i) => {
      if (cited.some((re) => re.test(line))) hits.push(`${file}:${i + 1}: ${line.trim()}`);
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
