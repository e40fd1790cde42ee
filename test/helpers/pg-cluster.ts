/**
 * A private PostgreSQL cluster for fault tests: initdb into a temp dir (trust auth, superuser
 * `kiln`), started with pg_ctl on a free port of 127.0.0.1 with its unix socket inside the temp
 * dir, so the test may stop, kill and restart it without touching any shared server.
 *
 *   const cluster = await initPgCluster();   // rejects with the reason when initdb cannot run
 *   await cluster.start();                    // cluster.url: postgres://kiln@127.0.0.1:<port>/postgres
 *   await cluster.restart("fast");
 *   await cluster.cleanup();                  // stop -m immediate, remove the dir
 *
 * PostgreSQL refuses to run as root: as root, every binary runs as the `postgres` user when
 * there is one, else as nobody:nogroup (through setpriv), with the temp dir chowned to it.
 * Every process is spawned with an argv array, never through a shell.
 */
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export type StopMode = "smart" | "fast" | "immediate";

export interface PgCluster {
  /** postgres://kiln@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  dir: string;
  /** The PostgreSQL major version used (the /usr/lib/postgresql/<version> dir). */
  version: string;
  /** Who runs the server: the current user, or `postgres` / `nobody` when the tests run as root. */
  runAs: string;
  start(): Promise<void>;
  stop(mode?: StopMode): Promise<void>;
  /** pg_ctl restart -m <mode> (waits until the server accepts connections again). */
  restart(mode?: StopMode): Promise<void>;
  /** The server's log file so far (for failure messages). */
  log(): string;
  /** Stops the server (immediate) if it runs and removes the temp dir. */
  cleanup(): Promise<void>;
}

/** The newest /usr/lib/postgresql/<version>/bin holding initdb, pg_ctl and postgres. */
export function findPgBin(): { bin: string; version: string } | undefined {
  const root = "/usr/lib/postgresql";
  const versions = fs.existsSync(root) ? fs.readdirSync(root) : [];
  const usable = versions
    .filter((v) => ["initdb", "pg_ctl", "postgres"].every((b) => fs.existsSync(path.join(root, v, "bin", b))))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  const version = usable[0];
  return version === undefined ? undefined : { bin: path.join(root, version, "bin"), version };
}

/** Runs as root: the user to run PostgreSQL as, and the argv prefix that switches to it. */
function userSwitch(): { user: string; uid: number; gid: number; prefix: string[] } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const idOf = (user: string): { uid: number; gid: number } | undefined => {
    try {
      const uid = Number(execFileSync("id", ["-u", user], { stdio: ["ignore", "pipe", "ignore"] }).toString().trim());
      const gid = Number(execFileSync("id", ["-g", user], { stdio: ["ignore", "pipe", "ignore"] }).toString().trim());
      return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
    } catch {
      return undefined;
    }
  };
  const postgres = idOf("postgres");
  if (postgres && fs.existsSync("/usr/sbin/runuser")) return { user: "postgres", ...postgres, prefix: ["/usr/sbin/runuser", "-u", "postgres", "--"] };
  const nobody = idOf("nobody");
  if (nobody) return { user: "nobody", ...nobody, prefix: ["setpriv", `--reuid=${nobody.uid}`, `--regid=${nobody.gid}`, "--clear-groups"] };
  throw new Error("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as");
}

/** A port of 127.0.0.1 free right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function run(argv: string[], cwd: string, timeoutMs = 60_000): Promise<{ stdout: string; stderr: string }> {
  const [file, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout: timeoutMs, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C", LC_ALL: "C" } }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${argv.join(" ")} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** initdb into a new temp dir (the server is not started yet). Rejects with why it cannot. */
export async function initPgCluster(): Promise<PgCluster> {
  const found = findPgBin();
  if (!found) throw new Error("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin");
  const as = userSwitch();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-pgcluster-"));
  const data = path.join(dir, "data");
  const socketDir = path.join(dir, "socket");
  const logFile = path.join(dir, "server.log");
  fs.mkdirSync(socketDir);
  if (as) {
    fs.chmodSync(dir, 0o755);
    fs.chownSync(dir, as.uid, as.gid);
    fs.chownSync(socketDir, as.uid, as.gid);
  }
  const prefix = as?.prefix ?? [];
  const bin = (name: string) => [...prefix, path.join(found.bin, name)];
  try {
    // -N: no fsync during initdb (a test cluster; a server crash is what we test, not a power cut).
    await run([...bin("initdb"), "-D", data, "-U", "kiln", "--auth=trust", "-E", "UTF8", "--locale=C", "-N"], dir);
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const port = await freePort();
  const conf = [
    "",
    `port = ${port}`,
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${socketDir}'`,
    "max_connections = 100",
    "shared_buffers = 32MB",
    // The server may be stopped or killed, never the machine: durability against power loss
    // is not under test. (synchronous_commit stays on: an immediate stop is a crash, and a
    // commit acknowledged to Kiln must survive it.)
    "fsync = off",
    "full_page_writes = off",
    "",
  ].join("\n");
  fs.appendFileSync(path.join(data, "postgresql.conf"), conf);

  let running = false;
  const pgCtl = (...args: string[]) => run([...bin("pg_ctl"), "-D", data, ...args], dir);
  const cluster: PgCluster = {
    url: `postgres://kiln@127.0.0.1:${port}/postgres`,
    port,
    dir,
    version: found.version,
    runAs: as?.user ?? os.userInfo().username,
    async start() {
      await pgCtl("start", "-w", "-t", "60", "-l", logFile);
      running = true;
    },
    async stop(mode: StopMode = "fast") {
      await pgCtl("stop", "-w", "-t", "60", "-m", mode);
      running = false;
    },
    async restart(mode: StopMode = "fast") {
      await pgCtl("restart", "-w", "-t", "60", "-m", mode, "-l", logFile);
      running = true;
    },
    log: () => {
      try {
        return fs.readFileSync(logFile, "utf8");
      } catch {
        return "";
      }
    },
    async cleanup() {
      if (running || fs.existsSync(path.join(data, "postmaster.pid"))) await cluster.stop("immediate").catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
