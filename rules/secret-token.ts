import {
  defineRule,
  findPrivateKeys,
  findTokens,
  isStorePath,
  judgeShipped,
  lineAt,
  locate,
  redact,
  secretsKey,
  type ReportInput,
  CONTENT_PASS_OPTIONS,
} from '../src/engine/kit/index.js';

/** SSH host keys are baked-ssh-host-key's. */
const HOST_KEY = /^\/etc\/ssh\/ssh_host_[^/]*_key$/;

export default defineRule({
  readsText: true,
  meta: {
    id: 'secret-token',
    options: { ...CONTENT_PASS_OPTIONS },
    severity: 'error',
    tags: ['secret'],
    description: 'A text file holds a token of a well-known format (AWS, GitHub, GitLab, Slack, npm) or a private key',
    remediation:
      'Treat the token as leaked: revoke and rotate it now. Then find the build step that wrote it (an environment ' +
      'variable saved to a file, a config rendered with a real secret, a history file) and pass secrets at run time ' +
      '(systemd credentials, agenix/sops-nix) instead of baking them into the image.',
    references: [
      'https://docs.github.com/en/code-security/secret-scanning/introduction/supported-secret-scanning-patterns',
      'https://github.com/gitleaks/gitleaks',
    ],
  },
  async check(ctx) {
    const found: Array<{ finding: ReportInput; data: Buffer }> = [];
    await ctx.scanText((file) => {
      if (file.binary || HOST_KEY.test(file.entry.path)) return;
      const text = file.text();
      const tokens = findTokens(text);
      const keys = findPrivateKeys(text);
      if (tokens.length === 0 && keys.length === 0) return;
      const kinds = [...new Set([...tokens.map((t) => t.kind.label), ...keys.map(() => 'private key')])];
      const first = tokens[0] ?? null;
      const where = lineAt(text, first ? first.index : keys[0]!.index);
      const count = tokens.length + keys.length;
      found.push({ data: file.data, finding: {
        path: file.entry.path,
        message:
          `${file.entry.path} holds ${count === 1 ? 'a' : count} secret${count === 1 ? '' : 's'} (${kinds.join(', ')}), first on line ${where.n}` +
          (isStorePath(file.entry.path) ? ', world-readable in /nix/store' : ''),
        evidence: [...tokens.slice(0, 3).map((t) => `${t.kind.label} ${redact(t.value)}`), ...keys.slice(0, 1).map((k) => `${k.label} ${redact(k.body)}`)].join('; '),
        // Keyed on what the secrets are: the same secrets in a rebuilt image match, a rotated one is new.
        key: secretsKey([...tokens.map((t) => ({ kind: t.kind.id, value: t.value })), ...keys.map((k) => ({ kind: 'private-key', value: k.body }))]),
        ...(first ? locate(text, first.index, first.value.length) : locate(text, keys[0]!.index)),
      } });
    });
    // A package's own test fixture or documentation, installed unchanged, is the distribution's: info.
    await Promise.all(
      found.map(async ({ finding, data }) => {
        const j = await judgeShipped(ctx.packages, finding.path, data);
        ctx.report({ ...finding, message: finding.message + j.suffix, severity: j.severity });
      }),
    );
  },
});
