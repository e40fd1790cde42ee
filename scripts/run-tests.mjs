#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's test runner (through tsx), two files at a time.
// KILN_TEST_LONG=1 (npm run test:long) turns on the many-iteration variants.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

function find(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return find(full);
    return entry.name.endsWith(".test.ts") ? [full] : [];
  });
}

const filter = process.argv.slice(2);
const files = find("test").filter((f) => filter.length === 0 || filter.some((x) => f.includes(x))).sort();
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=spec", "--test-reporter-destination=stdout", "--test-reporter=./scripts/skip-summary.mjs", "--test-reporter-destination=stdout", "--test-concurrency=2", `--test-timeout=${process.env.KILN_TEST_LONG === "1" ? 3_600_000 : 240_000}`, ...files],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
