/**
 * The `kiln` command. Exit codes: 0 success; 1 an error of the operation (unknown account,
 * duplicate user, …); 2 a usage or configuration error (docs/errors.md, "The command line").
 */
import fs from "node:fs";
import { Command, CommanderError } from "commander";
import { ConfigError } from "../config.ts";
import { AdminError } from "../domain/admin.ts";
import { KilnError } from "../errors.ts";
import { registerAdmin } from "./admin.ts";
import { EXIT_ERROR, EXIT_USAGE, UsageError } from "./output.ts";
import { registerServe } from "./serve.ts";
import { registerRunner } from "./runner.ts";
import { registerTools } from "./tools.ts";
import { BuildNotSucceeded, registerClient } from "./client/commands.ts";
import { registerEventClient } from "./client/event-commands.ts";
import { registerWebhookClient } from "./client/webhook-commands.ts";
import { ApiError, ClientError, TransportError } from "./client/api-client.ts";

// Everything Kiln writes (database, key file, git mirrors, logs of builds) is its own: 0600 files,
// 0700 directories. A build's files are given to the build's uid explicitly.
process.umask(0o077);
import { registerPreviews } from "./previews.ts";

/** The version in this checkout's package.json (found from this file, whatever the cwd). */
function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command("kiln")
    .description("Kiln: a self-hosted build service that speaks Cloudflare's Workers Builds API")
    .version(packageVersion(), "-V, --version", "print Kiln's version")
    .exitOverride()
    .showHelpAfterError(false);
  registerServe(program);
  registerRunner(program);
  registerAdmin(program);
  registerTools(program);
  registerPreviews(program);
  registerClient(program);
  registerWebhookClient(registerEventClient(program));
  // Every subcommand reports usage errors through the same exit path.
  const override = (cmd: Command) => {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  };
  override(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version print and exit 0; everything else commander rejects is usage.
      if (error.exitCode === 0) return 0;
      return EXIT_USAGE;
    }
    if (error instanceof UsageError || error instanceof ConfigError) {
      process.stderr.write(`kiln: ${error.message}\n`);
      return EXIT_USAGE;
    }
    // A followed build that did not succeed: its outcome is already on stderr.
    if (error instanceof BuildNotSucceeded) return EXIT_ERROR;
    if (error instanceof ApiError || error instanceof ClientError || error instanceof TransportError) {
      process.stderr.write(`kiln: ${error.message}\n`);
      return EXIT_ERROR;
    }
    if (error instanceof AdminError || error instanceof KilnError) {
      process.stderr.write(`kiln: ${error.message}\n`);
      return EXIT_ERROR;
    }
    process.stderr.write(`kiln: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_ERROR;
  }
}

const code = await main(process.argv.slice(2));
// `serve` keeps running (its listeners hold the event loop); other commands end here.
if (code !== 0) process.exit(code);
