/**
 * The open-file limit of this process. Every HTTP connection is a file descriptor, and the common
 * soft limit (1,024) is far below what a server needs under load or attack: past it `accept`
 * fails and nobody is answered. The soft limit may be raised up to the hard limit without
 * privilege. The node binary does that itself at start-up (Node 20 on Linux: started under
 * `prlimit --nofile=1024:8192` it runs with 8192); this is the fallback for a runtime that did
 * not, and the reading that sizes the connection cap. Node has no setrlimit, so `prlimit`
 * (util-linux) does it on our own pid. Nothing here ever fails the start: without /proc or
 * prlimit the limit stays as it is, and says so. A hard limit of 1,024 stays 1,024: only the
 * operator can lift it (systemd LimitNOFILE=, docker --ulimit nofile=, limits.conf).
 */
import { execFile } from "node:child_process";
import fs from "node:fs";

export interface FileLimit {
  soft: number;
  hard: number;
}

export interface RaiseOutcome {
  /** The limits now (undefined where they cannot be read, e.g. not Linux). */
  limit: FileLimit | undefined;
  /** The soft limit before, when it was raised. */
  raisedFrom?: number;
  /** Why it was not raised although it could have been. */
  failure?: string;
}

/** Reads `Max open files` of /proc/<pid>/limits; "unlimited" is the largest number. */
export function readFileLimit(pid: number | "self" = "self"): FileLimit | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/limits`, "utf8");
  } catch {
    return undefined;
  }
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!m?.[1] || !m[2]) return undefined;
  const value = (v: string) => (v === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(v));
  const soft = value(m[1]);
  const hard = value(m[2]);
  return Number.isFinite(soft) && Number.isFinite(hard) ? { soft, hard } : undefined;
}

/** Raises the soft open-file limit to the hard one where it is lower. */
export async function raiseFileLimit(): Promise<RaiseOutcome> {
  const before = readFileLimit();
  if (!before || before.soft >= before.hard || before.hard === Number.MAX_SAFE_INTEGER) return { limit: before };
  const failure = await new Promise<string | undefined>((resolve) => {
    execFile("prlimit", ["--pid", String(process.pid), `--nofile=${before.hard}:${before.hard}`], { timeout: 5000 }, (error, _stdout, stderr) => {
      if (!error) resolve(undefined);
      else resolve((error as NodeJS.ErrnoException).code === "ENOENT" ? "prlimit (util-linux) is not installed" : stderr.trim() || error.message);
    });
  });
  const after = readFileLimit() ?? before;
  if (after.soft > before.soft) return { limit: after, raisedFrom: before.soft };
  return { limit: after, failure: failure ?? "prlimit did not change it" };
}
