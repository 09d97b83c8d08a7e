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
