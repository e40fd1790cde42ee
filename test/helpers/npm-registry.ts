/**
 * A small npm registry on loopback for tests (real HTTP): packuments at `/<name>` (scoped names
 * as `/@scope%2fname`) and tarballs at `/-/<file>.tgz`, made by the test itself with `tar`.
 *
 *   const reg = await startNpmRegistry();
 *   reg.publish("pnpm", "10.99.1", { "bin/pnpm.cjs": { text: "#!/usr/bin/env node\n…", mode: 0o755 } });
 *   new ToolCache({ dir, registry: reg.url, auth: {} });
 *   reg.tarballGets("pnpm", "10.99.1")   // how many times the tarball was downloaded
 *
 * With `{ tarballDelayMs }` every tarball is sent that long after it is asked for (downloads that
 * overlap); `events()` lists, in order, `packument <name>` and `tarball <name>@<version>` (when sent).
 * With `{ token }` it answers 401 to any request without `Authorization: Bearer <token>`, as a
 * private registry does; `authorizations()` lists the Authorization headers it was sent.
 *
 * Also a registry that refuses connections (`refusedUrl`) and one that accepts and never answers
 * (`startSilentServer`), for the failure paths.
 */
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export interface PackageFile {
  text?: string;
  /** A file or directory of the host copied in (recursively). */
  copy?: string;
  mode?: number;
}

interface Published {
  version: string;
  tarball: Buffer;
  integrity: string;
  time: string;
  file: string;
  engines?: Record<string, string>;
}

export interface NpmRegistry {
  /** Base URL with a trailing slash. */
  url: string;
  publish(name: string, version: string, files: Record<string, PackageFile>, options?: { time?: string; corrupt?: boolean; engines?: Record<string, string> }): void;
  /** GETs of a version's tarball so far. */
  tarballGets(name: string, version: string): number;
  /** GETs of a packument so far. */
  packumentGets(name: string): number;
  /** The Authorization header of every request so far ("" when there was none). */
  authorizations(): string[];
  /** `packument <name>` when one was asked for, `tarball <name>@<version>` when one was sent, in order. */
  events(): string[];
  close(): Promise<void>;
}

/** A gzipped tarball with everything under `package/`, as `npm pack` makes. */
export function packTarball(name: string, version: string, files: Record<string, PackageFile>): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-test-pack-"));
  try {
    const root = path.join(dir, "package");
    fs.mkdirSync(root);
    fs.writeFileSync(path.join(root, "package.json"), JSON.stringify({ name, version }));
    for (const [rel, f] of Object.entries(files)) {
      const target = path.join(root, rel);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      if (f.copy !== undefined) fs.cpSync(f.copy, target, { recursive: true, dereference: true });
      else fs.writeFileSync(target, f.text ?? "");
      if (f.mode !== undefined) fs.chmodSync(target, f.mode);
    }
    return execFileSync("tar", ["-czf", "-", "-C", dir, "package"], { maxBuffer: 1024 ** 3 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function startNpmRegistry(options: { token?: string; tarballDelayMs?: number } = {}): Promise<NpmRegistry> {
  const packages = new Map<string, Map<string, Published>>();
  const tarballCounts = new Map<string, number>();
  const packumentCounts = new Map<string, number>();
  const authorizations: string[] = [];
  const events: string[] = [];
  let base = "";
  const server = http.createServer((req, res) => {
    authorizations.push(req.headers.authorization ?? "");
    if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "authentication required" }));
      return;
    }
    const url = decodeURIComponent((req.url ?? "/").split("?")[0] ?? "/");
    if (url.startsWith("/-/")) {
      const file = url.slice(3);
      for (const [name, versions] of packages) {
        for (const p of versions.values()) {
          if (p.file !== file) continue;
          tarballCounts.set(`${name}@${p.version}`, (tarballCounts.get(`${name}@${p.version}`) ?? 0) + 1);
          const send = () => {
            events.push(`tarball ${name}@${p.version}`);
            res.writeHead(200, { "content-type": "application/octet-stream", "content-length": p.tarball.length });
            res.end(p.tarball);
          };
          if (options.tarballDelayMs) setTimeout(send, options.tarballDelayMs);
          else send();
          return;
        }
      }
    } else {
      const name = url.slice(1);
      const versions = packages.get(name);
      packumentCounts.set(name, (packumentCounts.get(name) ?? 0) + 1);
      events.push(`packument ${name}`);
      if (versions) {
        const list = [...versions.values()];
        const doc = {
          name,
          "dist-tags": { latest: list[list.length - 1]?.version },
          versions: Object.fromEntries(
            list.map((p) => [p.version, { name, version: p.version, ...(p.engines ? { engines: p.engines } : {}), dist: { tarball: `${base}-/${p.file}`, integrity: p.integrity, shasum: "" } }]),
          ),
          time: Object.fromEntries(list.map((p) => [p.version, p.time])),
        };
        const body = JSON.stringify(doc);
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        res.end(body);
        return;
      }
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "Not found" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
  return {
    url: base,
    publish(name, version, files, options = {}) {
      const tarball = packTarball(name, version, files);
      const digest = createHash("sha512").update(tarball).digest("base64");
      // A corrupt entry announces the integrity of other bytes than it serves.
      const integrity = options.corrupt ? `sha512-${createHash("sha512").update("not this").digest("base64")}` : `sha512-${digest}`;
      const file = `${name.replace("/", "-").replace(/^@/, "")}-${version}.tgz`;
      const versions = packages.get(name) ?? new Map<string, Published>();
      versions.set(version, { version, tarball, integrity, time: options.time ?? new Date().toISOString(), file, ...(options.engines ? { engines: options.engines } : {}) });
      packages.set(name, versions);
    },
    tarballGets: (name, version) => tarballCounts.get(`${name}@${version}`) ?? 0,
    packumentGets: (name) => packumentCounts.get(name) ?? 0,
    authorizations: () => [...authorizations],
    events: () => [...events],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A URL on loopback where nothing listens (connection refused). */
export async function refusedUrl(): Promise<string> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}/`;
}

/** A server that accepts connections and never answers. */
export async function startSilentServer(): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let count = 0;
  const s = net.createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(s.address() as net.AddressInfo).port}/`,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        s.close(() => resolve());
      }),
  };
}

/** Shell-script `node` that reports `version` and runs the host's own Node.js for everything else. */
export function fakeNodeFiles(version: string): Record<string, PackageFile> {
  return {
    "bin/node": { text: `#!/bin/sh\nif [ "$1" = --version ] || [ "$1" = -v ]; then echo v${version}; exit 0; fi\nexec ${process.execPath} "$@"\n`, mode: 0o755 },
  };
}

/** A package manager's bin that prints its version (and its arguments otherwise). */
export function fakeBinFiles(bin: string, version: string): Record<string, PackageFile> {
  return { [bin]: { text: `#!/usr/bin/env node\nconst a = process.argv.slice(2);\nconsole.log(a[0] === "--version" ? "${version}" : "fake " + a.join(" "));\n`, mode: 0o755 } };
}

/** The host's own npm (the directory holding its package.json), to publish as the `npm` package. */
export function hostNpmDir(): string {
  const npmBin = execFileSync("sh", ["-c", "command -v npm"], { encoding: "utf8" }).trim();
  let dir = path.dirname(fs.realpathSync(npmBin));
  while (!fs.existsSync(path.join(dir, "package.json"))) dir = path.dirname(dir);
  return dir;
}
