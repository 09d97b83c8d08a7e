import { readFileSync } from 'node:fs';
import { excerpt, redact, redactIn } from '../../../src/engine/kit/redact.js';
import { findPrivateKeys, findTokens, redactSecrets, describeKey } from '../../../src/engine/kit/secrets.js';
import { BUILD_LOCATIONS, buildPathPrefix, findBuildPaths } from '../../../src/engine/kit/buildpaths.js';
import {
  FAKE_AWS_KEY_ID, FAKE_AWS_SECRET, FAKE_GITHUB_TOKEN, FAKE_GITLAB_TOKEN, FAKE_KEY_BODY_LINES, FAKE_NPM_TOKEN,
  FAKE_OPENSSH_KEY, FAKE_PEM_KEY, FAKE_SLACK_TOKEN,
} from '../../helpers/fake-secrets.js';

describe('redact', () => {
  it('keeps a few leading characters, the length and a short hash, never the value', () => {
    const r = redact(FAKE_GITHUB_TOKEN);
    expect(r).toMatch(/^ghp_…\[40 chars, sha256:[0-9a-f]{8}\]$/);
    expect(r).not.toContain(FAKE_GITHUB_TOKEN);
    expect(redact(FAKE_GITHUB_TOKEN)).toBe(r); // stable
    expect(redact(FAKE_NPM_TOKEN)).not.toBe(redact(FAKE_GITHUB_TOKEN));
  });
  it('hides at least three quarters of short values', () => {
    expect(redact('hunter2')).toMatch(/^h…\[7 chars/);
    expect(redact('abc')).toMatch(/^…\[3 chars/);
  });
  it('redacts values inside text, longest first', () => {
    const out = redactIn(`token=${FAKE_GITHUB_TOKEN} again ${FAKE_GITHUB_TOKEN}`, [FAKE_GITHUB_TOKEN, 'ghp_FAKE']);
    expect(out).not.toContain(FAKE_GITHUB_TOKEN);
    expect(out.match(/40 chars/g)).toHaveLength(2);
  });
  it('excerpts long lines around a position and cleans control characters', () => {
    const line = 'x'.repeat(300) + 'NEEDLE' + 'y'.repeat(300);
    const e = excerpt(line, 300, 60);
    expect(e).toContain('NEEDLE');
    expect(e.startsWith('…') && e.endsWith('…')).toBe(true);
    expect(excerpt('a\u0001b')).toBe('a?b');
  });
});

describe('secrets', () => {
  it('finds every well-known token format', () => {
    const text = [
      `AWS_ACCESS_KEY_ID=${FAKE_AWS_KEY_ID}`,
      `aws_secret_access_key = ${FAKE_AWS_SECRET}`,
      `export GITHUB_TOKEN=${FAKE_GITHUB_TOKEN}`,
      `gitlab: ${FAKE_GITLAB_TOKEN}`,
      `slack "${FAKE_SLACK_TOKEN}"`,
      `//registry.npmjs.org/:_authToken=${FAKE_NPM_TOKEN}`,
    ].join('\n');
    expect(findTokens(text).map((h) => h.kind.id)).toEqual([
      'aws-access-key-id', 'aws-secret-access-key', 'github-token', 'gitlab-token', 'slack-token', 'npm-token',
    ]);
  });
  it('ignores look-alikes: inside longer words, too short, lower-case AWS ids', () => {
    const text = 'XAKIAIOSFODNN7EXAMPLEX ghp_short akiaiosfodnn7example npm_install glpat-short ghp_FAKEfakeFAKEfake0123456789abcdefABCD_x';
    expect(findTokens(text)).toEqual([]);
  });
  it('redacts tokens and key body lines in evidence but keeps paths readable', () => {
    const line = `cp /nix/store/0c2wnk6v6dn3ah1ii2mkmzyc8zm1q4ps-etc/etc/x /build/source ${FAKE_GITHUB_TOKEN} ${FAKE_KEY_BODY_LINES[0]}`;
    const out = redactSecrets(line);
    expect(out).toContain('/nix/store/0c2wnk6v6dn3ah1ii2mkmzyc8zm1q4ps-etc/etc/x /build/source');
    expect(out).not.toContain(FAKE_GITHUB_TOKEN);
    expect(out).not.toContain(FAKE_KEY_BODY_LINES[0]);
  });
  it('finds OpenSSH and PEM private keys with material, not bare headers', () => {
    const keys = findPrivateKeys(`junk\n${FAKE_OPENSSH_KEY}\nmore\n${FAKE_PEM_KEY}`);
    expect(keys.map((k) => [k.label, k.encrypted])).toEqual([
      ['OPENSSH PRIVATE KEY', false],
      ['PRIVATE KEY', false],
    ]);
    expect(findPrivateKeys('if line == "-----BEGIN RSA PRIVATE KEY-----":\n    parse(line)\n')).toEqual([]);
    expect(findPrivateKeys('-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n')).toEqual([]);
    const ev = describeKey(keys[0]!);
    for (const l of FAKE_KEY_BODY_LINES) expect(ev).not.toContain(l);
  });
  it('notices encrypted PEM keys', () => {
    const enc = FAKE_PEM_KEY.replace('PRIVATE KEY-----\n', 'PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n');
    expect(findPrivateKeys(enc)[0]!.encrypted).toBe(true);
  });
});

describe('build paths', () => {
  it('finds build-time paths where a path starts', () => {
    const text = 'ExecStart=/build/source/bin/x\nPATH=/usr/bin:/tmp/nix-build-hello-1.drv-0/bin\nHOME=/homeless-shelter\ncd /github/workspace && ls /builds/group/project';
    expect(findBuildPaths(text).map((h) => h.prefix)).toEqual(['/build/', '/tmp/nix-build-', '/homeless-shelter', '/github/workspace', '/builds/']);
  });
  it('ignores the same words inside longer paths and URLs', () => {
    const text = '/usr/src/linux/build/x https://example.org/builds/1 /opt/homeless-shelters /srv/build/ ~/build/x /tmp/state-dir';
    expect(findBuildPaths(text)).toEqual([]);
  });
  it('knows every major CI workspace, each with a documented source', () => {
    const text = [
      'cd /home/runner/work/app/app', 'WORKDIR=/__w/app/app', 'X=/var/lib/jenkins/workspace/job', 'Y=/home/jenkins/workspace/job',
      'Z=/var/jenkins_home/workspace/job', 'A=/home/vsts/work/1/s', 'B=/azp/_work/1/s', 'C=/agent/_work/1/s', 'D=/home/circleci/project/x',
      'E=/root/project', 'F=/home/travis/build/o/r', 'G=/opt/atlassian/pipelines/agent/build/x', 'H=/drone/src/x', 'I=/woodpecker/src/x',
      'J=/opt/buildagent/work/abc', 'K=/home/buildagent/x', 'L=/var/lib/buildkite-agent/builds/a/b', 'M=/home/jenkins/agent/workspace/j',
    ].join('\n');
    expect(findBuildPaths(text).map((h) => h.prefix)).toEqual([
      '/home/runner/work/', '/__w/', '/var/lib/jenkins/workspace', '/home/jenkins/workspace', '/var/jenkins_home/workspace',
      '/home/vsts/work/', '/azp/_work', '/agent/_work', '/home/circleci/project', '/root/project', '/home/travis/build/',
      '/opt/atlassian/pipelines/agent/build', '/drone/src', '/woodpecker/src', '/opt/buildagent/work', '/home/buildagent',
      '/var/lib/buildkite-agent/builds', '/home/jenkins/agent/workspace',
    ]);
    // docs/rules/build-path-reference.md lists every location with its source, row for row.
    const doc = readFileSync('docs/rules/build-path-reference.md', 'utf8');
    for (const l of BUILD_LOCATIONS) {
      expect(l.source).toMatch(/^https:\/\//);
      expect(doc).toContain(`| \`${l.prefix}\` | ${l.by} | ${l.source} |`);
    }
    // Near misses: a longer name, a path that merely contains the words.
    expect(findBuildPaths('/root/projects /home/jenkins/workspaces /srv/drone/src /var/lib/jenkins/plugins /drone/srcx')).toEqual([]);
  });
  it('classifies symlink targets', () => {
    expect(buildPathPrefix('/build/source/result')).toBe('/build/');
    expect(buildPathPrefix('/homeless-shelter/.nix-defexpr')).toBe('/homeless-shelter');
    expect(buildPathPrefix('/homeless-shelterx')).toBeNull();
    expect(buildPathPrefix('/tmp/nix-build-foo/x')).toBe('/tmp/nix-build-');
    expect(buildPathPrefix('/nix/store/abc')).toBeNull();
  });
});
