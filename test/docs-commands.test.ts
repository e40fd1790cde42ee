/**
 * The `kiln` commands written in the README's and the getting-started guide's shell blocks exist,
 * with every flag they use: each is checked against the real `kiln <command> --help`, so a renamed
 * command or flag cannot leave the docs behind. (The guide's steps themselves are what
 * test/cli/config-commands.test.ts runs, from nothing to a green build.)
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { it } from "node:test";
import { kiln } from "./helpers/cli.ts";

const DOCS = ["README.md", "docs/getting-started.md", "docs/webhooks.md"];

/** `kiln …` invocations in ```sh blocks and inline code: line continuations joined, placeholders and quoted values dropped. */
export function invocations(markdown: string): string[][] {
  const found: string[][] = [];
  // Shell blocks, and inline code that starts with `kiln ` (the README's tables).
  const inline = [...markdown.replace(/```[\s\S]*?```/g, "").matchAll(/`(kiln [^`]+)`/g)].map((m) => [m[0], `${m[1]}\n`]);
  for (const block of [...markdown.matchAll(/```sh\n([\s\S]*?)```/g), ...inline]) {
    const text = (block[1] ?? "").replace(/\\\|/g, "|").replace(/\\\n\s*/g, " ").replace(/<[^>\n]*>/g, "X").replace(/"[^"\n]*"|'[^'\n]*'/g, "X").replace(/#.*$/gm, "");
    for (const m of text.matchAll(/(?:^|[\s(|;&])kiln((?:[ \t]+[^\s|;&)]+)*)/gm)) {
      const tokens = (m[1] ?? "").trim().split(/\s+/).filter(Boolean).map((t) => t.replace(/^\[+|\]+$/g, ""));
      if (tokens.length > 0) found.push(tokens);
    }
  }
  return found;
}

it("every kiln command and flag in the README and the guide exists", async () => {
  const help = new Map<string, string>();
  const helpOf = async (path: string[]) => {
    const key = path.join(" ");
    if (!help.has(key)) {
      const r = await kiln([...path, "--help"]);
      assert.equal(r.code, 0, `kiln ${key} --help: ${r.stderr}`);
      help.set(key, r.stdout);
    }
    return help.get(key) as string;
  };
  const problems: string[] = [];
  let checked = 0;
  for (const file of DOCS) {
    for (const tokens of invocations(fs.readFileSync(file, "utf8"))) {
      // The command path: words while the help lists them as subcommands.
      const path: string[] = [];
      for (const t of tokens) {
        if (!/^[a-z][a-z-]*$/.test(t)) break;
        const text = await helpOf(path);
        const commands = text.split("Commands:")[1] ?? "";
        if (!new RegExp(`^ {2}${t}\\b`, "m").test(commands)) break;
        path.push(t);
      }
      if (path.length === 0) {
        if (!tokens[0]?.startsWith("-")) problems.push(`${file}: kiln ${tokens.join(" ")}: unknown command`);
        else if (!(await helpOf([])).includes(tokens[0])) problems.push(`${file}: kiln ${tokens.join(" ")}: unknown option ${tokens[0]}`);
        continue;
      }
      const text = await helpOf(path);
      for (const flag of tokens.filter((t) => t.startsWith("--")).map((t) => t.replace(/=.*$/, ""))) {
        if (!new RegExp(`(^|[\\s,])${flag.replace(/[-]/g, "\\-")}(?=[\\s,]|$)`, "m").test(text)) problems.push(`${file}: kiln ${path.join(" ")}: no option ${flag}`);
      }
      checked++;
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(checked >= 60, `only ${checked} invocations found`);
});
