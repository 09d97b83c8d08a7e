/**
 * The build host's identity as terms to look for inside an image. Generic names never count on their own: `root`,
 * `nixos`, `localhost`, a bare `runner`... would match every image. Neither does a name the image itself owns: when
 * the image has an account `alice`, `alice` and `/home/alice` in it are the image's, not the builder's.
 */
import type { Inventory } from '../../inventory.js';
import { normalizePath } from '../../inventory.js';
import type { HostIdentity } from '../../types.js';
import type { Accounts } from './image.js';
import { accountsOwningHome } from './homes.js';

/**
 * Names too common to be evidence on their own. CI service accounts (jenkins, gitlab-runner, buildkite-agent,
 * circleci, travis, vsts) are not on it: `--host-user jenkins` is exactly the identity a Jenkins build leaks, and
 * the regex below only matches a name as a path component or a login, never as a word in prose. (Their workspace
 * paths are found without any identity at all: BUILD_LOCATIONS.)
 */
export const GENERIC_USERS = new Set([
  'root', 'nixos', 'runner', 'nobody', 'admin', 'administrator', 'user', 'users', 'build', 'builder', 'nixbld',
  'ubuntu', 'debian', 'alpine', 'fedora', 'centos', 'ec2-user', 'vagrant', 'docker', 'ci', 'test', 'guest', 'daemon',
  'bin', 'sys', 'sync', 'www-data', 'pi', 'core', 'demo', 'default', 'sandbox', 'worker', 'agent', 'cloudtest',
]);

export const GENERIC_HOSTS = new Set([
  'localhost', 'localhost.localdomain', 'localdomain', 'ip6-localhost', 'nixos', 'runner', 'ubuntu', 'debian',
  'alpine', 'fedora', 'archlinux', 'raspberrypi', 'buildkitsandbox', 'docker-desktop', 'vm', 'host', 'default',
  'container', 'server', 'builder', 'build', 'demo', 'machine', 'computer', 'none', '(none)', 'linux', 'sandbox',
  'worker', 'test', 'example', 'example.com', 'local',
]);

/** Homes that say nothing about a builder. */
export const GENERIC_HOMES = new Set(['/', '/root', '/var/empty', '/nonexistent', '/homeless-shelter', '/tmp', '/build', '/home']);

const MIN_NAME = 3;

export interface HostTerm {
  kind: 'home' | 'user' | 'hostname';
  value: string;
  re: RegExp;
}

export interface HostTerms {
  terms: HostTerm[];
  /** Parts of the identity that were given but do not count, with the reason (for verbose output and tests). */
  ignored: string[];
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

export function hostTerms(host: HostIdentity, accounts: Accounts, inv: Inventory): HostTerms {
  const terms: HostTerm[] = [];
  const ignored: string[] = [];
  if (host.home && host.home.startsWith('/')) {
    const home = normalizePath(host.home);
    const r = inv.resolve(home);
    const owners = r.ok && accounts.known ? accountsOwningHome(inv, accounts, r.path) : [];
    if (GENERIC_HOMES.has(home)) ignored.push(`home ${home}: generic`);
    else if (owners.length > 0) ignored.push(`home ${home}: the home of account ${owners[0]!.name} in the image`);
    else terms.push({ kind: 'home', value: home, re: new RegExp(`(?<![A-Za-z0-9._-])${esc(home)}(?![A-Za-z0-9._-])`, 'g') });
  }
  if (host.user) {
    const u = host.user;
    if (GENERIC_USERS.has(u.toLowerCase()) || u.length < MIN_NAME) ignored.push(`user ${u}: generic or too short`);
    else if (accounts.userByName(u)) ignored.push(`user ${u}: an account of the image`);
    else
      terms.push({
        kind: 'user',
        value: u,
        // As a path component (/home/bob, ~bob) or a login (bob@host), not as a bare word in prose.
        re: new RegExp(`(?:(?<=[/~])${esc(u)}(?![A-Za-z0-9._-])|(?<![A-Za-z0-9._-])${esc(u)}(?=@))`, 'g'),
      });
  }
  if (host.name) {
    const names = new Set([host.name.toLowerCase(), host.name.toLowerCase().split('.')[0]!]);
    for (const n of names) {
      if (GENERIC_HOSTS.has(n) || n.length < MIN_NAME || /^[0-9.]+$/.test(n)) ignored.push(`hostname ${n}: generic or too short`);
      else terms.push({ kind: 'hostname', value: n, re: new RegExp(`(?<![A-Za-z0-9_-])${esc(n)}(?![A-Za-z0-9_-])`, 'gi') });
    }
  }
  return { terms, ignored };
}

export interface TermHit {
  term: HostTerm;
  index: number;
}

/** The first occurrence of any term in the text, and how many there are. */
export function matchTerms(text: string, terms: HostTerm[]): { first: TermHit; count: number } | null {
  let first: TermHit | null = null;
  let count = 0;
  for (const term of terms) {
    term.re.lastIndex = 0;
    for (const m of text.matchAll(term.re)) {
      count++;
      if (!first || (m.index ?? 0) < first.index) first = { term, index: m.index ?? 0 };
    }
  }
  return first ? { first, count } : null;
}

/**
 * Host names that never say which machine built an image, however exactly they match the builder's: loopback names
 * and the defaults distributions and installers give every machine. Much shorter than GENERIC_HOSTS: when the whole
 * name in /etc/hostname equals the builder's (`vm`, `ci-box`), that exact match is the evidence, however short.
 */
export const DEFAULT_HOSTNAMES = new Set([
  'localhost', 'localhost.localdomain', 'localhost4', 'localhost6', 'localhost6.localdomain6', 'ip6-localhost',
  'ip6-loopback', 'localdomain', '(none)', 'none', '', 'nixos', 'debian', 'ubuntu', 'fedora', 'alpine', 'archlinux',
  'raspberrypi', 'centos', 'rocky', 'almalinux', 'opensuse', 'localhost.local',
]);

/** Files where a machine's own name is written (build-hostname judges them; content scans leave them to it). */
export const HOSTNAME_FILES = new Set(['/etc/hostname', '/etc/hosts', '/etc/mailname', '/etc/HOSTNAME']);
