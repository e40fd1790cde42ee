/**
 * What /proc says about a build's processes (Linux only). The sandbox uses it to decide when a
 * step's tree is really gone, and tests use it to prove that nothing survived.
 *
 * Zombies count as gone everywhere here: a zombie runs no code and holds no file, and on hosts
 * whose PID 1 reaps orphans late (some container inits do) a `kill(-pgid, 0)` would otherwise
 * keep answering "alive" for a process group that is already dead.
 */
import fs from "node:fs";

export interface ProcStat {
  pid: number;
  /** One letter: R, S, D, Z, T, … */
  state: string;
  ppid: number;
  pgrp: number;
  /** Clock ticks since boot: with the pid, identifies a process across pid reuse. */
  startTime: string;
}

/** Parses /proc/<pid>/stat; undefined when the process does not exist (any more). */
export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces and ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const [state, ppid, pgrp] = fields;
  const startTime = fields[19];
  if (state === undefined || ppid === undefined || pgrp === undefined || startTime === undefined) return undefined;
  return { pid, state, ppid: Number(ppid), pgrp: Number(pgrp), startTime };
}

/** True while `pid` is the same process (same start time) and not a zombie. */
export function isRunning(pid: number, startTime?: string): boolean {
  const stat = readStat(pid);
  if (!stat || stat.state === "Z" || stat.state === "X") return false;
  return startTime === undefined || stat.startTime === startTime;
}

/** Every pid in /proc (this PID namespace's view). */
export function allPids(): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    const pid = Number(name);
    if (Number.isInteger(pid) && pid > 0) pids.push(pid);
  }
  return pids;
}

/** Direct children of `pid` (needs CONFIG_PROC_CHILDREN; falls back to a /proc scan). */
export function childrenOf(pid: number): number[] {
  try {
    const text = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1").trim();
    return text ? text.split(" ").map(Number) : [];
  } catch {
    return allPids().filter((p) => readStat(p)?.ppid === pid);
  }
}

/** True while a process with this pid exists (a zombie included; EPERM means someone else's). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The PID namespace of a process, e.g. "pid:[4026532301]"; undefined when it is gone. */
export function pidNamespace(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/**
 * True while the process group has a live (non-zombie) member. `kill(-pgid, 0)` answers first
 * (ESRCH: nobody left); only when it says "someone" is /proc scanned to discount zombies.
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
    // EPERM: a member we may not signal exists; that is still a member.
  }
  return allPids().some((pid) => {
    const stat = readStat(pid);
    return stat !== undefined && stat.pgrp === pgid && stat.state !== "Z" && stat.state !== "X";
  });
}

/** Sends `signal` to the group, ignoring "no such group". */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

/** Sends `signal` to one process, ignoring "no such process". */
export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

/** True when the process's environment (as it was at exec) holds exactly `entry` ("KEY=value"). */
export function environHas(pid: number, entry: string): boolean {
  let environ: Buffer;
  try {
    environ = fs.readFileSync(`/proc/${pid}/environ`);
  } catch {
    return false; // gone, or not ours to read
  }
  const needle = Buffer.from(`${entry}\0`);
  const at = environ.indexOf(needle);
  // A match must start an entry: at offset 0 or right after a NUL.
  for (let i = at; i !== -1; i = environ.indexOf(needle, i + 1)) {
    if (i === 0 || environ[i - 1] === 0) return true;
  }
  return false;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
