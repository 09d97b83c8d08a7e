import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import secretToken from '../../rules/secret-token.js';
import {
  FAKE_AWS_KEY_ID, FAKE_AWS_SECRET, FAKE_GITHUB_TOKEN, FAKE_GITLAB_TOKEN, FAKE_KEY_BODY_LINES, FAKE_NPM_TOKEN,
  FAKE_OPENSSH_KEY, FAKE_PEM_KEY, FAKE_SLACK_TOKEN, FAKE_TOKENS, NEW_FAKE_TOKENS,
} from '../helpers/fake-secrets.js';

const X = (n: number, c = 'X') => c.repeat(n);

const ALL_SECRETS = [...FAKE_TOKENS, ...FAKE_KEY_BODY_LINES];

ruleTester(secretToken, {
  valid: [
    {
      name: 'AWS\'s documented example keys (src/engine/example-secrets.ts) anywhere, even in credential files',
      tree: withAccounts([
        { path: '/usr/share/doc/awscli/examples/configure.rst', content: 'aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n' },
        { path: '/root/.aws/credentials', content: '[default]\naws_access_key_id = AKIAI44QH8DHBEXAMPLE\naws_secret_access_key = je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\n' },
      ]),
    },
    {
      name: 'look-alikes, a placeholder in a binary file, and the store',
      tree: withAccounts([
        { path: '/etc/app.env', content: 'GITHUB_TOKEN=ghp_short\nAWS_ACCESS_KEY_ID=\nnpm_config_cache=/var/cache\n' },
        { path: '/srv/blob', contentBase64: Buffer.concat([Buffer.from([0]), Buffer.from(`ghp_${'x'.repeat(36)}`)]).toString('base64') },
        { path: '/nix/store/aaaa-x/env', content: `T=${FAKE_GITHUB_TOKEN}\n` },
        { path: '/etc/ssh/ssh_host_ed25519_key', content: FAKE_OPENSSH_KEY },
      ]),
    },
    {
      name: 'placeholders: one repeated character, EXAMPLE, templates, changeme-style words',
      tree: withAccounts([
        { path: '/root/.aws/credentials', content: `[default]\naws_access_key_id = AKIA${X(16)}\naws_secret_access_key = ${X(40)}\n` },
        { path: '/etc/app.env', content: `NPM_TOKEN=npm_${X(36)}\nGH=ghp_${X(36, 'x')}\nSTRIPE=sk_live_${X(24, '0')}\nHF=hf_${X(34, 'x')}\n` },
        { path: '/srv/README.md', content: `export OPENAI_API_KEY=sk-proj-${X(48, '*')}\nkey: AIzaSyEXAMPLEexampleEXAMPLE0123456789abc\n` },
      ]),
    },
    {
      name: 'a file that holds a private key is private-key\'s (one finding), tokens beside it included',
      tree: withAccounts([{ path: '/root/deploy.txt', content: `GITHUB_TOKEN=${FAKE_GITHUB_TOKEN}\n${FAKE_PEM_KEY}` }]),
    },
  ],
  invalid: [
    {
      name: 'issue 26 token formats, as each tool\'s config or an env file holds them',
      tree: withAccounts(NEW_FAKE_TOKENS.map((t, i) => ({ path: `/srv/app/conf${i}.env`, content: `# service\nKEY_${i}=${t}\n` }))),
      findings: NEW_FAKE_TOKENS.map((_, i) => ({ path: `/srv/app/conf${i}.env`, severity: 'error' as const, message: ['line 2'], absent: NEW_FAKE_TOKENS })),
    },
    {
      name: 'tokens in a history file and an env file, a key in a note',
      tree: withAccounts([
        { path: '/root/.bash_history', content: `ls\nexport GITHUB_TOKEN=${FAKE_GITHUB_TOKEN}\n` },
        { path: '/etc/app.env', content: `AWS_ACCESS_KEY_ID=${FAKE_AWS_KEY_ID}\nSLACK=${FAKE_SLACK_TOKEN}\n` },
      ]),
      findings: [
        { path: '/root/.bash_history', message: ['GitHub token', 'line 2'], evidence: ['ghp_…[40 chars'], absent: ALL_SECRETS },
        { path: '/etc/app.env', message: ['2 secrets', 'AWS access key id', 'Slack token'], absent: ALL_SECRETS },
      ],
    },
    {
      name: 'a token in a binary file: found in its printable strings, at the same severity',
      tree: withAccounts([{ path: '/srv/blob', contentBase64: Buffer.concat([Buffer.from([0, 1, 2, 0]), Buffer.from(`token=${FAKE_GITHUB_TOKEN}`), Buffer.from([0])]).toString('base64') }]),
      findings: [{ path: '/srv/blob', severity: 'error', message: ['GitHub token', 'in its printable strings'], evidence: ['GitHub token ghp_…[40 chars'], absent: FAKE_TOKENS }],
    },
    {
      name: 'store files with the store scan on, marked world-readable',
      options: { scanStore: true },
      tree: withAccounts([{ path: '/nix/store/aaaa-x/env', content: `T=${FAKE_GITHUB_TOKEN}\n` }]),
      findings: [{ path: '/nix/store/aaaa-x/env', message: ['world-readable'], absent: FAKE_TOKENS }],
    },
  ],
});
