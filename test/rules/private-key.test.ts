import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import privateKey from '../../rules/private-key.js';
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
      name: 'a key and a token in one file: one finding with both kinds of evidence; a GCP service-account JSON',
      tree: withAccounts([
        { path: '/root/deploy.txt', content: `GITHUB_TOKEN=${FAKE_GITHUB_TOKEN}\n${FAKE_PEM_KEY}` },
        {
          path: '/opt/app/sa.json',
          content: JSON.stringify({ type: 'service_account', project_id: 'hostleak-tests', private_key_id: 'f00', private_key: FAKE_PEM_KEY, client_email: 'a@hostleak-tests.iam.gserviceaccount.com' }, null, 2),
        },
      ]),
      findings: [
        { path: '/root/deploy.txt', severity: 'error', message: ['PRIVATE KEY', 'a token (GitHub token)'], evidence: ['-----BEGIN PRIVATE KEY-----', 'GitHub token ghp_…'], absent: ALL_SECRETS },
        { path: '/opt/app/sa.json', severity: 'error', message: ['PRIVATE KEY'], absent: ALL_SECRETS },
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
