import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import rule from '../../rules/language-cache.js';

ruleTester(rule, {
  valid: [
    {
      name: 'empty cache folders, a cache outside any home, npm config without a cache',
      tree: withAccounts([
        { path: '/root/.npm/_cacache', type: 'dir' },
        { path: '/root/.cache/pip/http', type: 'dir' },
        { path: '/home/alice/.npmrc', content: 'fund=false\n' },
        { path: '/srv/app/.m2/repository/x.jar', content: 'PK' },
      ]),
    },
  ],
  invalid: [
    {
      name: "npm's cache and logs, pip, Go, Maven and Gradle caches in root's and a user's home",
      tree: withAccounts([
        { path: '/root/.npm/_cacache/index-v5/ab/cd/0123', content: '{"key":"make-fetch-happen:request-cache:https://registry.npmjs.org/once"}' },
        { path: '/root/.npm/_logs/2026-01-01T00_00_00_000Z-debug-0.log', content: '0 verbose cli /usr/bin/node /usr/bin/npm\n' },
        { path: '/root/.cache/pip/http-v2/a/b/c', content: 'wheel' },
        { path: '/root/go/pkg/mod/cache/download/golang.org/x/example/@v/list', content: 'v0.0.0\n' },
        { path: '/home/alice/.m2/repository/org/slf4j/slf4j-api/2.0.13/slf4j-api-2.0.13.jar', content: 'PK\x03\x04' },
        { path: '/home/alice/.gradle/caches/modules-2/files-2.1/x/y.jar', content: 'PK\x03\x04' },
      ]),
      findings: [
        { path: '/root/.npm/_cacache', message: ["npm's download cache", '1 file'] },
        { path: '/root/.npm/_logs', message: ["npm's debug logs"], evidence: ['debug-0.log'] },
        { path: '/root/.cache/pip', message: ['pip'] },
        { path: '/root/go/pkg/mod', message: ["Go's module cache"] },
        { path: '/home/alice/.m2/repository', message: ['Maven'] },
        { path: '/home/alice/.gradle/caches', message: ['Gradle'] },
      ],
    },
  ],
});
