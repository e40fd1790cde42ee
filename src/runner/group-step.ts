/**
 * The process-group fallback of a step: the step leads its own process group, signalled with
 * kill(-pgid); with a cgroup it waits to be moved in before it runs anything.
 */
import { spawn } from "node:child_process";
import type { Writable } from "node:stream";
import { cgroupMembers, joinCgroup, type StepCgroup } from "./cgroup.ts";
import { groupAlive, signalGroup, signalProcess, sleep } from "./process-tree.ts";
import type { SandboxOptions } from "./sandbox.ts";
import { remember, supervise, type Ended, type Tree } from "./step-supervisor.ts";

/** Process-group mode with a cgroup: wait for the go on fd 3, then become the step. */
const CGROUP_GATE = 'read -r _ <&3 || :; exec 3<&-; exec /bin/sh -e -c "$1"';

export async function runGrouped(
  command: string,
  opts: SandboxOptions,
  env: Record<string, string>,
  sandboxId: string,
  ids: { uid: number; gid: number } | undefined,
  cgroup: StepCgroup | undefined,
): Promise<Ended> {
  // With a cgroup, the shell first waits on fd 3 until it has been moved into the cgroup, so
  // nothing it forks can start outside (the command is still one argument, "$1").
  const gated = cgroup !== undefined;
  const child = spawn("/bin/sh", gated ? ["-c", CGROUP_GATE, "kiln-step", command] : ["-e", "-c", command], {
    cwd: opts.cwd,
    env,
    detached: true, // its own process group, led by the shell: pgid = pid
    stdio: gated ? ["ignore", "pipe", "pipe", "pipe"] : ["ignore", "pipe", "pipe"],
    ...(ids && ids.uid !== 0 ? { uid: ids.uid, gid: ids.gid } : {}),
  });
  const pgid = child.pid;
  if (pgid !== undefined) remember(sandboxId, { pgid });
  if (gated) {
    if (pgid !== undefined) joinCgroup(cgroup, pgid);
    const go = child.stdio[3] as Writable | null;
    go?.on("error", () => undefined);
    go?.end("\n");
  }
  const members = (signal: NodeJS.Signals) => {
    if (cgroup) for (const pid of cgroupMembers(cgroup)) signalProcess(pid, signal);
  };
  const tree: Tree = {
    terminate() {
      if (pgid !== undefined) signalGroup(pgid, "SIGTERM");
      members("SIGTERM");
    },
    kill() {
      if (pgid !== undefined) signalGroup(pgid, "SIGKILL");
      members("SIGKILL");
    },
    async gone(cancelling) {
      if (pgid === undefined) return;
      // The leader has exited. Without a cancel the rest dies now; during one it keeps its grace
      // period (the grace timer, still running, SIGKILLs it).
      if (!cancelling) signalGroup(pgid, "SIGKILL");
      while (groupAlive(pgid)) await sleep(2);
    },
  };
  return supervise(child, opts, tree, () => undefined);
}

