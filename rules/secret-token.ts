import {
  defineRule,
  findPrivateKeys,
  findTokens,
  isStorePath,
  placeOf,
  redact,
  secretsKey,
} from '../src/engine/kit/index.js';

/** SSH host keys are baked-ssh-host-key's. */
const HOST_KEY = /^\/etc\/ssh\/ssh_host_[^/]*_key$/;

export default defineRule({
  readsText: true,
  meta: {
    id: 'secret-token',
    severity: 'error',
    tags: ['secret'],
    description:
      "A file (text, or a binary file's printable strings) holds a token of a well-known format (AWS, GitHub, GitLab, Slack, npm, Google, Stripe, SendGrid, Docker Hub, PyPI, Hugging Face, OpenAI, ...)",
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
    await ctx.scanText((file) => {
      if (HOST_KEY.test(file.entry.path)) return;
      // A binary is searched in its printable strings (a token compiled or copied into it).
      const text = file.searchable();
      const tokens = findTokens(text);
      // A file that holds a private key is private-key's: one finding with the key and these tokens as evidence.
      if (tokens.length === 0 || (text.includes('PRIVATE KEY') && findPrivateKeys(text).length > 0)) return;
      const kinds = [...new Set(tokens.map((t) => t.kind.label))];
      const first = tokens[0]!;
      const where = placeOf(file, text, first.index, first.value.length);
      const count = tokens.length;
      ctx.report({
        path: file.entry.path,
        message:
          `${file.entry.path} holds ${count === 1 ? 'a' : count} secret${count === 1 ? '' : 's'} (${kinds.join(', ')}), ${where.first}` +
          (isStorePath(file.entry.path) ? ', world-readable in /nix/store' : ''),
        evidence: tokens.slice(0, 3).map((t) => `${t.kind.label} ${redact(t.value)}`).join('; '),
        // Keyed on what the secrets are: the same secrets in a rebuilt image match, a rotated one is new.
        key: secretsKey(tokens.map((t) => ({ kind: t.kind.id, value: t.value }))),
        ...where.location,
        // A package's own test fixture or documentation, installed unchanged, is the distribution's: info.
        shipped: file.data,
      });
    });
  },
});
