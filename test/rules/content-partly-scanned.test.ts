import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import contentPartlyScanned from '../../rules/content-partly-scanned.js';
import secretToken from '../../rules/secret-token.js';

const big = (first: string) => first + '\n' + 'x'.repeat(2 * 1024 * 1024);
const TOKEN = 'ghp_' + 'aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5';

ruleTester(contentPartlyScanned, {
  valid: [{ name: 'small text files, big binary types', tree: withAccounts([{ path: '/srv/a.txt', content: 'hi' }, { path: '/srv/disk.img', content: big('') }]) }],
  invalid: [
    {
      name: 'a 2 MiB .env is named, with what was searched',
      tree: withAccounts([{ path: '/srv/app/.env', content: big('A=1') }]),
      findings: [{ path: '/srv/app/.env', message: ['only its first 1 MiB was searched'] }],
    },
  ],
});

ruleTester(secretToken, {
  valid: [],
  invalid: [
    {
      name: 'a token on line 1 of a file above the content-scan limit is found',
      tree: withAccounts([{ path: '/srv/app/.env', content: big(`GITHUB_TOKEN=${TOKEN}`) }]),
      findings: [{ path: '/srv/app/.env', absent: [TOKEN] }],
    },
  ],
});
