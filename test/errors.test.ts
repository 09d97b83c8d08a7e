import {
  BaselineError,
  ConfigError,
  DuplicateRuleError,
  oneLine,
  ReportFileError,
  RequestError,
  RuleLoadError,
  TargetError,
  UsageError,
} from '../src/errors.js';
import { EXIT_INCOMPLETE, EXIT_USAGE, exitCodeOf } from '../src/exit.js';
import { CorruptImageError, UnsupportedImageError } from '../src/backends/native/source.js';

describe('the error model', () => {
  test.each([UsageError, ConfigError, RuleLoadError, BaselineError, DuplicateRuleError, ReportFileError, RequestError])(
    '%p is a usage error: exit 2',
    (E) => {
      expect(exitCodeOf(new E('x'))).toBe(EXIT_USAGE);
    },
  );

  test.each([TargetError, CorruptImageError, UnsupportedImageError])('%p is a target error: exit 3', (E) => {
    const e = new E('x');
    expect(e.kind).toBe('target');
    expect(exitCodeOf(e)).toBe(EXIT_INCOMPLETE);
  });

  test('anything else is an internal error: exit 3, never a clean exit', () => {
    expect(exitCodeOf(new Error('bug'))).toBe(EXIT_INCOMPLETE);
    expect(exitCodeOf('thrown string')).toBe(EXIT_INCOMPLETE);
  });

  test('every class keeps its own name (shown by tests and --verbose)', () => {
    expect(new ConfigError('x').name).toBe('ConfigError');
    expect(new CorruptImageError('x').name).toBe('CorruptImageError');
  });

  test('oneLine keeps the first line, trimmed, and never returns nothing', () => {
    expect(oneLine(new Error('first\nsecond'))).toBe('first');
    expect(oneLine('  spaced  ')).toBe('spaced');
    expect(oneLine(new Error(''))).toBe('unknown error');
  });
});
