/**
 * Where a repository is cloned from (`--git-url-template`) and how a private
 * repository's token reaches git: through git's environment (GIT_CONFIG_COUNT/KEY/VALUE →
 * `http.<url>.extraHeader`), never in a URL, an argv, a log line or an answer.
 */

/** The fields of a repository connection the template may use. */
export interface RepoCoordinates {
  provider_type: string;
  provider_account_id: string;
  provider_account_name: string;
  repo_id: string;
  repo_name: string;
}

export const TEMPLATE_FIELDS = ["provider_type", "provider_account_id", "provider_account_name", "repo_id", "repo_name"] as const;

/** Clone URL templates used when --git-url-template is not set. */
export const DEFAULT_TEMPLATES: Readonly<Record<string, string>> = {
  github: "https://github.com/{provider_account_name}/{repo_name}.git",
  gitlab: "https://gitlab.com/{provider_account_name}/{repo_name}.git",
};

export class NoCloneUrlError extends Error {
  constructor(providerType: string) {
    super(`no clone URL for provider "${providerType}": set --git-url-template (or KILN_GIT_URL_TEMPLATE)`);
    this.name = "NoCloneUrlError";
  }
}

/**
 * Expands `{field}` placeholders; each value is URL-encoded (encodeURIComponent), so a value
 * cannot add path segments or a query. Unknown placeholders are left as they are.
 */
export function expandTemplate(template: string, repo: RepoCoordinates): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    (TEMPLATE_FIELDS as readonly string[]).includes(name) ? encodeURIComponent(repo[name as keyof RepoCoordinates]) : whole,
  );
}

/** The clone URL of a repository: the configured template, else the provider's default. Throws NoCloneUrlError. */
export function cloneUrl(repo: RepoCoordinates, template?: string): string {
  const chosen = template ?? DEFAULT_TEMPLATES[repo.provider_type];
  if (chosen === undefined) throw new NoCloneUrlError(repo.provider_type);
  return expandTemplate(chosen, repo);
}

/** A token for HTTPS git access, sent as HTTP Basic credentials. */
export interface GitCredential {
  username: string;
  token: string;
}

/**
 * The Basic-auth user name each provider accepts next to an access token: GitHub takes
 * `x-access-token` (installation and personal tokens), GitLab `oauth2` (OAuth and personal tokens).
 */
export function providerCredential(providerType: string, token: string): GitCredential {
  return { username: providerType === "github" ? "x-access-token" : "oauth2", token };
}

/**
 * git's environment carrying the credential as an `Authorization` header scoped to `url`
 * (git only sends it to URLs under that prefix). Empty without a credential.
 */
export function credentialEnv(url: string, credential: GitCredential | undefined): Record<string, string> {
  if (!credential) return {};
  const basic = Buffer.from(`${credential.username}:${credential.token}`, "utf8").toString("base64");
  return {
    GIT_CONFIG_COUNT: "1",
    GIT_CONFIG_KEY_0: `http.${url}.extraHeader`,
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
  };
}

/** A URL fit for logs and error messages: user info (user:password@) replaced by `***@`. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1***@");
}
