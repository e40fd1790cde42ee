/**
 * The tools of Cloudflare's build image a build can ask versions of, and their defaults
 * (Cloudflare's docs: Workers Builds, "Build image"). Installed by src/runner/toolchain.ts.
 */
export type ToolName = "node" | "npm" | "pnpm" | "yarn" | "bun";
export const TOOL_NAMES: readonly ToolName[] = ["node", "npm", "pnpm", "yarn", "bun"];

/** Cloudflare's build image defaults: Node.js 22.16.0, npm 10.9.2, pnpm 10.11.1, yarn 4.9.1, bun 1.2.15. */
export const CLOUDFLARE_DEFAULT_TOOLS: Readonly<Record<ToolName, string>> = { node: "22.16.0", npm: "10.9.2", pnpm: "10.11.1", yarn: "4.9.1", bun: "1.2.15" };

/** "node@22.16.0,pnpm@10.11.1" → { node: "22.16.0", pnpm: "10.11.1" } ("nodejs@" too); throws on anything else. */
export function parseToolList(text: string): Partial<Record<ToolName, string>> {
  const out: Partial<Record<ToolName, string>> = {};
  for (const item of text.split(/[,\s]+/).filter(Boolean)) {
    const m = /^(node|nodejs|npm|pnpm|yarn|bun)@(.+)$/.exec(item);
    if (!m || !m[2]) throw new Error(`${JSON.stringify(item)} is not TOOL@VERSION (node, npm, pnpm, yarn or bun)`);
    const tool = (m[1] === "nodejs" ? "node" : m[1]) as ToolName;
    out[tool] = m[2].replace(/^v(?=\d)/, "");
  }
  return out;
}
