/**
 * The dependency direction of docs/architecture.md, enforced: cli → api | runner | webhooks →
 * domain → (ports implemented by) store. A new import across a forbidden line fails here.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? sources(full) : e.name.endsWith(".ts") ? [full] : [];
  });
}

function imports(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^"'`;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)].map(
    (m) => m[1] ?? m[2] ?? "",
  );
}

/** Layer of a resolved import: the first folder under src/, or the package name. */
function layerOf(from: string, spec: string): string {
  if (!spec.startsWith(".")) return `pkg:${spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]}`;
  const rel = path.relative("src", path.resolve(path.dirname(from), spec));
  return rel.includes(path.sep) ? (rel.split(path.sep)[0] ?? "") : "root";
}

const FORBIDDEN: Record<string, string[]> = {
  domain: ["api", "store", "cli", "runner", "webhooks", "web", "pkg:fastify", "pkg:kysely", "pkg:better-sqlite3", "pkg:pg"],
  store: ["api", "cli", "runner", "webhooks", "web", "pkg:fastify"],
  api: ["cli", "runner", "webhooks"],
  runner: ["api", "cli", "webhooks", "web", "pkg:fastify"],
  webhooks: ["cli", "runner"],
  outbound: ["api", "cli", "runner", "webhooks", "web", "pkg:fastify"],
  root: ["api", "cli", "runner", "store", "webhooks"],
};

describe("architecture", () => {
  const files = sources("src");
  it("finds the sources", () => assert.ok(files.length > 10));
  for (const file of files) {
    const layer = path.relative("src", file).split(path.sep).length > 1 ? (path.relative("src", file).split(path.sep)[0] ?? "") : "root";
    const forbidden = FORBIDDEN[layer] ?? [];
    it(`${file} respects the layering`, () => {
      for (const spec of imports(file)) {
        const target = layerOf(file, spec);
        assert.ok(!forbidden.includes(target), `${file} (${layer}) must not import ${spec} (${target})`);
      }
    });
  }
  it("no string-built shell commands in sources (exec/execSync with a shell)", () => {
    for (const file of files) {
      const text = fs.readFileSync(file, "utf8");
      assert.doesNotMatch(text, /\bexecSync\(|\bexec\(\s*`|shell:\s*true/, file);
    }
  });
});
