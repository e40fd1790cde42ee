import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { GitError } from "../../src/git/exec.ts";
import { Mirrors } from "../../src/git/mirror.ts";
import { cloneUrl, credentialEnv, expandTemplate, NoCloneUrlError, providerCredential, redactUrl } from "../../src/git/url.ts";

const repo = {
  provider_type: "github",
  provider_account_id: "315958746",
  provider_account_name: "acme",
  repo_id: "1029384756",
  repo_name: "my-app",
};

describe("clone URL", () => {
  it("expands every placeholder of the template", () => {
    assert.equal(
      expandTemplate("https://git.example/{provider_type}/{provider_account_id}/{provider_account_name}/{repo_id}/{repo_name}.git", repo),
      "https://git.example/github/315958746/acme/1029384756/my-app.git",
    );
  });

  it("URL-encodes each value, so a value cannot add segments or a query", () => {
    const url = expandTemplate("file:///srv/{provider_account_name}/{repo_name}.git", {
      ...repo,
      provider_account_name: "a b/../c",
      repo_name: "x?y#z&ü",
    });
    assert.equal(url, "file:///srv/a%20b%2F..%2Fc/x%3Fy%23z%26%C3%BC.git");
  });

  it("leaves unknown placeholders alone", () => {
    assert.equal(expandTemplate("https://h/{owner}/{repo_name}", repo), "https://h/{owner}/my-app");
  });

  it("defaults per provider when no template is configured", () => {
    assert.equal(cloneUrl(repo), "https://github.com/acme/my-app.git");
    assert.equal(cloneUrl({ ...repo, provider_type: "gitlab" }), "https://gitlab.com/acme/my-app.git");
    assert.throws(() => cloneUrl({ ...repo, provider_type: "gitlab_internal" }), NoCloneUrlError);
    assert.equal(cloneUrl({ ...repo, provider_type: "gitlab_internal" }, "https://git.corp/{repo_name}.git"), "https://git.corp/my-app.git");
  });

  it("the template wins over the default", () => {
    assert.equal(cloneUrl(repo, "file:///tmp/x/{repo_name}.git"), "file:///tmp/x/my-app.git");
  });

  it("redacts user info for logs", () => {
    assert.equal(redactUrl("https://user:secret@host/x.git"), "https://***@host/x.git");
    assert.equal(redactUrl("file:///tmp/x.git"), "file:///tmp/x.git");
  });
});

describe("credentials", () => {
  it("go into git's environment as a header scoped to the URL, never into the URL", () => {
    const url = "https://github.com/acme/my-app.git";
    const env = credentialEnv(url, providerCredential("github", "ghs_TOKEN"));
    assert.deepEqual(env, {
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: `http.${url}.extraHeader`,
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from("x-access-token:ghs_TOKEN").toString("base64")}`,
    });
    assert.equal(providerCredential("gitlab", "glpat").username, "oauth2");
    assert.deepEqual(credentialEnv(url, undefined), {});
  });

  describe("against an HTTP server", () => {
    let server: http.Server;
    let seen: { url: string; authorization: string | undefined }[];
    let base: string;
    let dir: string;
    before(async () => {
      seen = [];
      server = http.createServer((req, res) => {
        seen.push({ url: req.url ?? "", authorization: req.headers.authorization });
        res.statusCode = 404;
        res.end("no such repository");
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-mirrors-"));
    });
    after(() => {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("git sends the token as Authorization; it is in no URL and no error message", async () => {
      const mirrors = new Mirrors({ dir });
      const url = `${base}/acme/private.git`;
      await assert.rejects(mirrors.fetch(url, { credential: providerCredential("github", "TOKEN-123") }), (error: unknown) => {
        assert.ok(error instanceof GitError);
        assert.doesNotMatch(error.message, /TOKEN-123/);
        assert.doesNotMatch(error.stderr, /TOKEN-123/);
        return true;
      });
      assert.ok(seen.length > 0);
      const expected = `Basic ${Buffer.from("x-access-token:TOKEN-123").toString("base64")}`;
      assert.equal(seen[0]?.authorization, expected);
      assert.ok(seen.every((r) => !r.url.includes("TOKEN")));
      assert.match(seen[0]?.url ?? "", /^\/acme\/private\.git\/info\/refs/);
    });

    it("the header is not sent to another URL", async () => {
      seen.length = 0;
      const mirrors = new Mirrors({ dir, credentialFor: (u) => (u.endsWith("/acme/private.git") ? providerCredential("github", "T") : undefined) });
      await assert.rejects(mirrors.fetch(`${base}/acme/public.git`));
      assert.ok(seen.length > 0);
      assert.ok(seen.every((r) => r.authorization === undefined));
    });
  });
});
