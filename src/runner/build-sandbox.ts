/**
 * One build's sandbox, across its steps: the mode this machine allows, the build's own uid
 * (build-uids.ts) and network (build-network.ts), its CPU, memory and process limits, and the
 * line its log starts with. Every step of the build runs through `run`; `close` releases the uid
 * and removes the network, whatever happened.
 *
 * Intended flow (pipeline.ts): `openBuildSandbox` as the build starts (it runs while the
 * repository is fetched), `await` it before the first step, `run` each step, `close` at the end.
 */
import os from "node:os";
import type { Cidr } from "../domain/cidr.ts";
import { openBuildNetwork, type BuildNetwork, type BuildNetworkMode } from "./build-network.ts";
import { claimUid, type ClaimedUid, type UidRange } from "./build-uids.ts";
import { runStep, sandboxView, type SandboxDirs, type SandboxMode, type SandboxOptions, type StepResult } from "./sandbox.ts";
import { detectSandboxSupport, resolveUser } from "./sandbox-mode.ts";
import type { StepLimits } from "./cgroup.ts";

export interface BuildSandboxConfig {
  network: BuildNetworkMode;
  networkAllow: Cidr[];
  uids: UidRange;
  /** CPUs per build (cgroup CPU bandwidth), already capped at the machine's count. */
  cpus: number;
  /** A prepared root filesystem for builds (bubblewrap mode); the host's /usr and /etc when absent. */
  buildRoot?: string;
  /** The user of the process-group fallback when Kiln runs as root. */
  fallbackUser: string;
  /** Processes and memory per step. */
  limits: Omit<StepLimits, "cpus">;
}

export type StepRequest = Pick<SandboxOptions, "cwd" | "env" | "signal" | "graceMs" | "timeoutMs" | "onOutput" | "tools">;

export interface BuildSandbox {
  mode: SandboxMode;
  /** "Sandbox: …", the build log's line saying what isolates this build. */
  line: string;
  /** Who owns the build's files on the host (for restoring its cache); undefined when Kiln is not root. */
  owner?: { uid: number; gid: number };
  /** The build's directories as its steps see them. */
  view: SandboxDirs;
  run(command: string, step: StepRequest): Promise<StepResult>;
  close(): Promise<void>;
}

/** The CPU count a build gets: the request, never more than this machine has. */
export function effectiveCpus(requested: number): number {
  return Math.min(requested, os.availableParallelism());
}

export async function openBuildSandbox(dirs: SandboxDirs, config: BuildSandboxConfig): Promise<BuildSandbox> {
  const support = await detectSandboxSupport();
  const limits: StepLimits = { ...config.limits, cpus: config.cpus };
  const cpuLine = `${config.cpus} CPU${config.cpus === 1 ? "" : "s"}`;
  if (support.mode !== "bubblewrap") {
    const owner = process.getuid?.() === 0 ? await resolveUser(config.fallbackUser) : undefined;
    return {
      mode: support.mode,
      line: `Sandbox: ${support.mode} (WARNING: this build is not isolated; ${support.detail}; user ${owner ? config.fallbackUser : "Kiln's own"}; ${cpuLine})`,
      ...(owner ? { owner } : {}),
      view: sandboxView(support.mode, dirs),
      run: (command, step) => runStep(command, { ...step, dirs, user: config.fallbackUser, limits, mode: support.mode }),
      close: async () => undefined,
    };
  }
  let uid: ClaimedUid | undefined;
  let network: BuildNetwork | undefined;
  try {
    uid = await claimUid(config.uids);
    network = await openBuildNetwork({ mode: config.network, allow: config.networkAllow });
  } catch (error) {
    await uid?.release();
    throw error;
  }
  const claimed = uid;
  const net = network;
  const root = config.buildRoot ? `build root ${config.buildRoot}` : "the host's /usr and /etc, read-only";
  const stepNetwork = { mode: net.mode, ...(net.netnsPath ? { netnsPath: net.netnsPath } : {}), ...(net.resolvConf ? { resolvConf: net.resolvConf } : {}) };
  let closed: Promise<void> | undefined;
  return {
    mode: "bubblewrap",
    line: `Sandbox: bubblewrap (${support.detail}; ${net.detail}; ${root}; uid ${claimed.uid}; ${cpuLine})`,
    owner: { uid: claimed.uid, gid: claimed.uid },
    view: sandboxView("bubblewrap", dirs),
    run: (command, step) =>
      runStep(command, {
        ...step,
        dirs,
        uid: claimed.uid,
        network: stepNetwork,
        ...(config.buildRoot ? { buildRoot: config.buildRoot } : {}),
        limits,
        mode: "bubblewrap",
      }),
    close() {
      closed ??= Promise.allSettled([net.close(), claimed.release()]).then(() => undefined);
      return closed;
    },
  };
}
