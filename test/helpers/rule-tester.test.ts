import { checkCases } from './rule-tester.js';

const tree = [{ path: '/etc/hostname', content: 'x\n' }];

describe('RuleTester refuses cases that cannot test anything', () => {
  test('an invalid case without expected findings', () => {
    expect(() => checkCases('r', { valid: [], invalid: [{ name: 'nothing expected', tree, findings: [] }] })).toThrow(
      "invalid case 'nothing expected' expects no finding",
    );
  });

  test('two cases with one name', () => {
    const c = { name: 'same', tree };
    expect(() => checkCases('r', { valid: [c, { ...c, tree: [] }], invalid: [] })).toThrow("duplicate valid case name 'same'");
  });

  test('two cases with the same tree, host and options, whatever their names', () => {
    expect(() =>
      checkCases('r', { valid: [{ name: 'a', tree }], invalid: [{ name: 'b', tree, findings: [{ path: '/etc/hostname' }] }] }),
    ).toThrow("invalid case 'b' repeats case 'a'");
  });

  test('distinct cases pass, including one tree under two hosts', () => {
    expect(() =>
      checkCases('r', {
        valid: [{ name: 'a', tree }, { name: 'b', tree, host: { user: 'bob' } }],
        invalid: [{ name: 'a', tree: [], findings: [{ path: '/' }] }],
      }),
    ).not.toThrow();
  });
});
