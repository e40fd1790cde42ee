// Links from a build to its repository, commit and branch on its git provider. The web addresses
// come from the server (kiln serve --github-web-url / --gitlab-web-url, see routes.ts), so GitHub
// Enterprise and self-managed GitLab link to themselves.

const seg = (s) => encodeURIComponent(s);

/**
 * {repo, commit, branch} URLs for build_trigger_metadata `m`, given {github, gitlab} base URLs;
 * null when the provider or the repository is unknown. GitLab's paths carry its `/-/` separator;
 * a GitLab group path (`group/subgroup`) and a branch with slashes keep their slashes.
 */
export function linksFor(m, providers) {
  const base = m.provider_type === "github" ? providers?.github : m.provider_type === "gitlab" ? providers?.gitlab : undefined;
  if (!base || !m.provider_account_name || !m.repo_name) return null;
  const owner = m.provider_account_name.split("/").map(seg).join("/");
  const repo = `${base}/${owner}/${seg(m.repo_name)}`;
  const sep = m.provider_type === "gitlab" ? "/-" : "";
  return {
    repo,
    commit: m.commit_hash ? `${repo}${sep}/commit/${seg(m.commit_hash)}` : null,
    branch: m.branch ? `${repo}${sep}/tree/${m.branch.split("/").map(seg).join("/")}` : null,
  };
}
