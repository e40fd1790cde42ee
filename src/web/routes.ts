/**
 * The dashboard: a small Preact + htm app served by `kiln serve` itself, same origin
 * as the API, with no build step. Everything the browser loads comes from here:
 *
 *   GET /  and the dashboard's own deep links        → index.html (the app routes in the browser)
 *   GET /assets/{file}                              → src/web/assets (app modules, CSS), revalidated by ETag
 *   GET /vendor/{preact,hooks,htm,ansi}.js?v=<ver>  → the ES module builds from node_modules, cached for a year
 *
 *   any other GET outside /client/v4 and /webhooks    → a static HTML 404 page (no script)
 *
 * The import map in index.html names the vendor files with their package versions, so an upgrade
 * changes the URLs and a cached copy is never mixed with a new one. The app only talks to
 * /client/v4 with the token the user typed; nothing under /client/v4, /webhooks, /healthz or
 * /metrics is touched here (an unknown path under /client/v4 or /webhooks still gets the API's
 * envelope, 400 7003 or 405). The page carries the git providers' web addresses (--github-web-url,
 * --gitlab-web-url) in a meta tag, for links from a build to its commit.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppDeps } from "../api/deps.ts";
import type { Config } from "../config.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ASSETS_DIR = path.join(HERE, "assets");

/** The browser-side routes; each serves index.html so a link (commit statuses use the build one) opens the page. */
export const DASHBOARD_PATHS = [
  "/",
  "/sign-in",
  "/accounts",
  "/accounts/:account_id",
  "/accounts/:account_id/workers/:tag",
  "/accounts/:account_id/deliveries",
  "/accounts/:account_id/limits",
  "/accounts/:account_id/workers/:tag/settings",
  "/accounts/:account_id/workers/:tag/builds/:build_uuid",
];

/** Paths of the API and the webhooks: an unknown one keeps the envelope (clients parse it). */
const API_PATHS = /^\/(client\/v4|webhooks)(\/|$)/;

const CONTENT_TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json; charset=utf-8",
};

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

/** Vendor modules: URL name → package and the ES module file inside it. */
const VENDOR: Record<string, { pkg: string; file: string; specifier: string }> = {
  "preact.js": { pkg: "preact", file: "dist/preact.mjs", specifier: "preact" },
  "hooks.js": { pkg: "preact", file: "hooks/dist/hooks.mjs", specifier: "preact/hooks" },
  "htm.js": { pkg: "htm", file: "dist/htm.module.js", specifier: "htm" },
  // SGR colours of build logs as tokens (text and colour names), never HTML.
  "ansi.js": { pkg: "ansi-sequence-parser", file: "dist/index.js", specifier: "ansi-sequence-parser" },
};

/** The git providers' web addresses: the flag, else the API address without its API path, else the public site. */
export function providerWebUrls(config: Pick<Config, "githubWebUrl" | "gitlabWebUrl" | "githubApiUrl" | "gitlabApiUrl">): { github: string; gitlab: string } {
  const fromApi = (api: string, suffix: RegExp, fallback: string) => (suffix.test(api) ? api.replace(suffix, "") : fallback);
  return {
    github: config.githubWebUrl ?? fromApi(config.githubApiUrl, /\/api\/v3$/, "https://github.com"),
    gitlab: config.gitlabWebUrl ?? fromApi(config.gitlabApiUrl, /\/api\/v4$/, "https://gitlab.com"),
  };
}

const escapeAttribute = (text: string) => text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A package's folder under the nearest node_modules (packages may not export package.json). */
function packageDir(name: string): string {
  for (let dir = HERE; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "node_modules", name);
    if (fs.existsSync(path.join(candidate, "package.json"))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`dashboard: package ${name} not found (run npm ci)`);
  }
}

function staticFile(body: Buffer, type: string): StaticFile {
  return { body, type, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"` };
}

function loadAssets(): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const name of fs.readdirSync(ASSETS_DIR)) {
    const type = CONTENT_TYPES[path.extname(name)];
    if (!type || name === "index.html") continue;
    files.set(name, staticFile(fs.readFileSync(path.join(ASSETS_DIR, name)), type));
  }
  return files;
}

function loadVendor(): { files: Map<string, StaticFile & { version: string }>; imports: Record<string, string> } {
  const files = new Map<string, StaticFile & { version: string }>();
  const imports: Record<string, string> = {};
  for (const [name, v] of Object.entries(VENDOR)) {
    const dir = packageDir(v.pkg);
    const version = String((JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { version?: unknown }).version ?? "0");
    files.set(name, { ...staticFile(fs.readFileSync(path.join(dir, v.file)), CONTENT_TYPES[".js"] as string), version });
    imports[v.specifier] = `/vendor/${name}?v=${encodeURIComponent(version)}`;
  }
  return { files, imports };
}

/** index.html with the import map filled in, and the Content-Security-Policy allowing exactly that inline map. */
function renderIndex(imports: Record<string, string>, assets: Map<string, StaticFile>, settings: Record<string, unknown>): { html: StaticFile; csp: string } {
  const template = fs.readFileSync(path.join(ASSETS_DIR, "index.html"), "utf8");
  const map = JSON.stringify({ imports }, null, 2);
  // The app's entry and stylesheet carry their content hash, so a new deploy is picked up at once.
  const tag = (name: string) => encodeURIComponent(assets.get(name)?.etag.slice(1, 9) ?? "0");
  const html = template.replace("%IMPORT_MAP%", map).replaceAll("%APP_VERSION%", tag("app.js")).replaceAll("%CSS_VERSION%", tag("style.css"))
    .replace("%SETTINGS%", escapeAttribute(JSON.stringify(settings)));
  const scriptHash = createHash("sha256").update(map).digest("base64");
  const csp = [
    "default-src 'self'",
    `script-src 'self' 'sha256-${scriptHash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
  ].join("; ");
  return { html: staticFile(Buffer.from(html), CONTENT_TYPES[".html"] as string), csp };
}

function send(request: FastifyRequest, reply: FastifyReply, file: StaticFile, cacheControl: string): FastifyReply {
  void reply.header("etag", file.etag).header("cache-control", cacheControl).header("x-content-type-options", "nosniff");
  if (request.headers["if-none-match"] === file.etag) return reply.code(304).send();
  return reply.code(200).type(file.type).send(file.body);
}

/** The dashboard plugin for createApp's `plugins` (listed in cli/compose.ts). */
export async function dashboardRoutes(fastify: FastifyInstance, deps: AppDeps): Promise<void> {
  const assets = loadAssets();
  const vendor = loadVendor();
  const index = renderIndex(vendor.imports, assets, { providers: providerWebUrls(deps.config) });
  const missing = staticFile(Buffer.from(NOT_FOUND_PAGE), CONTENT_TYPES[".html"] as string);

  const page = async (request: FastifyRequest, reply: FastifyReply) => {
    void reply.header("content-security-policy", index.csp).header("referrer-policy", "no-referrer").header("x-frame-options", "DENY");
    return send(request, reply, index.html, "no-cache");
  };
  for (const url of DASHBOARD_PATHS) fastify.get(url, page);

  const unknown = (reply: FastifyReply) => reply.code(404).type("text/plain; charset=utf-8").header("cache-control", "no-store").send("not found\n");

  fastify.get<{ Params: { file: string } }>("/assets/:file", async (request, reply) => {
    // One flat folder: names never contain a slash, and only files read at start are served.
    const file = assets.get(request.params.file);
    return file ? send(request, reply, file, "no-cache") : unknown(reply);
  });

  fastify.get<{ Params: { file: string }; Querystring: { v?: string } }>("/vendor/:file", async (request, reply) => {
    const file = vendor.files.get(request.params.file);
    if (!file) return unknown(reply);
    // The versioned URL from the import map never changes content; anything else revalidates.
    const pinned = request.query.v === file.version;
    return send(request, reply, file, pinned ? "public, max-age=31536000, immutable" : "no-cache");
  });

  // Every other GET: a page for people, unless it is the API's or the webhooks' (their envelope,
  // 400 7003 or 405, comes from the app's not-found handler as before).
  fastify.get("/*", async (request, reply) => {
    const pathname = request.url.split("?")[0] ?? "";
    if (API_PATHS.test(pathname)) return reply.callNotFound();
    void reply
      .header("content-security-policy", "default-src 'none'; style-src 'self'; img-src data:; base-uri 'none'; frame-ancestors 'none'")
      .header("cache-control", "no-store")
      .header("x-content-type-options", "nosniff");
    return reply.code(404).type(missing.type).send(missing.body);
  });
}

/** The 404 page: static, no script, the dashboard's stylesheet. */
const NOT_FOUND_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Not found · Kiln</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/style.css">
</head>
<body>
<header class="top"><a class="brand" href="/"><span class="logo" aria-hidden="true">▲</span> Kiln</a></header>
<main class="narrow not-found">
<h1>404 · Page not found</h1>
<p>There is no page at this address. The dashboard is at <a href="/">/</a>; the API is under <code>/client/v4</code>.</p>
</main>
</body>
</html>
`;
