/** Runs the real `bin/kiln` in a child process. */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { sweepNetworks } from "../../src/runner/build-network.ts";

export const KILN_BIN = path.resolve("bin/kiln");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `kiln args…` to completion. KILN_* variables of the test run are not inherited.
 * `input` is written to its stdin (closed either way); `cwd` is where it runs; `bin` another
 * `kiln` to run (an installed one), executed directly instead of through this node.
 */
export function kiln(args: string[], env: Record<string, string> = {}, options: { input?: string; cwd?: string; bin?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const [file, argv] = options.bin ? [options.bin, args] : [process.execPath, [KILN_BIN, ...args]];
    const child = execFile(
      file,
      argv,
      { env: { ...cleanEnv(), ...env }, timeout: 60_000, ...(options.cwd ? { cwd: options.cwd } : {}) },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? "");
  });
}

/** The test run's environment without its KILN_* variables; builds use the host's tools (the suite downloads nothing). */
export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("KILN_")) env[k] = v;
  env.KILN_BUILD_TOOLS = "host";
  return env;
}

/** Starts `kiln serve …` and resolves once it listens, with its base URL and stdout so far. */
export async function startServer(
  args: string[],
  env: Record<string, string> = {},
  /** `prefix`: a command the server runs under, e.g. `["prlimit", "--nofile=1024:1024"]` (it must exec, keeping the pid). */
  options: { prefix?: string[] } = {},
): Promise<{ child: ChildProcess; base: string; stdout: () => string; stderr: () => string; exited: Promise<number | null> }> {
  const [command = process.execPath, ...prefixArgs] = [...(options.prefix ?? []), process.execPath];
  const child = spawn(command, [...prefixArgs, KILN_BIN, "serve", "--port", "0", "--log-level", "info", ...args], {
    env: { ...cleanEnv(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${err}`)), 30_000);
    child.stderr?.on("data", (d: Buffer) => {
      // Keep only the tail: a busy server logs a line per request.
      err = (err + d.toString()).slice(-65_536);
      const m = /"url":"(http:\/\/[^"]+)\/client\/v4","msg":"listening"/.exec(err);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then((code) => reject(new Error(`server exited with ${code}:\n${err}`)));
  });
  return { child, base, stdout: () => out, stderr: () => err, exited };
}

/** Starts `kiln runner …` and resolves once it has claimed its first chance to run builds. */
export async function startRunner(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; id: string; stderr: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [KILN_BIN, "runner", "--log-level", "info", ...args], {
    env: { ...cleanEnv(), ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const id = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`runner did not start:\n${err}`)), 30_000);
    child.stderr?.on("data", (d: Buffer) => {
      err = (err + d.toString()).slice(-262_144);
      const m = /"runner":"([^"]+)".*"msg":"runner ready"/.exec(err);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then((code) => reject(new Error(`runner exited with ${code}:\n${err}`)));
  });
  return { child, id, stderr: () => err, exited };
}

/** After processes killed with SIGKILL are gone: removes the (spare) network namespaces they left. */
export async function sweepKilledNetworks(): Promise<void> {
  await new Promise((r) => setTimeout(r, 100));
  await sweepNetworks();
}
