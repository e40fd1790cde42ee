/**
 * One unprivileged uid per running build, from the operator's range (`--build-uids`), so that
 * per-user kernel limits (processes, inotify instances, user namespaces, locked memory) are per
 * build and no build can signal or read another's processes.
 *
 * A uid is held by listening on the abstract unix socket `kiln-build-uid-<uid>`: that name is
 * unique in the host's network namespace across every Kiln process of the machine (several
 * runners may share one), and the kernel frees it the instant its holder dies, so a crashed
 * runner leaves no stale claim. Builds live in network namespaces of their own and cannot touch
 * the host's abstract names.
 */
import { randomInt } from "node:crypto";
import net from "node:net";
import type { UidRange } from "../domain/uid-range.ts";

export type { UidRange } from "../domain/uid-range.ts";

export interface ClaimedUid {
  uid: number;
  release(): Promise<void>;
}

function listen(name: string): Promise<net.Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", (error: NodeJS.ErrnoException) => (error.code === "EADDRINUSE" ? resolve(undefined) : reject(error)));
    // Unreferenced once listening (a claim alone does not keep Kiln's process alive), not before:
    // the listen itself must be waited for.
    server.listen(`\0${name}`, () => {
      server.unref();
      resolve(server);
    });
  });
}

/**
 * Claims a free uid of the range, starting at a random one so that concurrent runners rarely
 * race for the same; rejects when every uid of the range is taken.
 */
export async function claimUid(range: UidRange): Promise<ClaimedUid> {
  const size = range.last - range.first + 1;
  const start = randomInt(0, size);
  for (let i = 0; i < size; i++) {
    const uid = range.first + ((start + i) % size);
    const server = await listen(`kiln-build-uid-${uid}`);
    if (server) {
      return {
        uid,
        release: () => new Promise<void>((resolve) => server.close(() => resolve())),
      };
    }
  }
  throw new Error(`every uid of --build-uids ${range.first}-${range.last} is in use by a running build`);
}
