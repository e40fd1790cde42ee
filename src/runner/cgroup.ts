/**
 * Per-step cgroups for the `pids`, `memory` and `cpu` limits (docs/architecture.md, Sandbox): one
 * cgroup per step under a `kiln` cgroup nested in the runner's own cgroup (so the runner's own accounting
 * and limits still cover its builds), removed when the step ends.
 *
 * cgroup v2 (unified, /sys/fs/cgroup/cgroup.controllers) is preferred; a hybrid or v1 host gets the
 * v1 `pids`, `memory` and `cpu` hierarchies. Anything missing or read-only is reported, never fatal: a
 * build is not failed because limits cannot be applied.
 *
 * Processes join a step cgroup by writing "0" (meaning "the writer") to its cgroup.procs: the
 * namespace wrapper does that before it execs the build, so no process of the build is ever
 * outside it.
 */
import fs from "node:fs";
import path from "node:path";
import { signalProcess, sleep } from "./process-tree.ts";

const ROOT = "/sys/fs/cgroup";

export interface StepLimits {
  /** Maximum number of processes (and threads) in the step. */
  pids?: number;
  /** Memory limit in bytes (swap included where the kernel lets us say so); tmpfs pages the step writes (/dev/shm) count. */
  memoryBytes?: number;
  /** CPU time per wall-clock second, in CPUs (0.5 = half of one core; CFS bandwidth control). */
  cpus?: number;
}

type Controller = "pids" | "memory" | "cpu";
const CONTROLLERS: readonly Controller[] = ["pids", "memory", "cpu"];
/** CFS period: quota = cpus × period. */
const CPU_PERIOD_US = 100_000;

export type CgroupSupport =
  | { version: 2; parent: string; controllers: Controller[]; detail: string }
  | { version: 1; parents: { pids?: string; memory?: string; cpu?: string }; detail: string }
  | { version: null; detail: string };

export interface StepCgroup {
  version: 1 | 2;
  /** Every directory created for the step (one on v2, one per controller on v1). */
  dirs: string[];
  pidsDir?: string;
  memoryDir?: string;
  cpuDir?: string;
}

let support: Promise<CgroupSupport> | undefined;

/** Probes once per process which cgroup hierarchy Kiln can write to, and sweeps stale step cgroups. */
export function detectCgroups(): Promise<CgroupSupport> {
  support ??= Promise.resolve()
    .then(probe)
    .then((found) => {
      const parents = found.version === 2 ? [found.parent] : found.version === 1 ? Object.values(found.parents) : [];
      for (const parent of parents) sweep(parent);
      return found;
    });
  return support;
}

/**
 * Removes step cgroups left by a runner that died before it could: empty ones (rmdir refuses
 * others) older than a step's first instant, since a live step joins its cgroup at once.
 */
function sweep(parent: string): void {
  const before = Date.now() - 10 * 60_000;
  try {
    for (const entry of fs.readdirSync(parent, { withFileTypes: true })) {
      const dir = path.join(parent, entry.name);
      if (entry.isDirectory() && fs.statSync(dir).mtimeMs < before) rmdirs([dir]);
    }
  } catch {
    // best effort
  }
}

/** This process's cgroup path per hierarchy, from /proc/self/cgroup ("" key = unified). */
function ownCgroups(): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of fs.readFileSync("/proc/self/cgroup", "utf8").split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    for (const controller of (m[1] ?? "").split(",")) map.set(controller, m[2] ?? "/");
  }
  return map;
}

function errText(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ?? e.message;
}

function probe(): CgroupSupport {
  if (process.platform !== "linux") return { version: null, detail: "no cgroups (not Linux)" };
  let own: Map<string, string>;
  try {
    own = ownCgroups();
  } catch (error) {
    return { version: null, detail: `no cgroup limits (/proc/self/cgroup: ${errText(error)})` };
  }
  if (fs.existsSync(path.join(ROOT, "cgroup.controllers"))) return probeV2(own.get("") ?? "/");
  return probeV1(own);
}

function probeV2(ownPath: string): CgroupSupport {
  const base = path.join(ROOT, ownPath);
  const parent = path.join(base, "kiln");
  try {
    const available = fs.readFileSync(path.join(base, "cgroup.controllers"), "utf8").trim().split(/\s+/);
    const controllers = CONTROLLERS.filter((c) => available.includes(c));
    if (controllers.length === 0) return { version: null, detail: `no cgroup limits (cgroup v2 at ${base} offers none of pids, memory, cpu)` };
    const enable = controllers.map((c) => `+${c}`).join(" ");
    fs.mkdirSync(parent, { recursive: true });
    try {
      fs.writeFileSync(path.join(base, "cgroup.subtree_control"), enable);
    } catch (error) {
      if (errText(error) === "EBUSY") {
        // v2's "no internal processes" rule: a cgroup holding processes (the runner) cannot hand
        // controllers down unless it is the root.
        return {
          version: null,
          detail: `no cgroup limits (cgroup v2: ${base} holds processes and cannot delegate controllers; start Kiln in a cgroup of its own)`,
        };
      }
      throw error;
    }
    fs.writeFileSync(path.join(parent, "cgroup.subtree_control"), enable);
    return { version: 2, parent, controllers, detail: `cgroup v2 limits (${controllers.join(", ")}) under ${parent}` };
  } catch (error) {
    return { version: null, detail: `no cgroup limits (cgroup v2 at ${base} not writable: ${errText(error)})` };
  }
}

function probeV1(own: Map<string, string>): CgroupSupport {
  const parents: { pids?: string; memory?: string; cpu?: string } = {};
  const why: string[] = [];
  for (const controller of CONTROLLERS) {
    const mount = path.join(ROOT, controller);
    const ownPath = own.get(controller);
    if (ownPath === undefined || !fs.existsSync(path.join(mount, "cgroup.procs"))) {
      why.push(`${controller} not mounted`);
      continue;
    }
    const parent = path.join(mount, ownPath, "kiln");
    try {
      fs.mkdirSync(parent, { recursive: true });
      parents[controller] = parent;
    } catch (error) {
      why.push(`${controller} not writable (${errText(error)})`);
    }
  }
  const have = Object.keys(parents);
  if (have.length === 0) return { version: null, detail: `no cgroup limits (no cgroup v2; v1: ${why.join(", ") || "unavailable"})` };
  return { version: 1, parents, detail: `cgroup v1 limits (${have.join(", ")})${why.length ? `; ${why.join(", ")}` : ""}` };
}

/**
 * Creates the step's cgroup(s) with the requested limits; undefined when cgroups are unavailable
 * or no limit was asked for. A failure here is reported through `onWarning`, not thrown.
 */
export async function createStepCgroup(id: string, limits: StepLimits, onWarning: (message: string) => void): Promise<StepCgroup | undefined> {
  if (limits.pids === undefined && limits.memoryBytes === undefined && limits.cpus === undefined) return undefined;
  const cg = await detectCgroups();
  if (cg.version === null) return undefined;
  const created: string[] = [];
  try {
    if (cg.version === 2) {
      const dir = path.join(cg.parent, id);
      fs.mkdirSync(dir);
      created.push(dir);
      if (limits.pids !== undefined && cg.controllers.includes("pids")) fs.writeFileSync(path.join(dir, "pids.max"), String(limits.pids));
      if (limits.memoryBytes !== undefined && cg.controllers.includes("memory")) {
        fs.writeFileSync(path.join(dir, "memory.max"), String(limits.memoryBytes));
        tryWrite(path.join(dir, "memory.swap.max"), "0");
      }
      if (limits.cpus !== undefined && cg.controllers.includes("cpu")) fs.writeFileSync(path.join(dir, "cpu.max"), `${cpuQuota(limits.cpus)} ${CPU_PERIOD_US}`);
      return { version: 2, dirs: created, pidsDir: dir, memoryDir: dir, ...(cg.controllers.includes("cpu") ? { cpuDir: dir } : {}) };
    }
    const step: StepCgroup = { version: 1, dirs: created };
    if (limits.pids !== undefined && cg.parents.pids) {
      const dir = path.join(cg.parents.pids, id);
      fs.mkdirSync(dir);
      created.push(dir);
      fs.writeFileSync(path.join(dir, "pids.max"), String(limits.pids));
      step.pidsDir = dir;
    }
    if (limits.memoryBytes !== undefined && cg.parents.memory) {
      const dir = path.join(cg.parents.memory, id);
      fs.mkdirSync(dir);
      created.push(dir);
      fs.writeFileSync(path.join(dir, "memory.limit_in_bytes"), String(limits.memoryBytes));
      // memsw (memory + swap) must be ≥ the memory limit, so it is written second.
      tryWrite(path.join(dir, "memory.memsw.limit_in_bytes"), String(limits.memoryBytes));
      step.memoryDir = dir;
    }
    if (limits.cpus !== undefined && cg.parents.cpu) {
      const dir = path.join(cg.parents.cpu, id);
      fs.mkdirSync(dir);
      created.push(dir);
      fs.writeFileSync(path.join(dir, "cpu.cfs_period_us"), String(CPU_PERIOD_US));
      fs.writeFileSync(path.join(dir, "cpu.cfs_quota_us"), String(cpuQuota(limits.cpus)));
      step.cpuDir = dir;
    }
    return created.length ? step : undefined;
  } catch (error) {
    onWarning(`cgroup limits not applied: ${errText(error)}`);
    await removeStepCgroup({ version: cg.version, dirs: created });
    return undefined;
  }
}

/** The CFS quota in µs per period; at least 1 ms (the kernel's minimum). */
function cpuQuota(cpus: number): number {
  return Math.max(1000, Math.round(cpus * CPU_PERIOD_US));
}

function tryWrite(file: string, value: string): void {
  try {
    fs.writeFileSync(file, value);
  } catch {
    // Optional knob (no swap accounting, older kernel): the main limit still holds.
  }
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

function counter(text: string, key: string): number {
  const m = new RegExp(`^${key} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

/** Which limit the step ran into, if any (a refused fork, an OOM kill). */
export function cgroupLimitHit(cg: StepCgroup): "pids" | "memory" | undefined {
  if (cg.memoryDir) {
    const file = cg.version === 2 ? "memory.events" : "memory.oom_control";
    if (counter(readOr(path.join(cg.memoryDir, file)), "oom_kill") > 0) return "memory";
  }
  if (cg.pidsDir && counter(readOr(path.join(cg.pidsDir, "pids.events")), "max") > 0) return "pids";
  return undefined;
}

/** Pids currently in the step's cgroup(s), as seen from this PID namespace. */
export function cgroupMembers(cg: StepCgroup): number[] {
  const pids = new Set<number>();
  for (const dir of cg.dirs) {
    for (const line of readOr(path.join(dir, "cgroup.procs")).split("\n")) if (line) pids.add(Number(line));
  }
  return [...pids];
}

/** Adds a process to the step's cgroup(s) from outside (process-group mode). */
export function joinCgroup(cg: StepCgroup, pid: number): void {
  for (const dir of cg.dirs) tryWrite(path.join(dir, "cgroup.procs"), String(pid));
}

/**
 * Kills whatever is left in the step's cgroup(s) and removes them. In process-group mode this
 * is what catches a process that left the group with setsid(). Never throws, and does not wait
 * long: a zombie still counts in a cgroup, and orphans of a process-group step are reaped by
 * the host's init, which some container inits do late; such a cgroup is removed in the
 * background once it is empty.
 */
export async function removeStepCgroup(cg: StepCgroup): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const left = cgroupMembers(cg);
    if (left.length === 0) break;
    for (const pid of left) signalProcess(pid, "SIGKILL");
    await sleep(10);
  }
  let busy = cg.dirs;
  for (let attempt = 0; attempt < 50 && busy.length > 0; attempt++) {
    if (attempt > 0) await sleep(10);
    busy = rmdirs(busy);
  }
  if (busy.length > 0) retryLater(busy, Date.now() + 120_000);
}

/** rmdir each dir (deepest first); returns those still busy. */
function rmdirs(dirs: string[]): string[] {
  const busy: string[] = [];
  for (const dir of [...dirs].reverse()) {
    try {
      fs.rmdirSync(dir);
    } catch (error) {
      if (errText(error) === "EBUSY") busy.unshift(dir); // else gone already, or not ours to remove
    }
  }
  return busy;
}

function retryLater(dirs: string[], deadline: number): void {
  setTimeout(() => {
    const busy = rmdirs(dirs);
    if (busy.length > 0 && Date.now() < deadline) retryLater(busy, deadline);
  }, 500).unref();
}
