import { defineRule, eachFileOfKind, lines, redact, secretsKey } from '../src/engine/kit/index.js';

/** Configuration files of network managers that may hold a Wi-Fi/802.1X/VPN secret, and the keys that do. */
const KINDS: Array<{ globs: string[]; what: string; key: RegExp; sep: string }> = [
  {
    globs: ['/etc/NetworkManager/system-connections/**'],
    what: 'NetworkManager connection',
    key: /^(psk|password|wep-key[0-3]|leap-password|pin|private-key-password|phase2-private-key-password|secrets|Xauth password|IPSec secret)$/i,
    sep: '=',
  },
  { globs: ['/etc/wpa_supplicant.conf', '/etc/wpa_supplicant/**/*.conf'], what: 'wpa_supplicant configuration', key: /^(psk|password|wep_key[0-3]|private_key_passwd|sae_password)$/, sep: '=' },
  { globs: ['/var/lib/iwd/*.psk', '/var/lib/iwd/*.8021x'], what: 'iwd network', key: /^(Passphrase|PreSharedKey|EAP-Password|EAP-TTLS-Phase2-Password|EAP-PEAP-Phase2-Password)$/, sep: '=' },
  { globs: ['/etc/network/interfaces', '/etc/network/interfaces.d/*'], what: 'ifupdown interfaces', key: /^(wpa-psk|wpa-password|wireless-key)$/, sep: ' ' },
  { globs: ['/etc/netplan/*.yaml', '/etc/netplan/*.yml'], what: 'netplan configuration', key: /^(password)$/, sep: ':' },
];

/** The secret values of `key<sep>value` lines whose key is a secret (placeholders and references skipped). */
function secrets(text: string, key: RegExp, sep: string): Array<{ key: string; value: string; section: string }> {
  const out: Array<{ key: string; value: string; section: string }> = [];
  let section = '';
  for (const { line } of lines(text)) {
    const s = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (s) { section = s[1]!; continue; }
    const t = line.trim();
    if (t.startsWith('#') || t.startsWith(';')) continue;
    const at = sep === ' ' ? t.search(/\s/) : t.indexOf(sep);
    if (at <= 0) continue;
    const k = t.slice(0, at).trim().replace(/^-\s*/, '');
    const v = t.slice(at + 1).trim().replace(/^["']|["']$/g, '');
    // Every key under NetworkManager's [vpn-secrets] is a secret.
    if (!(key.test(k) || section === 'vpn-secrets') || v === '' || /^\$\{?\w+\}?$/.test(v)) continue;
    out.push({ key: k, value: v, section });
  }
  return out;
}

export default defineRule({
  meta: {
    id: 'network-secret',
    severity: 'error',
    tags: ['secret', 'network-state'],
    description: 'A network connection stored in the image holds a secret (NetworkManager psk/password, wpa_supplicant, iwd, ifupdown, netplan)',
    remediation:
      'A Wi-Fi passphrase, 802.1X or VPN password was saved into the image: everyone with the image has it. ' +
      'Change it on the network now, remove the connection from the image, and provision network secrets at first ' +
      'boot (NetworkManager secret agents, psk-flags=1, systemd credentials) instead (virt-sysprep --operations net-nmconn).',
    references: ['https://networkmanager.dev/docs/api/latest/nm-settings-keyfile.html', 'https://libguestfs.org/virt-sysprep.1.html'],
  },
  async check({ inventory, fs, report }) {
    await eachFileOfKind(inventory, fs, KINDS, (e, k, text) => {
      const found = secrets(text, k.key, k.sep);
      if (found.length === 0) return;
      const ssid = /^\s*ssid\s*[=:]\s*"?([^"\n]*)"?/m.exec(text)?.[1];
      report({
        path: e.path,
        message:
          `${e.path} (${k.what}${ssid ? `, SSID ${JSON.stringify(ssid)}` : ''}) holds ${found.length === 1 ? 'a secret' : `${found.length} secrets`}: ` +
          [...new Set(found.map((f) => f.key))].join(', '),
        evidence: found.slice(0, 3).map((f) => `${f.key} ${redact(f.value)}`).join('; '),
        // The secrets' kinds and values (hashed): a changed passphrase is a new finding, a rebuild is not.
        key: secretsKey(found.map((f) => ({ kind: f.key, value: f.value }))),
      });
    });
  },
});
