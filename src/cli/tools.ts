/**
 * `kiln tools list|install|prune`: the runner's tool cache (`<data dir>/tools`, see
 * src/runner/toolchain.ts and docs/build-image.md), for operators who pre-warm runners before
 * builds ask for a version, or who run them offline.
 */
import type { Command } from "commander";
import { loadConfig, runnerOptions, storeOptions, type Config, type OptionSpec } from "../config.ts";
import fs from "node:fs";
import path from "node:path";
import { ensureDataDir } from "../data-dir.ts";
import { parseToolList, TOOL_NAMES, type ToolName } from "../domain/build-image.ts";
import type { ToolCache } from "../runner/toolchain.ts";
import { emit, table, UsageError } from "./output.ts";
import { addOptions, missingDataDir, type StoreMode } from "./store-options.ts";

type Opts = Record<string, unknown>;

const TOOL_OPTIONS: OptionSpec[] = [
  ...storeOptions.filter((o) => o.key === "dataDir"),
  ...runnerOptions.filter((o) => o.key === "npmRegistry" || o.key === "toolCacheLimit" || o.key === "defaultTools"),
];

/**
 * The tool cache, loaded when a tools command runs: the toolchain pulls in npm's fetcher
 * (pacote), which every other command would otherwise pay for at start.
 */
async function cacheFrom(opts: Opts, mode: StoreMode = "existing"): Promise<{ config: Config; cache: ToolCache; tc: typeof import("../runner/toolchain.ts") }> {
  const config = loadConfig(opts as Partial<Record<keyof Config, unknown>>, process.env, TOOL_OPTIONS);
  // A runner on PostgreSQL has a data dir without kiln.db: here the directory itself is the mark.
  if (!fs.existsSync(config.dataDir)) {
    if (mode === "existing") throw missingDataDir(config.dataDir);
    process.stderr.write(`kiln: created a new data dir at ${path.resolve(config.dataDir)} (the runner needs the same --data-dir / KILN_DATA_DIR)\n`);
  }
  const tc = await import("../runner/toolchain.ts");
  ensureDataDir(config.dataDir);
  const cache = new tc.ToolCache({ dir: tc.toolsDir(config.dataDir), limitBytes: config.toolCacheLimit, ...(config.npmRegistry ? { registry: config.npmRegistry } : {}) });
  return { config, cache, tc };
}

function leaf(parent: Command, name: string, description: string): Command {
  return addOptions(parent.command(name).description(description), TOOL_OPTIONS).option("--json", "print one JSON object on stdout");
}

export function registerTools(program: Command): void {
  const tools = program.command("tools").description("the runner's build tools cache (Node.js, npm, pnpm, yarn, bun from the npm registry)");
  leaf(tools, "list", "list the versions in the tool cache").action(async (opts: Opts) => {
    const { cache, tc } = await cacheFrom(opts);
    const items = (await cache.list()).map((v) => ({ tool: v.tool, version: v.version, size: tc.formatBytes(v.bytes), bytes: v.bytes, last_used: v.lastUsed.toISOString(), in_use: v.inUse }));
    emit(Boolean(opts.json), { tools: items }, table(items, ["tool", "version", "size", "last_used", "in_use"]));
  });
  leaf(tools, "install", "install versions into the tool cache, e.g. `kiln tools install node@22 pnpm@10` (none given: the defaults, --default-tools)")
    .argument("[specs...]", "TOOL@VERSION: node, npm, pnpm, yarn or bun; partial versions and lts/* as builds ask for them")
    .action(async (specs: string[], opts: Opts) => {
      const { config, cache, tc } = await cacheFrom(opts, "create");
      let wanted: [ToolName, string][];
      try {
        wanted = specs.length ? specs.flatMap((s) => Object.entries(parseToolList(s)) as [ToolName, string][]) : TOOL_NAMES.map((t) => [t, config.defaultTools[t]]);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      const installed: Record<string, unknown>[] = [];
      const lines: string[] = [];
      for (const [tool, spec] of wanted) {
        const version = await cache.resolve(tool, spec);
        const got = await cache.ensure(tool, version);
        await got.release();
        installed.push({ tool, spec, version, downloaded: got.downloaded ? { bytes: got.downloaded.bytes, ms: got.downloaded.ms } : null });
        lines.push(got.downloaded ? `Downloaded ${tc.displayName(tool)} ${version} (${tc.formatBytes(got.downloaded.bytes)} in ${tc.formatMs(got.downloaded.ms)})` : `${tc.displayName(tool)} ${version} is already in the tool cache`);
      }
      emit(Boolean(opts.json), { installed }, lines.join("\n"));
    });
  leaf(tools, "prune", "remove least recently used versions not in use until the cache is within --tool-cache-limit (--all: every version not in use)")
    .option("--all", "remove every version no build is using")
    .action(async (opts: Opts) => {
      const { cache, tc } = await cacheFrom(opts);
      const removed = await cache.prune(opts.all ? 0 : cache.limitBytes);
      const items = removed.map((v) => ({ tool: v.tool, version: v.version, bytes: v.bytes }));
      emit(Boolean(opts.json), { removed: items }, items.length ? items.map((v) => `removed ${tc.displayName(v.tool)} ${v.version} (${tc.formatBytes(v.bytes)})`).join("\n") : "nothing to remove");
    });
}
