/**
 * Running git: always `spawn` with an argv array (never a shell string), a minimal explicit
 * environment, no terminal prompt, a timeout, and an optional AbortSignal. git runs in its own
 * process group so a timeout or an abort kills it together with its helpers (remote-https,
 * upload-pack, ssh…).
 */
import { spawn } from "node:child_process";

/** Default time limit of one git command. */
export const GIT_TIMEOUT_MS = 10 * 60_000;

/** Variables copied from the server's environment when set (git must be found, proxies and CAs honoured). */
const PASSED_THROUGH = [
  "PATH",
  "HOME",
  "SSH_AUTH_SOCK",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "GIT_SSL_CAINFO",
  "GIT_EXEC_PATH",
];

export class GitError extends Error {
  constructor(
    message: string,
    /** Exit code, or null when git was killed (timeout, abort). */
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly timedOut = false,
  ) {
    super(message);
    this.name = "GitError";
  }
}

export interface GitRunOptions {
  cwd?: string;
  /** Extra variables (e.g. credentials from credentialEnv, GIT_INDEX_FILE). Never logged. */
  env?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Written to git's stdin (e.g. `cat-file --batch` requests). */
  input?: string;
  /** Exit codes that are not failures (e.g. 1 for `rev-parse --verify --quiet`). */
  okCodes?: number[];
}

export interface GitResult {
  exitCode: number;
  stdout: Buffer;
  stderr: string;
}

/**
 * The base environment of every git command. `base` is where PATH, HOME, proxies and CA settings
 * are taken from (the server's environment by default); nothing else of it reaches git.
 */
export function gitBaseEnv(base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of PASSED_THROUGH) {
    const value = base[key];
    if (value !== undefined && value !== "") env[key] = value;
  }
  env.PATH ??= "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  Object.assign(env, {
    LANG: "C",
    LC_ALL: "C",
    GIT_TERMINAL_PROMPT: "0",
    // No credential prompt through a GUI helper either; ssh never asks.
    GIT_ASKPASS: "true",
    SSH_ASKPASS: "true",
    GIT_SSH_COMMAND: "ssh -o BatchMode=yes",
    GCM_INTERACTIVE: "never",
  });
  return env;
}

let baseEnv: Record<string, string> | undefined;

/** Runs `git <args>`; rejects with GitError on a non-zero exit (unless listed in okCodes), a timeout or an abort. */
export function git(args: string[], options: GitRunOptions = {}): Promise<GitResult> {
  baseEnv ??= gitBaseEnv();
  const env = { ...baseEnv, ...options.env };
  const timeoutMs = options.timeoutMs ?? GIT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new GitError(`git ${args[0] ?? ""} aborted`, null, ""));
      return;
    }
    const child = spawn("git", args, {
      cwd: options.cwd,
      env,
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let errBytes = 0;
    let timedOut = false;
    let aborted = false;
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    // An abort answers at once: the group is killed, but a helper that left it and still holds
    // git's pipes must not keep the caller waiting for "close".
    const onAbort = () => {
      aborted = true;
      kill();
      clearTimeout(timer);
      reject(new GitError(`git ${args[0] ?? ""} aborted`, null, Buffer.concat(err).toString("utf8")));
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => {
      // Keep at most 64 KiB of diagnostics.
      if (errBytes < 65_536) err.push(chunk);
      errBytes += chunk.length;
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
    child.on("error", (error) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      reject(new GitError(`could not run git: ${error.message}`, null, ""));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      const stderr = Buffer.concat(err).toString("utf8");
      if (timedOut) return reject(new GitError(`git ${args[0] ?? ""} timed out after ${timeoutMs} ms`, null, stderr, true));
      if (aborted) return reject(new GitError(`git ${args[0] ?? ""} aborted`, null, stderr));
      const exitCode = code ?? -1;
      if (exitCode !== 0 && !(options.okCodes ?? []).includes(exitCode)) {
        const detail = stderr.trim().split("\n").filter(Boolean).slice(-3).join(" / ");
        return reject(new GitError(`git ${args[0] ?? ""} failed (exit ${exitCode})${detail ? `: ${detail}` : ""}`, exitCode, stderr));
      }
      resolve({ exitCode, stdout: Buffer.concat(out), stderr });
    });
  });
}
