import picomatch from 'picomatch';
import {
  defineRule,
  describeKey,
  findPrivateKeys,
  findTokens,
  looksLikePkcs12,
  pkcs12Keys,
  redact,
  isStorePath,
  locate,
  type ScannedFile,
  secretsKey,
  textScanOptions,
  forEachEntry,
  type Entry,
} from '../src/engine/kit/index.js';

/** SSH host keys are baked-ssh-host-key's. */
const HOST_KEY = /^\/etc\/ssh\/ssh_host_[^/]*_key$/;
/** Names that hold keys; looked at inside /nix/store even when the content scan skips the store. */
const KEY_GLOBS = ['**/*.p12', '**/*.pfx', '**/*.pem', '**/*.key', '**/id_rsa', '**/id_dsa', '**/id_ecdsa', '**/id_ed25519', '**/*_key', '**/*.p8', '**/*.priv'];
// picomatch's regexes tested directly: its matcher function costs far more per call, and every store file is tested.
// Compiled by the first name that passes KEY_SUFFIX, not with the module.
let keyRes: RegExp[] | undefined;
/** Every glob above ends in one of these literal suffixes: a cheap necessary condition tested first. */
const KEY_SUFFIX = /(?:\.p12|\.pfx|\.pem|\.key|id_rsa|id_dsa|id_ecdsa|id_ed25519|_key|\.p8|\.priv)$/;
const KEY_NAMES = (path: string): boolean =>
  KEY_SUFFIX.test(path) && (keyRes ??= KEY_GLOBS.map((g) => picomatch.makeRe(g, { dot: true }))).some((re) => re.test(path));
const MAX_KEY_FILE = 1024 * 1024;

export default defineRule({
  readsText: true,
  meta: {
    id: 'private-key',
    severity: 'error',
    tags: ['secret'],
    description:
      'A file holds PEM or OpenSSH private key material, or a PKCS#12 bundle whose key opens without a password (always an error inside the world-readable /nix/store)',
    remediation:
      'Treat the key as compromised: revoke it and issue a new one. Keep private keys out of the build (never ' +
      'reference them from a Nix expression: everything in /nix/store is world-readable) and deliver them at run ' +
      'time with agenix, sops-nix or systemd credentials.',
    references: ['https://github.com/ryantm/agenix', 'https://github.com/Mic92/sops-nix'],
  },
  // Key files by name (those under /nix/store are read outside the content pass).
  reads: (path, size) => (size <= MAX_KEY_FILE && KEY_NAMES(path) ? size : 0),
  async check(ctx) {
    const { inventory, fs, options, report } = ctx;
    const opts = textScanOptions(options);
    const seen = new Set<string>();
    const judge = (path: string, data: Buffer) => {
      if (seen.has(path) || HOST_KEY.test(path)) return;
      seen.add(path);
      if (looksLikePkcs12(data)) {
        judgePkcs12(path, data);
        return;
      }
      if (!data.includes('PRIVATE KEY')) return;
      const text = data.toString('latin1');
      const keys = findPrivateKeys(text);
      if (keys.length === 0) return;
      const tokens = findTokens(text);
      const inStore = isStorePath(path);
      report({
        path,
        // Inside the store the key is readable by every user and every build: always an error. A key a package
        // installed unchanged (a test fixture every install of it has) is no secret of the builder: info.
        ...(inStore ? { severity: 'error' as const } : {}),
        message:
          `${path} holds ${keys.length === 1 ? 'a private key' : `${keys.length} private keys`} (${keys[0]!.label}` +
          `${keys[0]!.encrypted ? ', encrypted' : ''})` +
          (tokens.length > 0 ? ` and ${tokens.length === 1 ? 'a token' : `${tokens.length} tokens`} (${[...new Set(tokens.map((t) => t.kind.label))].join(', ')})` : '') +
          (inStore ? ' in /nix/store, where every user and build can read it' : ''),
        // Tokens beside the key are in this one finding (secret-token leaves a file with a key to this rule).
        evidence: [describeKey(keys[0]!), ...tokens.slice(0, 3).map((t) => `${t.kind.label} ${redact(t.value)}`)].join('; '),
        key: secretsKey([...keys.map((k) => ({ kind: k.label, value: k.body })), ...tokens.map((t) => ({ kind: t.kind.id, value: t.value }))]),
        line: locate(text, keys[0]!.index).line,
        shipped: data,
      });
    };
    /** A PKCS#12 bundle whose key opens without a password (a plain keyBag or the empty password). */
    const judgePkcs12 = (path: string, data: Buffer) => {
      const open = pkcs12Keys(data).filter((k) => k.protection !== 'encrypted');
      if (open.length === 0) return;
      const how = open[0]!.protection === 'plain' ? 'unencrypted' : 'encrypted with the empty password';
      report({
        path,
        ...(isStorePath(path) ? { severity: 'error' as const } : {}),
        message: `${path} is a PKCS#12 bundle holding ${open.length === 1 ? 'a private key' : `${open.length} private keys`} ${how}: anyone with the image can use it`,
        evidence: `PKCS#12, key ${how} (${redact(data.toString('base64'))})`,
        key: secretsKey([{ kind: 'pkcs12', value: data.toString('base64') }]),
        shipped: data,
      });
    };
    // Content pass (binary files included: keys get embedded in binaries and archives of other formats).
    const scanned = ctx.scanText((file: ScannedFile) => judge(file.entry.path, file.data));
    if (!opts.includeStore && inventory.get('/nix/store')) {
      const named: Entry[] = [];
      // KEY_SUFFIX holds no `/`: tested on the name, it says what it says of the path, which is made only then.
      await forEachEntry(
        inventory,
        '/nix/store',
        (e) => {
          if (e.size > 0 && e.size <= MAX_KEY_FILE && KEY_NAMES(e.path)) named.push(e.entry());
        },
        { types: ['file'], names: (name) => KEY_SUFFIX.test(name) },
      );
      await Promise.all(
        named.map(async (e) => {
          const r = await fs.readFile(e.path, { maxBytes: MAX_KEY_FILE, cache: false });
          if (r) judge(e.path, r.data);
        }),
      );
    }
    await scanned;
  },
});
