/**
 * Local bare mirrors of the repositories Kiln builds, shared by the API (resolving branches,
 * config autofill) and the runner (checking out a build's commit).
 *
 * - One mirror per clone URL: `<dir>/<sha256(url)>` (dir is `<dataDir>/git`, see mirrorsDir).
 *   Created on first use, then fetched incrementally (git only transfers what is new).
 * - Fetches of one mirror are serialized: an in-process queue plus a lock file (lock.ts), so an
 *   API process and a runner on the same machine never fetch the same mirror at once. Callers
 *   arriving while a fetch is queued but not started share it instead of queueing another.
 * - A caller that only needs the refs as they were at some moment (a queued build's branch, as
 *   of when the build was created: `freshSince`) shares a fetch in progress that started after
 *   that moment, and skips fetching when one that started after it has already finished; so
 *   builds waiting on one repository cost one fetch, not one each.
 * - Reads (rev-parse, cat-file, ls-tree, diff) and checkouts take no lock: git's object store is
 *   safe to read while a fetch adds objects and moves refs.
 * - Checkouts never touch the mirror's index or HEAD (see Mirror.checkout).
 * - git runs through exec.ts (argv arrays, minimal env, no prompt, timeout, abort); a token is
 *   passed in git's environment only (url.ts credentialEnv).
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { git, GitError, GIT_TIMEOUT_MS, type GitRunOptions } from "./exec.ts";
import { untilAborted } from "../abort.ts";
import { withLock } from "./lock.ts";
import { credentialEnv, redactUrl, type GitCredential } from "./url.ts";

/** Where a data dir keeps its mirrors. */
export const mirrorsDir = (dataDir: string): string => path.join(dataDir, "git");

export interface MirrorsOptions {
  /** Directory of the mirrors, normally mirrorsDir(config.dataDir). */
  dir: string;
  /** Credential for a clone URL (private repositories); a call's own `credential` wins. */
  credentialFor?: (url: string) => GitCredential | undefined;
  /** Time limit of each git command (default 10 minutes). */
  timeoutMs?: number;
}

export interface GitCallOptions {
  signal?: AbortSignal;
  credential?: GitCredential;
}

export interface FreshnessOptions {
  /**
   * Any fetch that started at or after this time (ms since the epoch) will do: one in progress
   * is shared, one already finished means no fetch at all. Without it, a fetch is made (or a
   * queued one shared) as usual.
   */
  freshSince?: number | undefined;
}

export interface RefQuery {
  branch?: string | undefined;
  commit?: string | undefined;
}

export type RefResolution =
  | { ok: true; commit: string; branch: string }
  | { ok: false; reason: "unknown_branch" | "unknown_commit" };

export interface CommitInfo {
  hash: string;
  /** Subject and body, trimmed. */
  message: string;
  /** Author e-mail. */
  author: string;
  authorName: string;
}

export interface TreeEntry {
  name: string;
  type: "blob" | "tree" | "commit";
}

const HEX_COMMIT = /^[0-9a-f]{4,64}$/i;
const FULL_COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;

/**
 * A branch name git would accept (`git check-ref-format --branch` rules), checked here so a
 * name can never be read as an option or a revision expression.
 */
export function isValidBranchName(name: string): boolean {
  if (name.length === 0 || name.length > 1024) return false;
  if (name.startsWith("-") || name.startsWith("/") || name.endsWith("/") || name.endsWith(".") || name.endsWith(".lock")) return false;
  if (name === "@" || name.includes("..") || name.includes("@{") || name.includes("//")) return false;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return false;
  return name.split("/").every((part) => part.length > 0 && !part.startsWith("."));
}

/** In-flight fetches not yet started, per mirror directory (shared by every Mirrors instance). */
const queuedFetches = new Map<string, Promise<void>>();
/** The signal each queued fetch was started with. */
const fetchStarters = new WeakMap<Promise<void>, AbortSignal>();
/** The fetch running now per mirror directory, with when it started (Date.now(), before git asked the remote). */
const runningFetches = new Map<string, { run: Promise<void>; startedAt: number }>();
/** When the newest fetch that succeeded started, per mirror directory (this process's fetches only). */
const fetchedAt = new Map<string, number>();

export class Mirrors {
  readonly dir: string;
  private readonly credentialFor: ((url: string) => GitCredential | undefined) | undefined;
  private readonly timeoutMs: number;

  constructor(options: MirrorsOptions) {
    this.dir = path.resolve(options.dir);
    this.credentialFor = options.credentialFor;
    this.timeoutMs = options.timeoutMs ?? GIT_TIMEOUT_MS;
  }

  /** The mirror of `url` (no git call; the directory may not exist yet). */
  mirror(url: string, options: GitCallOptions = {}): Mirror {
    const dir = path.join(this.dir, createHash("sha256").update(url).digest("hex"));
    return new Mirror(url, dir, options.credential ?? this.credentialFor?.(url), this.timeoutMs);
  }

  /** The mirror of `url`, created or brought up to date. */
  async fetch(url: string, options: GitCallOptions = {}): Promise<Mirror> {
    const m = this.mirror(url, options);
    await m.fetch(options.signal);
    return m;
  }

  /**
   * Resolves a branch and/or a commit (full or abbreviated). A branch is always fetched first
   * (it may have moved); a commit alone is fetched only when the mirror does not have it yet.
   * With neither, the remote's default branch.
   */
  resolveRef(url: string, ref: RefQuery, options: GitCallOptions & FreshnessOptions = {}): Promise<RefResolution> {
    return this.mirror(url, options).resolveRef(ref, options.signal, options.freshSince);
  }

  /** A working tree of exactly `sha` in `workspace` (fetching the commit when missing). */
  async checkout(url: string, sha: string, workspace: string, options: GitCallOptions = {}): Promise<void> {
    await this.mirror(url, options).checkout(sha, workspace, options.signal);
  }
}

export class Mirror {
  constructor(
    /** The clone URL (may hold user info if the operator's template does: redact before logging). */
    readonly url: string,
    /** The bare repository. */
    readonly dir: string,
    private readonly credential: GitCredential | undefined,
    private readonly timeoutMs: number,
  ) {}

  private run(args: string[], options: GitRunOptions = {}) {
    return git(["--git-dir", this.dir, ...args], { timeoutMs: this.timeoutMs, ...options });
  }

  private remoteEnv(): Record<string, string> {
    return credentialEnv(this.url, this.credential);
  }

  async exists(): Promise<boolean> {
    try {
      await fs.access(path.join(this.dir, "HEAD"));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Creates the mirror if needed, then fetches every branch and tag (pruning deleted ones).
   * Concurrent callers in this process share a fetch that has not started yet.
   */
  async fetch(signal?: AbortSignal, freshSince?: number): Promise<void> {
    if (freshSince !== undefined) {
      const done = fetchedAt.get(this.dir);
      // The directory is checked too: a mirror removed since (by hand, or a test) must be fetched again.
      if (done !== undefined && done >= freshSince && (await this.exists())) return;
      const running = runningFetches.get(this.dir);
      if (running && running.startedAt >= freshSince) return this.share(running.run, signal, freshSince);
    }
    const queued = queuedFetches.get(this.dir);
    if (queued) return this.share(queued, signal, freshSince);
    const run = (async () => {
      await fs.mkdir(path.dirname(this.dir), { recursive: true });
      await withLock(
        `${this.dir}.lock`,
        async () => {
          // From here on, a new caller needs a new fetch (refs may have moved since ours began),
          // unless what it needs is older than this fetch (freshSince).
          if (queuedFetches.get(this.dir) === run) queuedFetches.delete(this.dir);
          const startedAt = Date.now();
          runningFetches.set(this.dir, { run, startedAt });
          try {
            await this.init();
            await this.run(
              ["fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head", "--", this.url, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
              { env: this.remoteEnv(), signal },
            ).catch((error: unknown) => {
              throw remoteError(error, this.url);
            });
            fetchedAt.set(this.dir, Math.max(fetchedAt.get(this.dir) ?? 0, startedAt));
          } finally {
            if (runningFetches.get(this.dir)?.run === run) runningFetches.delete(this.dir);
          }
        },
        { timeoutMs: this.timeoutMs, signal },
      );
    })();
    queuedFetches.set(this.dir, run);
    if (signal) fetchStarters.set(run, signal);
    run.catch(() => undefined).finally(() => {
      if (queuedFetches.get(this.dir) === run) queuedFetches.delete(this.dir);
    });
    return run;
  }

  /**
   * Waits for another caller's fetch, bounded by its starter's signal: a starter that was stopped
   * (a cancelled build) says nothing about this caller, who then fetches on its own; and each
   * caller stops waiting on its own signal.
   */
  private share(other: Promise<void>, signal: AbortSignal | undefined, freshSince: number | undefined): Promise<void> {
    const starter = fetchStarters.get(other);
    const shared = other.catch((error: unknown) => {
      if (starter?.aborted && !signal?.aborted) return this.fetch(signal, freshSince);
      throw error;
    });
    return signal ? untilAborted(shared, signal) : shared;
  }

  private async init(): Promise<void> {
    if (await this.exists()) return;
    await git(["init", "--bare", "--quiet", "--template=", this.dir], { timeoutMs: this.timeoutMs });
    for (const [key, value] of [
      // Workspaces fetch exactly one commit from the mirror (Mirror.checkout).
      ["uploadpack.allowAnySHA1InWant", "true"],
      // gc runs in the foreground, inside the fetch lock, never as a detached leftover.
      ["gc.autoDetach", "false"],
      ["core.logAllRefUpdates", "false"],
    ] as const) {
      await this.run(["config", key, value]);
    }
  }

  /** The full hash of a commit the mirror has, else undefined. */
  private async commitOf(rev: string): Promise<string | undefined> {
    if (!(await this.exists())) return undefined;
    const out = await this.run(["rev-parse", "--verify", "--quiet", "--end-of-options", `${rev}^{commit}`], { okCodes: [1, 128] });
    const hash = out.stdout.toString("utf8").trim();
    return out.exitCode === 0 && hash ? hash : undefined;
  }

  /** See Mirrors.resolveRef. */
  async resolveRef(ref: RefQuery, signal?: AbortSignal, freshSince?: number): Promise<RefResolution> {
    const { branch, commit } = ref;
    if (branch !== undefined && !isValidBranchName(branch)) return { ok: false, reason: "unknown_branch" };
    if (commit !== undefined && !HEX_COMMIT.test(commit)) return { ok: false, reason: "unknown_commit" };

    if (branch !== undefined) {
      await this.fetch(signal, freshSince);
      const head = await this.commitOf(`refs/heads/${branch}`);
      if (head === undefined) return { ok: false, reason: "unknown_branch" };
      if (commit === undefined) return { ok: true, commit: head, branch };
      const found = await this.findCommit(commit, signal, freshSince);
      return found ? { ok: true, commit: found, branch } : { ok: false, reason: "unknown_commit" };
    }
    if (commit !== undefined) {
      const found = await this.findCommit(commit, signal, freshSince);
      if (!found) return { ok: false, reason: "unknown_commit" };
      return { ok: true, commit: found, branch: (await this.branchContaining(found)) ?? "" };
    }
    await this.fetch(signal, freshSince);
    const name = await this.defaultBranch(signal);
    const head = name === undefined ? undefined : await this.commitOf(`refs/heads/${name}`);
    return head !== undefined && name !== undefined ? { ok: true, commit: head, branch: name } : { ok: false, reason: "unknown_branch" };
  }

  /** A commit by full or abbreviated hash: from the mirror, else after a fetch, else (full hash) fetched by id. */
  private async findCommit(commit: string, signal?: AbortSignal, freshSince?: number): Promise<string | undefined> {
    const local = await this.commitOf(commit);
    if (local) return local;
    await this.fetch(signal, freshSince);
    const fetched = await this.commitOf(commit);
    if (fetched || !FULL_COMMIT.test(commit)) return fetched;
    // Not on any branch or tag (e.g. a pull request head): ask for the object itself, and keep
    // a ref to it so gc does not drop it while builds may still need it.
    await withLock(`${this.dir}.lock`, () =>
      this.run(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--", this.url, `+${commit}:refs/kiln/commits/${commit}`], {
        env: this.remoteEnv(),
        signal,
        okCodes: [1, 128],
      }),
      { timeoutMs: this.timeoutMs, ...(signal ? { signal } : {}) },
    );
    return this.commitOf(commit);
  }

  private async branchContaining(sha: string): Promise<string | undefined> {
    const out = await this.run(["for-each-ref", "--format=%(refname:lstrip=2)", "--contains", sha, "refs/heads/"], { okCodes: [] });
    const names = out.stdout.toString("utf8").split("\n").filter(Boolean);
    for (const preferred of ["main", "master"]) if (names.includes(preferred)) return preferred;
    return names[0];
  }

  /** The remote's default branch (its HEAD), asked of the remote. */
  async defaultBranch(signal?: AbortSignal): Promise<string | undefined> {
    const out = await git(["ls-remote", "--symref", "--", this.url, "HEAD"], {
      env: this.remoteEnv(),
      signal,
      timeoutMs: this.timeoutMs,
    }).catch((error: unknown) => {
      throw remoteError(error, this.url);
    });
    const match = /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec(out.stdout.toString("utf8"));
    return match?.[1];
  }

  /** Author, e-mail and full message of a commit the mirror has. */
  async commitInfo(sha: string): Promise<CommitInfo> {
    assertHex(sha);
    const out = await this.run(["show", "-s", "--no-show-signature", "--format=%H%x00%an%x00%ae%x00%B", "--end-of-options", `${sha}^{commit}`]);
    const [hash = "", authorName = "", author = "", ...rest] = out.stdout.toString("utf8").split("\0");
    return { hash, message: rest.join("\0").trim(), author, authorName };
  }

  /**
   * A file's bytes at a commit, or undefined when there is no such file. `file` is relative to the
   * repository root. Read from git's objects, never from a working tree: a symlink is its target's
   * text, not what it points to. With `maxBytes`, a larger blob is undefined too (its size comes
   * from the object header; the blob is not read).
   */
  async readFile(sha: string, file: string, options: { maxBytes?: number } = {}): Promise<Buffer | undefined> {
    assertHex(sha);
    const rel = repoPath(file);
    if (rel === undefined || rel === "") return undefined;
    const type = await this.run(["cat-file", "-t", `${sha}:${rel}`], { okCodes: [1, 128] });
    if (type.exitCode !== 0 || type.stdout.toString("utf8").trim() !== "blob") return undefined;
    if (options.maxBytes !== undefined) {
      const size = Number((await this.run(["cat-file", "-s", `${sha}:${rel}`])).stdout.toString("utf8").trim());
      if (!(size <= options.maxBytes)) return undefined;
    }
    const out = await this.run(["cat-file", "blob", `${sha}:${rel}`]);
    return out.stdout;
  }

  /** The entries of a directory at a commit ("" or "/" is the root), or undefined when it is not a directory there. */
  async listFiles(sha: string, dir = ""): Promise<TreeEntry[] | undefined> {
    assertHex(sha);
    const rel = repoPath(dir);
    if (rel === undefined) return undefined;
    const out = await this.run(["ls-tree", "-z", `${sha}:${rel}`], { okCodes: [128] });
    if (out.exitCode !== 0) return undefined;
    return out.stdout
      .toString("utf8")
      .split("\0")
      .filter(Boolean)
      .map((line) => {
        const tab = line.indexOf("\t");
        const type = line.slice(0, tab).split(" ")[1] as TreeEntry["type"];
        return { name: line.slice(tab + 1), type };
      });
  }

  /**
   * Paths that differ between two commits (renames appear as their old and new path). With
   * `sinceMergeBase`, what `toSha` changed since it forked from `fromSha` (a pull request's diff).
   */
  async changedFiles(fromSha: string, toSha: string, sinceMergeBase = false): Promise<string[]> {
    assertHex(fromSha);
    assertHex(toSha);
    const range = sinceMergeBase ? [`${fromSha}...${toSha}`] : [`${fromSha}^{commit}`, `${toSha}^{commit}`];
    const out = await this.run(["diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", ...range]);
    return out.stdout.toString("utf8").split("\0").filter(Boolean);
  }

  /**
   * Puts exactly `sha` in `workspace` (created if needed; should be empty): a one-commit
   * repository (`.git` with that commit only, HEAD detached at it) fetched from the mirror over
   * the local transport, then checked out. The workspace shares nothing with the mirror (no
   * alternates, no hard links), so a build may run as another user, with the data dir hidden,
   * and concurrent checkouts never contend for the mirror's index or HEAD.
   */
  async checkout(sha: string, workspace: string, signal?: AbortSignal): Promise<void> {
    assertHex(sha);
    const full = await this.findCommit(sha, signal);
    if (!full) throw new GitError(`commit ${sha} not found in ${redactUrl(this.url)}`, 1, "");
    await fs.mkdir(workspace, { recursive: true });
    const opts = { cwd: workspace, signal, timeoutMs: this.timeoutMs };
    await git(["init", "--quiet", "--template=", workspace], opts);
    await git(["fetch", "--quiet", "--depth=1", "--no-tags", "--no-write-fetch-head", "--", this.dir, `${full}:refs/kiln/build`], opts);
    // Parallel checkout (one worker per core): ~15% faster on 10k files.
    await git(["-c", "advice.detachedHead=false", "-c", "checkout.workers=0", "checkout", "--quiet", "--detach", full], opts);
    await git(["update-ref", "-d", "refs/kiln/build"], opts);
  }
}

function assertHex(sha: string): void {
  if (!HEX_COMMIT.test(sha)) throw new GitError(`not a commit hash: ${JSON.stringify(sha.slice(0, 80))}`, 1, "");
}

/** A repository-relative path without leading/trailing slashes, or undefined when it leaves the repository. */
function repoPath(p: string): string | undefined {
  if (p.includes("\0")) return undefined;
  const parts: string[] = [];
  for (const segment of p.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(segment);
  }
  return parts.join("/");
}

/** An error about reaching the remote, with credentials kept out of the message. */
function remoteError(error: unknown, url: string): Error {
  if (!(error instanceof GitError)) return error as Error;
  const message = error.message.split(url).join(redactUrl(url));
  return new GitError(`${message} (${redactUrl(url)})`, error.exitCode, error.stderr, error.timedOut);
}
