import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import rule from '../../rules/git-remote-credentials.js';
import { FAKE_GITHUB_TOKEN } from '../helpers/fake-secrets.js';

const TOKEN = FAKE_GITHUB_TOKEN;

ruleTester(rule, {
  valid: [
    {
      name: 'plain remotes, ssh remotes, a user name without password',
      tree: withAccounts([
        { path: '/srv/app/.git/config', content: '[remote "origin"]\n\turl = https://github.com/example/app.git\n' },
        { path: '/srv/lib/.git/config', content: '[remote "origin"]\n\turl = git@github.com:example/lib.git\n' },
        { path: '/srv/x/.git/config', content: '[remote "origin"]\n\turl = https://alice@git.example.org/x.git\n' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'password in a URL, a token as user name, a persisted checkout header (all redacted)',
      tree: withAccounts([
        { path: '/srv/app/.git/config', content: '[remote "origin"]\n\turl = https://deploy:hunter2pass@git.example.org/app.git\n' },
        { path: '/opt/tool/.git/config', content: `[remote "origin"]\n\turl = https://${TOKEN}@github.com/example/tool.git\n` },
        { path: '/root/src/.git/config', content: '[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hzX3NlY3JldA==\n' },
      ]),
      findings: [
        { path: '/srv/app/.git/config', evidence: ['https://deploy:', '@git.example.org/app.git'], absent: ['hunter2pass'] },
        { path: '/opt/tool/.git/config', absent: [TOKEN] },
        { path: '/root/src/.git/config', message: ['extraheader'], absent: ['eC1hY2Nlc3MtdG9rZW46Z2hzX3NlY3JldA=='] },
      ],
    },
  ],
});
