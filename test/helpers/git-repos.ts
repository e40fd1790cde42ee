/**
 * Real git repositories for tests: a bare repository on disk, reachable through a file:// URL,
 * with commits written directly into it (plumbing: hash-object, update-index, commit-tree), so
 * no working clone is needed. Every call is synchronous and returns plain values.
 *
 *   const repo = makeRepo({ name: "my-app", files: { "package.json": "{}", "wrangler.toml": 'name = "x"' } });
 *   const sha = repo.commit({ "src/index.ts": "…", "old.txt": null }, "second", { branch: "feature" });
 *   startHarness(dialect, {}, { gitUrlTemplate: repo.template });   // file://<dir>/{repo_name}.git
 *
 * The repository is `<dir>/<name>.git`, so several repositories made with the same `dir` share
 * one template and are told apart by the connection's repo_name.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** File contents by repository path; null deletes the file. */
export type FileChanges = Record<string, string | Buffer | null>;

export interface Author {
  name: string;
  email: string;
}

export interface CommitOptions {
  /** Branch to commit on (default: the repository's default branch). A new branch starts at `from`. */
  branch?: string;
  /** Where a new branch starts (default: the default branch's tip; "" for an orphan commit). */
  from?: string;
  author?: Author;
  /** Commit date (default: now), e.g. "2026-01-02T03:04:05Z". */
  date?: string;
}

export interface TestRepo {
  /** The bare repository. */
  bareDir: string;
  /** file:// URL of the bare repository. */
  url: string;
  /** The folder holding it; `template` is `file://<dir>/{repo_name}.git`. */
  dir: string;
  name: string;
  template: string;
  defaultBranch: string;
  /** Writes a commit with these changes on top of the branch; returns its full hash. */
  commit(files: FileChanges, message?: string, options?: CommitOptions): string;
  /** The tip of a branch (default branch when omitted), or undefined. */
  head(branch?: string): string | undefined;
  /** Points a branch at a commit (creating it). */
  setBranch(branch: string, sha: string): void;
  deleteBranch(branch: string): void;
  /** Runs git in the bare repository and returns stdout (trimmed). */
  git(...args: string[]): string;
  /** Removes `dir` (only when makeRepo created it). */
  cleanup(): void;
}

export interface MakeRepoOptions {
  /** Files of the first commit; none → an empty repository (no commit, no branch). */
  files?: FileChanges;
  /** Default branch (HEAD), default "main". */
  branch?: string;
  /** Repository name: the bare repository is `<dir>/<name>.git` (default "repo"). */
  name?: string;
  /** Parent folder (default: a new temporary folder). */
  dir?: string;
  message?: string;
  author?: Author;
}

export const TEST_AUTHOR: Author = { name: "Ada Lovelace", email: "ada@example.com" };

/** An empty file standing for git's global configuration (not /dev/null: tests must not depend on it). */
/** git with no user or system configuration, so the machine's settings (signing, hooks) never interfere. */
function gitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: os.tmpdir(),
    LANG: "C",
    LC_ALL: "C",
    GIT_CONFIG_GLOBAL: "/dev/null", // no file to make, so none is left behind
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    ...extra,
  };
}

export function runGit(args: string[], options: { cwd?: string; env?: Record<string, string>; input?: string | Buffer } = {}): string {
  return execFileSync("git", args, {
    cwd: options.cwd,
    env: gitEnv(options.env),
    input: options.input,
    stdio: ["pipe", "pipe", "pipe"],
    maxBuffer: 256 * 1024 * 1024,
  })
    .toString("utf8")
    .trim();
}

export function makeRepo(options: MakeRepoOptions = {}): TestRepo {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "kiln-git-"));
  fs.mkdirSync(dir, { recursive: true });
  const name = options.name ?? "repo";
  const bareDir = path.join(dir, `${name}.git`);
  const defaultBranch = options.branch ?? "main";
  runGit(["init", "--bare", "--quiet", "--template=", `--initial-branch=${defaultBranch}`, bareDir]);
  const inRepo = (...args: string[]) => runGit(["--git-dir", bareDir, ...args]);

  const head = (branch = defaultBranch): string | undefined => {
    try {
      return inRepo("rev-parse", "--verify", "--quiet", `refs/heads/${branch}^{commit}`) || undefined;
    } catch {
      return undefined;
    }
  };

  const commit = (files: FileChanges, message = "commit", o: CommitOptions = {}): string => {
    const branch = o.branch ?? defaultBranch;
    const parent = head(branch) ?? (o.from === undefined ? head(defaultBranch) : o.from || undefined);
    const index = path.join(dir, `.index-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    const env = { GIT_INDEX_FILE: index };
    try {
      if (parent) runGit(["--git-dir", bareDir, "read-tree", parent], { env });
      const lines = Object.entries(files).map(([file, content]) => {
        if (content === null) return `0 ${"0".repeat(40)}\t${file}\n`;
        const blob = runGit(["--git-dir", bareDir, "hash-object", "-w", "--stdin"], { input: content });
        return `100644 ${blob}\t${file}\n`;
      });
      runGit(["--git-dir", bareDir, "update-index", "--index-info"], { env, input: lines.join("") });
      const tree = runGit(["--git-dir", bareDir, "write-tree"], { env });
      const author = o.author ?? options.author ?? TEST_AUTHOR;
      const date = `@${Math.floor((o.date ? Date.parse(o.date) : Date.now()) / 1000)} +0000`;
      const who = {
        GIT_AUTHOR_NAME: author.name,
        GIT_AUTHOR_EMAIL: author.email,
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_NAME: author.name,
        GIT_COMMITTER_EMAIL: author.email,
        GIT_COMMITTER_DATE: date,
      };
      const sha = runGit(["--git-dir", bareDir, "commit-tree", tree, ...(parent ? ["-p", parent] : []), "-F", "-"], {
        env: who,
        input: message,
      });
      inRepo("update-ref", `refs/heads/${branch}`, sha);
      return sha;
    } finally {
      fs.rmSync(index, { force: true });
    }
  };

  if (options.files) commit(options.files, options.message ?? "initial commit", { author: options.author ?? TEST_AUTHOR });

  return {
    bareDir,
    url: `file://${bareDir}`,
    dir,
    name,
    template: `file://${dir}/{repo_name}.git`,
    defaultBranch,
    commit,
    head,
    setBranch: (branch, sha) => void inRepo("update-ref", `refs/heads/${branch}`, sha),
    deleteBranch: (branch) => void inRepo("update-ref", "-d", `refs/heads/${branch}`),
    git: (...args) => inRepo(...args),
    cleanup: () => {
      if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Paths and contents of every file in a working tree, `.git` excluded (for checkout assertions). */
export function readTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (child === ".git") continue;
      if (entry.isDirectory()) walk(child);
      else out[child] = fs.readFileSync(path.join(root, child), "utf8");
    }
  };
  walk("");
  return out;
}
