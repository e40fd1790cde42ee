/**
 * Reading a build's files as root without letting the build choose what root reads.
 *
 * Everything under a build's workspace, HOME and tmp was written (or could have been replaced)
 * by the build user: a name Kiln expects to be a small regular file may be a FIFO (an open
 * blocks a libuv thread until a writer comes, i.e. forever), a symlink to /dev/zero (an endless
 * read), to a root-only file such as /etc/shadow or another build's HOME (a leak into this
 * build's log or record), a 10 GiB sparse file (memory), or sit under a directory that is itself
 * a symlink out of the build.
 *
 * So every read here:
 * - walks from a directory Kiln made (`root`) one component at a time, each opened with
 *   O_DIRECTORY|O_NOFOLLOW relative to the descriptor of the one before (through
 *   /proc/self/fd/N, Node's stand-in for openat): a symlink anywhere on the way is refused, not
 *   resolved, and nothing can be swapped between a check and the open;
 * - opens the file with O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_NOCTTY: a symlink is refused by the
 *   kernel, a FIFO or device opens at once without waiting for a peer and without becoming a
 *   controlling terminal;
 * - fstat()s the open descriptor: only a regular file is read, one larger than `maxBytes` is
 *   refused (not truncated: a half-read file would be misread), and a file with several hard
 *   links that is not the build user's own is refused (see below);
 * - reads at most `maxBytes` + 1 bytes (a file that grew past the cap while read is refused too),
 *   within `timeoutMs` (the promise answers then, whatever the disk does; the descriptor is
 *   closed when the read ends).
 *
 * Hard links: a hard link to a root-only file would pass every test above. Kiln relies on two
 * things the kernel enforces: under bubblewrap the workspace, HOME and tmp are separate bind
 * mounts and link(2) across mounts fails with EXDEV, so a build can only link files of its own
 * directories; and fs.protected_hardlinks=1 (the default of every current distribution, see
 * /proc/sys/fs/protected_hardlinks) stops an unprivileged user from linking a file it could not
 * write, which is what covers the process-group fallback. The nlink/owner test is a third layer.
 */
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = fs.constants;
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
const FILE_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;

/** Whether descriptors can be walked through as paths (Linux). Elsewhere: lstat, then open. */
const PROC_FD = fs.existsSync("/proc/self/fd");

export const DEFAULT_TENANT_READ_TIMEOUT_MS = 5000;

export type TenantRefusal = "absent" | "symlink" | "not-regular" | "too-large" | "hard-link" | "outside" | "timeout" | "aborted" | "error";

export type TenantRead = { ok: true; data: Buffer } | { ok: false; reason: TenantRefusal; detail: string };

export interface TenantReadOptions {
  /** Files larger than this are refused. */
  maxBytes: number;
  /** The whole read (walk, open, read) answers within this (default 5 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * The build user's uid, when Kiln runs as another (root): a regular file with more than one
   * hard link owned by anyone else is refused.
   */
  ownerUid?: number;
}

export class TenantFileError extends Error {
  constructor(
    readonly reason: TenantRefusal,
    detail: string,
  ) {
    super(detail);
    this.name = "TenantFileError";
  }
}

/** A path's components relative to its root; `..` (which would climb out) is refused. */
export function tenantParts(relPath: string): string[] {
  if (relPath.includes("\0")) throw new TenantFileError("outside", `${JSON.stringify(relPath)} holds a NUL`);
  const parts = relPath.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new TenantFileError("outside", `${JSON.stringify(relPath)} climbs out of its directory`);
  return parts;
}

/** An open directory of a build; children are reached relative to its descriptor. */
export class TenantDir {
  private constructor(
    private readonly handle: fsp.FileHandle,
    /** The directory's host path, for messages and the non-Linux fallback. */
    readonly hostPath: string,
  ) {}

  /** Opens `root` (made by Kiln; not itself a symlink) and then each component of `relPath`, refusing symlinks. */
  static async open(root: string, relPath = ""): Promise<TenantDir> {
    const parts = tenantParts(relPath);
    let dir = new TenantDir(await openDir(root, root), root);
    try {
      for (const part of parts) {
        const next = await dir.dir(part);
        await dir.close();
        dir = next;
      }
      return dir;
    } catch (error) {
      await dir.close();
      throw error;
    }
  }

  /** A path that reaches `name` in this very directory, whatever happened to the path above it. */
  child(name: string): string {
    if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) throw new TenantFileError("outside", `not a plain name: ${JSON.stringify(name)}`);
    return PROC_FD ? `/proc/self/fd/${this.handle.fd}/${name}` : path.join(this.hostPath, name);
  }

  /** The directory itself as a path (readdir, copyFile's source side). */
  get self(): string {
    return PROC_FD ? `/proc/self/fd/${this.handle.fd}` : this.hostPath;
  }

  /** A child directory, refused when it is a symlink or not a directory. */
  async dir(name: string): Promise<TenantDir> {
    return new TenantDir(await openDir(this.child(name), path.join(this.hostPath, name)), path.join(this.hostPath, name));
  }

  /** The directory's own stat, from its descriptor. */
  stat(): Promise<fs.Stats> {
    return this.handle.stat();
  }

  /** lstat of a child (never follows it). */
  lstat(name: string): Promise<fs.Stats> {
    return fsp.lstat(this.child(name));
  }

  /**
   * A child opened for reading as a regular file: O_NOFOLLOW|O_NONBLOCK|O_NOCTTY, then fstat.
   * Refused (TenantFileError) when it is a symlink, not a regular file, over `maxBytes`, or
   * hard-linked and not `ownerUid`'s.
   */
  async file(name: string, limits: { maxBytes: number; ownerUid?: number | undefined }): Promise<{ handle: fsp.FileHandle; stat: fs.Stats }> {
    const shown = path.join(this.hostPath, name);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(this.child(name), FILE_FLAGS);
    } catch (error) {
      throw refusal(error, shown);
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new TenantFileError("not-regular", `${shown} is not a regular file (${kind(stat)})`);
      if (limits.ownerUid !== undefined && stat.nlink > 1 && stat.uid !== limits.ownerUid) {
        throw new TenantFileError("hard-link", `${shown} has ${stat.nlink} hard links and belongs to uid ${stat.uid}, not the build's`);
      }
      if (stat.size > limits.maxBytes) throw new TenantFileError("too-large", `${shown} is ${stat.size} bytes, over the limit of ${limits.maxBytes}`);
      return { handle, stat };
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  close(): Promise<void> {
    return this.handle.close().catch(() => undefined);
  }
}

/** A path naming the file open on `handle` itself (for fs calls that take a path, e.g. copyFile); `fallback` off Linux. */
export function descriptorPath(handle: fsp.FileHandle, fallback: string): string {
  return PROC_FD ? `/proc/self/fd/${handle.fd}` : fallback;
}

async function openDir(file: string, shown: string): Promise<fsp.FileHandle> {
  try {
    if (!PROC_FD && (await fsp.lstat(file)).isSymbolicLink()) throw new TenantFileError("symlink", `${shown} is a symlink`);
    return await fsp.open(file, DIR_FLAGS);
  } catch (error) {
    if (error instanceof TenantFileError) throw error;
    // O_DIRECTORY|O_NOFOLLOW answers ENOTDIR for a symlink: say which it was.
    if ((error as NodeJS.ErrnoException).code === "ENOTDIR") {
      const st = await fsp.lstat(file).catch(() => undefined);
      if (st?.isSymbolicLink()) throw new TenantFileError("symlink", `${shown} is a symlink`);
      throw new TenantFileError("not-regular", `${shown} is not a directory`);
    }
    throw refusal(error, shown);
  }
}

function refusal(error: unknown, shown: string): Error {
  if (error instanceof TenantFileError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return new TenantFileError("absent", `${shown} does not exist`);
  if (code === "ELOOP") return new TenantFileError("symlink", `${shown} is a symlink`);
  if (code === "ENOTDIR") return new TenantFileError("absent", `${shown} does not exist (a component is not a directory)`);
  return new TenantFileError("error", `${shown}: ${(error as Error).message}`);
}

function kind(st: fs.Stats): string {
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isDirectory()) return "a directory";
  return "not a file";
}

/**
 * Reads `relPath` under `root` (see the module comment). Never throws: a refusal says why, and
 * "absent" is the common, quiet one.
 */
export async function readTenantFile(root: string, relPath: string, opts: TenantReadOptions): Promise<TenantRead> {
  let parts: string[];
  try {
    parts = tenantParts(relPath);
  } catch (error) {
    return { ok: false, reason: (error as TenantFileError).reason, detail: (error as Error).message };
  }
  const name = parts.pop();
  if (name === undefined) return { ok: false, reason: "not-regular", detail: `${root} is a directory` };
  const work = (async (): Promise<Buffer> => {
    const dir = await TenantDir.open(root, parts.join("/"));
    try {
      const { handle } = await dir.file(name, opts);
      try {
        return await readCapped(handle, opts.maxBytes, path.join(root, relPath));
      } finally {
        await handle.close().catch(() => undefined);
      }
    } finally {
      await dir.close();
    }
  })();
  try {
    const data = await within(work, opts.timeoutMs ?? DEFAULT_TENANT_READ_TIMEOUT_MS, opts.signal, path.join(root, relPath));
    return { ok: true, data };
  } catch (error) {
    const reason = error instanceof TenantFileError ? error.reason : "error";
    return { ok: false, reason, detail: (error as Error).message };
  }
}

/** At most maxBytes; more than that (the file grew after fstat) is refused. */
async function readCapped(handle: fsp.FileHandle, maxBytes: number, shown: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const want = Math.min(64 * 1024, maxBytes + 1 - total);
    const buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await handle.read(buf, 0, want, null);
    if (bytesRead === 0) break;
    chunks.push(buf.subarray(0, bytesRead));
    total += bytesRead;
    if (total > maxBytes) throw new TenantFileError("too-large", `${shown} grew past the limit of ${maxBytes} bytes while it was read`);
  }
  return Buffer.concat(chunks, total);
}

/** `work`'s answer, or a refusal once `timeoutMs` passed or `signal` fired (work goes on and cleans up after itself). */
function within<T>(work: Promise<T>, timeoutMs: number, signal: AbortSignal | undefined, shown: string): Promise<T> {
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      done();
      reject(new TenantFileError("aborted", `reading ${shown} was abandoned: the build was stopped`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new TenantFileError("timeout", `reading ${shown} took longer than ${timeoutMs} ms`));
    }, timeoutMs);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        done();
        resolve(value);
      },
      (error: unknown) => {
        done();
        reject(error);
      },
    );
  });
}
