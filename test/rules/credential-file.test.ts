import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import credentialFile from '../../rules/credential-file.js';
import {
  FAKE_AWS_KEY_ID, FAKE_AWS_SECRET, FAKE_GITHUB_TOKEN, FAKE_GITLAB_TOKEN, FAKE_KEY_BODY_LINES, FAKE_NPM_TOKEN,
  FAKE_OPENSSH_KEY, FAKE_PEM_KEY, FAKE_SLACK_TOKEN, FAKE_TOKENS,
} from '../helpers/fake-secrets.js';

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
