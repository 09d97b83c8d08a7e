/**
 * Obviously fake, format-valid secrets for tests and sample images. The keys were generated for hostleak's tests
 * only and protect nothing. Tests assert that no output ever contains one of these in full.
 */
export const FAKE_AWS_KEY_ID = 'AKIAZ7HOSTLEAKFAKE01';
export const FAKE_AWS_SECRET = 'hOSTLEAKfakeSECRETvalue0123456789/abcdEF';
export const FAKE_GITHUB_TOKEN = 'ghp_FAKEfakeFAKEfake0123456789abcdefABCD';
export const FAKE_GITLAB_TOKEN = 'glpat-FAKEfake0123456789xy';
export const FAKE_SLACK_TOKEN = 'xoxb-1234567890-0987654321-FAKEfakeFAKEfake1234';
export const FAKE_NPM_TOKEN = 'npm_FAKEfakeFAKEfake0123456789abcdefABCD';

export const FAKE_OPENSSH_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBrPTKEWm76eUUeZn7vegkmxc8D59f649pinaHb/aSMVwAAAKADBMFBAwTB
QQAAAAtzc2gtZWQyNTUxOQAAACBrPTKEWm76eUUeZn7vegkmxc8D59f649pinaHb/aSMVw
AAAEC3L6Xku6cFtgGfCDK5aor6R3y6t3CNclxeHlB/3lhSy2s9MoRabvp5RR5mfu96CSbF
zwPn1/rj2mKdodv9pIxXAAAAG2Zha2Uta2V5LWZvci1ob3N0bGVhay10ZXN0cwEC
-----END OPENSSH PRIVATE KEY-----
`;

export const FAKE_PEM_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKuPcNsCnryHQ964t
bSHESCM6bG97WIoH981ltJ+B2AihRANCAASlV9/2JOF26yj4DgG99whSuLRCSYyn
zCUV3I/d78HffJFuxL7yTT0jtaUTt0XBqsVbQ5VxRYo50dygsAuxsvZv
-----END PRIVATE KEY-----
`;

/** Lines of the key bodies: none may appear in any output. */
export const FAKE_KEY_BODY_LINES = [FAKE_OPENSSH_KEY, FAKE_PEM_KEY].flatMap((k) =>
  k.split('\n').filter((l) => l && !l.startsWith('-----')),
);

export const FAKE_TOKENS = [FAKE_AWS_KEY_ID, FAKE_AWS_SECRET, FAKE_GITHUB_TOKEN, FAKE_GITLAB_TOKEN, FAKE_SLACK_TOKEN, FAKE_NPM_TOKEN];

/** Issue 26's token formats (format-valid, obviously fake). */
export const FAKE_GOOGLE_API_KEY = 'AIzaSyFAKEfakeFAKEfake0123456789hostlea';
export const FAKE_STRIPE_KEY = 'sk_live_FAKEfakeFAKEfake0123456789';
export const FAKE_SENDGRID_KEY = 'SG.FAKEfakeFAKEfake012345.FAKEfakeFAKEfake0123456789abcdefABCDEFhostl';
export const FAKE_DOCKERHUB_TOKEN = 'dckr_pat_FAKEfakeFAKEfake0123456789a';
export const FAKE_PYPI_TOKEN = 'pypi-AgEIcHlwaS5vcmcCJDFBS0VmYWtlRkFLRWZha2UwMTIzNDU2Nzg5aG9zdGxlYWstdGVzdHM';
export const FAKE_HF_TOKEN = 'hf_FAKEfakeFAKEfake0123456789abcdefgh';
export const FAKE_OPENAI_KEY = 'sk-proj-FAKEfakeFAKEfake0123456789abcdefABCDEF_hostleak-tests';
export const FAKE_RUBYGEMS_KEY = 'rubygems_0123456789abcdef0123456789abcdef0123456789abcdef';
export const FAKE_VAULT_TOKEN = 'hvs.FAKEfakeFAKEfake0123456789ab';
export const FAKE_TERRAFORM_TOKEN = 'FAKEfake012345.atlasv1.FAKEfakeFAKEfake0123456789abcdefABCDEFfakeFAKEfake0123456789hostleak';
export const FAKE_CRATES_TOKEN = 'cioFAKEfakeFAKEfake0123456789abcdef';
export const NEW_FAKE_TOKENS = [
  FAKE_GOOGLE_API_KEY, FAKE_STRIPE_KEY, FAKE_SENDGRID_KEY, FAKE_DOCKERHUB_TOKEN, FAKE_PYPI_TOKEN, FAKE_HF_TOKEN,
  FAKE_OPENAI_KEY, FAKE_RUBYGEMS_KEY, FAKE_VAULT_TOKEN, FAKE_TERRAFORM_TOKEN, FAKE_CRATES_TOKEN,
];
