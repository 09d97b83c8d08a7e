/** Paths that exist only while an image is being built: Nix sandboxes, the build VM's state, CI workspaces. */

/**
 * Where builders and CI systems put their working copies, each with the documentation that says so. These are
 * found whoever the builder was: no `--host-home`/`--host-user` is needed, and a generic CI account name does not
 * hide them. docs/rules/build-path-reference.md lists the same table (a test keeps the two in step).
 */
export interface BuildLocation {
  /** A path prefix; one ending in `/` needs something after it, others end a path component. */
  prefix: string;
  /** The builder or CI system that uses it. */
  by: string;
  /** The page documenting it. */
  source: string;
}

export const BUILD_LOCATIONS: readonly BuildLocation[] = [
  { prefix: '/build/', by: 'Nix sandbox (sandbox-build-dir), Debian sbuild/pbuilder', source: 'https://nix.dev/manual/nix/stable/command-ref/conf-file.html#conf-sandbox-build-dir' },
  { prefix: '/tmp/nix-build-', by: 'Nix build directory without a sandbox', source: 'https://nix.dev/manual/nix/stable/command-ref/conf-file.html#conf-build-dir' },
  { prefix: '/private/tmp/nix-build-', by: 'Nix build directory on macOS', source: 'https://nix.dev/manual/nix/stable/command-ref/conf-file.html#conf-build-dir' },
  { prefix: '/homeless-shelter', by: 'Nix sandbox $HOME', source: 'https://github.com/NixOS/nixpkgs/issues/83207' },
  { prefix: '/tmp/state/', by: 'disko / NixOS image build VM state', source: 'https://github.com/nix-community/disko' },
  { prefix: '/home/runner/work/', by: 'GitHub Actions (GITHUB_WORKSPACE on hosted runners)', source: 'https://docs.github.com/en/actions/reference/workflows-and-actions/variables' },
  { prefix: '/__w/', by: 'GitHub Actions and Azure Pipelines container jobs (work folder mounted in the job container)', source: 'https://github.com/actions/runner/blob/main/src/Runner.Worker/Container/ContainerInfo.cs' },
  { prefix: '/github/workspace', by: 'GitHub Actions Docker container actions (working directory)', source: 'https://docs.github.com/en/actions/sharing-automations/creating-actions/dockerfile-support-for-github-actions' },
  { prefix: '/builds/', by: 'GitLab CI (CI_BUILDS_DIR of the Docker/Kubernetes executors)', source: 'https://docs.gitlab.com/runner/configuration/advanced-configuration/' },
  { prefix: '/var/lib/jenkins/workspace', by: 'Jenkins (JENKINS_HOME of the Debian/RPM packages)/workspace', source: 'https://www.jenkins.io/doc/book/managing/system-configuration/' },
  { prefix: '/var/jenkins_home/workspace', by: 'Jenkins (JENKINS_HOME of the jenkins/jenkins container)/workspace', source: 'https://github.com/jenkinsci/docker/blob/master/README.md' },
  { prefix: '/home/jenkins/workspace', by: 'Jenkins agents (remote root /home/jenkins)', source: 'https://www.jenkins.io/doc/book/using/using-agents/' },
  { prefix: '/home/jenkins/agent/workspace', by: 'Jenkins agents (jenkins/agent, Kubernetes plugin workingDir)', source: 'https://github.com/jenkinsci/docker-agent/blob/master/README_agent.md' },
  { prefix: '/home/vsts/work/', by: 'Azure Pipelines Microsoft-hosted agents (Agent.BuildDirectory)', source: 'https://learn.microsoft.com/azure/devops/pipelines/build/variables' },
  { prefix: '/azp/_work', by: 'Azure Pipelines self-hosted agent in Docker (AZP_WORK)', source: 'https://learn.microsoft.com/azure/devops/pipelines/agents/docker' },
  { prefix: '/agent/_work', by: 'Azure Pipelines self-hosted agent installed at /agent (_work is the default work folder)', source: 'https://learn.microsoft.com/azure/devops/pipelines/agents/linux-agent' },
  { prefix: '/home/circleci/project', by: 'CircleCI (working_directory ~/project as user circleci)', source: 'https://circleci.com/docs/reference/configuration-reference/' },
  { prefix: '/root/project', by: 'CircleCI (working_directory ~/project as root)', source: 'https://circleci.com/docs/reference/configuration-reference/' },
  { prefix: '/home/travis/build/', by: 'Travis CI (TRAVIS_BUILD_DIR)', source: 'https://docs.travis-ci.com/user/environment-variables/' },
  { prefix: '/opt/atlassian/pipelines/agent/build', by: 'Bitbucket Pipelines (BITBUCKET_CLONE_DIR)', source: 'https://support.atlassian.com/bitbucket-cloud/docs/variables-and-secrets/' },
  { prefix: '/drone/src', by: 'Drone (default workspace)', source: 'https://docs.drone.io/pipeline/docker/syntax/workspace/' },
  { prefix: '/woodpecker/src', by: 'Woodpecker CI (default workspace)', source: 'https://woodpecker-ci.org/docs/usage/workflow-syntax#workspace' },
  { prefix: '/opt/buildagent/work', by: 'TeamCity agent container (jetbrains/teamcity-agent work directory)', source: 'https://www.jetbrains.com/help/teamcity/agent-work-directory.html' },
  { prefix: '/opt/buildAgent/work', by: 'TeamCity agent installed at /opt/buildAgent (work directory)', source: 'https://www.jetbrains.com/help/teamcity/agent-work-directory.html' },
  { prefix: '/home/buildagent', by: 'TeamCity agent container (home of the buildagent user)', source: 'https://hub.docker.com/r/jetbrains/teamcity-agent' },
  { prefix: '/var/lib/buildkite-agent/builds', by: 'Buildkite (build-path of the Linux packages)', source: 'https://buildkite.com/docs/agent/v3/configuration' },
  { prefix: '/buildkite/builds', by: 'Buildkite agent container (build-path)', source: 'https://buildkite.com/docs/agent/v3/docker' },
];

/** Prefixes naming a build-time location. Those ending in `/` need something after them. */
export const BUILD_PATH_PREFIXES: readonly string[] = BUILD_LOCATIONS.map((l) => l.prefix);

/** Who uses a build prefix ("Jenkins ..."), for messages. */
export function buildLocationOf(prefix: string): BuildLocation | undefined {
  return BUILD_LOCATIONS.find((l) => l.prefix === prefix);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * A build path where a path starts: not inside a longer path or URL (`/usr/src/build/`, `https://x/builds/`), and
 * for prefixes without a trailing slash, not followed by more of a name (`/homeless-shelters`).
 */
const BUILD_PATH_RE = new RegExp(
  '(?<![A-Za-z0-9._~+@%/-])(' +
    BUILD_PATH_PREFIXES.map((p) => escape(p) + (p.endsWith('/') || p.endsWith('-') ? '' : '(?![A-Za-z0-9._-])')).join('|') +
    ')',
  'g',
);

export interface BuildPathHit {
  prefix: string;
  index: number;
}

export function findBuildPaths(text: string): BuildPathHit[] {
  const out: BuildPathHit[] = [];
  BUILD_PATH_RE.lastIndex = 0;
  for (const m of text.matchAll(BUILD_PATH_RE)) out.push({ prefix: m[1]!, index: m.index ?? 0 });
  return out;
}

/** The build prefix an absolute path (a symlink target) starts with, or null. */
export function buildPathPrefix(p: string): string | null {
  for (const pre of BUILD_PATH_PREFIXES) {
    if (pre.endsWith('/') ? p.startsWith(pre) || p === pre.slice(0, -1) : p === pre || p.startsWith(pre + (pre.endsWith('-') ? '' : '/'))) {
      return pre;
    }
  }
  return null;
}
