import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import privateKey from '../../rules/private-key.js';
import credentialFile from '../../rules/credential-file.js';
import secretToken from '../../rules/secret-token.js';
import {
  FAKE_AWS_KEY_ID, FAKE_AWS_SECRET, FAKE_GITHUB_TOKEN, FAKE_GITLAB_TOKEN, FAKE_KEY_BODY_LINES, FAKE_NPM_TOKEN,
  FAKE_OPENSSH_KEY, FAKE_PEM_KEY, FAKE_SLACK_TOKEN, FAKE_TOKENS,
} from '../helpers/fake-secrets.js';

const ALL_SECRETS = [...FAKE_TOKENS, ...FAKE_KEY_BODY_LINES];

ruleTester(privateKey, {
  valid: [
    {
      name: 'public keys, headers in code, SSH host keys (their own rule)',
      tree: withAccounts([
        { path: '/root/.ssh/id_ed25519.pub', content: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGs9MoRabvp5RR5mfu96CSbFzwPn1 x\n' },
        { path: '/usr/lib/python3/pem.py', content: 'BEGIN = "-----BEGIN RSA PRIVATE KEY-----"\nEND = "-----END RSA PRIVATE KEY-----"\n' },
        { path: '/etc/ssh/ssh_host_ed25519_key', content: FAKE_OPENSSH_KEY },
        { path: '/etc/ssl/cert.pem', content: '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUB8eJ0pq3XvQ1E8YkL6m1ZsJ3bXUwCgYIKoZIzj0EAwIw\n-----END CERTIFICATE-----\n' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'keys in a home, a binary blob, and in the store (named like a key, store scan off)',
      tree: withAccounts([
        { path: '/root/.ssh/id_ed25519', content: FAKE_OPENSSH_KEY, mode: '0600' },
        { path: '/srv/bundle.bin.dat', contentBase64: Buffer.concat([Buffer.from([0, 1, 2, 0]), Buffer.from(FAKE_PEM_KEY)]).toString('base64') },
        { path: '/nix/store/aaaa-secrets/server.key', content: FAKE_PEM_KEY },
        { path: '/nix/store/bbbb-docs/share/readme', content: FAKE_PEM_KEY },
      ]),
      findings: [
        { path: '/root/.ssh/id_ed25519', message: ['OPENSSH PRIVATE KEY'], absent: ALL_SECRETS },
        { path: '/srv/bundle.bin.dat', absent: ALL_SECRETS },
        { path: '/nix/store/aaaa-secrets/server.key', severity: 'error', message: ['in /nix/store'], absent: ALL_SECRETS },
      ],
    },
    {
      name: 'with the store scan on, any store file',
      options: { scanStore: true },
      tree: withAccounts([{ path: '/nix/store/bbbb-docs/share/readme', content: FAKE_PEM_KEY }]),
      findings: [{ path: '/nix/store/bbbb-docs/share/readme', absent: ALL_SECRETS }],
    },
  ],
});

ruleTester(credentialFile, {
  valid: [
    {
      name: 'AWS\'s documented example keys (src/engine/example-secrets.ts) anywhere, even in credential files',
      tree: withAccounts([
        { path: '/usr/share/doc/awscli/examples/configure.rst', content: 'aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n' },
        { path: '/root/.aws/credentials', content: '[default]\naws_access_key_id = AKIAI44QH8DHBEXAMPLE\naws_secret_access_key = je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\n' },
      ]),
    },
    {
      name: 'credential files without secrets',
      tree: withAccounts([
        { path: '/root/.npmrc', content: 'registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n' },
        { path: '/root/.docker/config.json', content: '{"credsStore":"pass","auths":{"ghcr.io":{}}}' },
        { path: '/etc/nix/nix.conf', content: 'experimental-features = nix-command flakes\naccess-tokens =\n' },
        { path: '/root/.pypirc', content: '[distutils]\nindex-servers = pypi\n[pypi]\nusername = __token__\n' },
        { path: '/root/.kube/config', content: 'users:\n- name: x\n  user:\n    exec:\n      command: aws\n' },
        { path: '/root/.netrc', content: '' },
        { path: '/srv/app/config', content: 'token: abc\n' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'every credential file family',
      tree: withAccounts([
        { path: '/root/.netrc', content: 'machine github.com login bob password s3cr3t-netrc-pass\n' },
        { path: '/root/.git-credentials', content: `https://bob:${FAKE_GITHUB_TOKEN}@github.com\n` },
        { path: '/root/.aws/credentials', content: `[default]\naws_access_key_id = ${FAKE_AWS_KEY_ID}\naws_secret_access_key = ${FAKE_AWS_SECRET}\n` },
        { path: '/root/.docker/config.json', content: JSON.stringify({ auths: { 'ghcr.io': { auth: Buffer.from('bob:docker-pass-123').toString('base64') } } }) },
        { path: '/home/alice/.npmrc', content: `//registry.npmjs.org/:_authToken=${FAKE_NPM_TOKEN}\n` },
        { path: '/root/.pypirc', content: '[pypi]\nusername = __token__\npassword = pypi-FAKEfakeFAKEfake\n' },
        { path: '/etc/nix/nix.conf', content: `access-tokens = github.com=${FAKE_GITHUB_TOKEN}\n` },
        { path: '/root/.config/gh/hosts.yml', content: `github.com:\n    oauth_token: ${FAKE_GITHUB_TOKEN}\n    user: bob\n` },
        { path: '/root/.kube/config', content: `users:\n- name: x\n  user:\n    token: ${FAKE_GITLAB_TOKEN}\n` },
      ]),
      findings: [
        { path: '/root/.netrc', message: ['password for github.com'], absent: ['s3cr3t-netrc-pass'] },
        { path: '/root/.git-credentials', absent: FAKE_TOKENS },
        { path: '/root/.aws/credentials', message: ['aws_secret_access_key'], absent: FAKE_TOKENS },
        { path: '/root/.docker/config.json', message: ['ghcr.io'], absent: [Buffer.from('bob:docker-pass-123').toString('base64')] },
        { path: '/home/alice/.npmrc', absent: FAKE_TOKENS },
        { path: '/root/.pypirc', absent: ['pypi-FAKEfakeFAKEfake'] },
        { path: '/etc/nix/nix.conf', message: ['access-tokens'], absent: FAKE_TOKENS },
        { path: '/root/.config/gh/hosts.yml', absent: FAKE_TOKENS },
        { path: '/root/.kube/config', absent: FAKE_TOKENS },
      ],
    },
  ],
});

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
      name: 'look-alikes, binary files and the store',
      tree: withAccounts([
        { path: '/etc/app.env', content: 'GITHUB_TOKEN=ghp_short\nAWS_ACCESS_KEY_ID=\nnpm_config_cache=/var/cache\n' },
        { path: '/srv/blob', contentBase64: Buffer.concat([Buffer.from([0]), Buffer.from(FAKE_GITHUB_TOKEN)]).toString('base64') },
        { path: '/nix/store/aaaa-x/env', content: `T=${FAKE_GITHUB_TOKEN}\n` },
        { path: '/etc/ssh/ssh_host_ed25519_key', content: FAKE_OPENSSH_KEY },
      ]),
    },
  ],
  invalid: [
    {
      name: 'tokens in a history file and an env file, a key in a note',
      tree: withAccounts([
        { path: '/root/.bash_history', content: `ls\nexport GITHUB_TOKEN=${FAKE_GITHUB_TOKEN}\n` },
        { path: '/etc/app.env', content: `AWS_ACCESS_KEY_ID=${FAKE_AWS_KEY_ID}\nSLACK=${FAKE_SLACK_TOKEN}\n` },
        { path: '/root/notes.txt', content: `deploy key:\n${FAKE_PEM_KEY}` },
      ]),
      findings: [
        { path: '/root/.bash_history', message: ['GitHub token', 'line 2'], evidence: ['ghp_…[40 chars'], absent: ALL_SECRETS },
        { path: '/etc/app.env', message: ['2 secrets', 'AWS access key id', 'Slack token'], absent: ALL_SECRETS },
        { path: '/root/notes.txt', message: ['private key'], absent: ALL_SECRETS },
      ],
    },
    {
      name: 'store files with the store scan on, marked world-readable',
      options: { scanStore: true },
      tree: withAccounts([{ path: '/nix/store/aaaa-x/env', content: `T=${FAKE_GITHUB_TOKEN}\n` }]),
      findings: [{ path: '/nix/store/aaaa-x/env', message: ['world-readable'], absent: FAKE_TOKENS }],
    },
  ],
});
