/**
 * A build's directories as its steps see them: Cloudflare's build image paths under bubblewrap
 * (bwrap-args.ts), the host's in the process-group fallback.
 */
import path from "node:path";
import { INSIDE_HOME, INSIDE_REPO, INSIDE_TMP } from "./bwrap-args.ts";
import type { SandboxMode } from "./sandbox-mode.ts";

/** A build's own directories on the host. */
export interface SandboxDirs {
  /** The checkout (inside: /opt/buildhome/repo). */
  repo: string;
  /** HOME (inside: /opt/buildhome). */
  home: string;
  /** Its /tmp and /var/tmp, private to the build and measured with its workspace. */
  tmp: string;
}

/** The build's directories as its steps see them: Cloudflare's paths under bubblewrap, the host's otherwise. */
export function sandboxView(mode: SandboxMode, dirs: SandboxDirs): SandboxDirs {
  return mode === "bubblewrap" ? { repo: INSIDE_REPO, home: INSIDE_HOME, tmp: INSIDE_TMP } : dirs;
}

const inside = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith("/") ? dir : `${dir}/`);

/** A host path under the build's repo or HOME, as the step sees it. */
export function viewPath(mode: SandboxMode, dirs: SandboxDirs, hostPath: string): string {
  if (mode !== "bubblewrap") return hostPath;
  for (const key of ["repo", "home", "tmp"] as const) {
    if (inside(hostPath, dirs[key])) return path.join(sandboxView(mode, dirs)[key], path.relative(dirs[key], hostPath));
  }
  throw new TypeError(`${hostPath} is outside the build's directories`);
}
