/**
 * Published placeholder secrets: values that vendors print in their documentation so that readers can paste
 * examples. They grant nothing, ship in countless packages' docs and tests, and are never findings. This is the ONE
 * list: every entry names where the value is published. Keys and certificates that packages ship as test fixtures
 * are not listed here: they are recognised through the package database (a file a package installed unchanged).
 */
export interface ExampleSecret {
  value: string;
  what: string;
  source: string;
}

export const EXAMPLE_SECRETS: readonly ExampleSecret[] = [
  {
    value: 'AKIAIOSFODNN7EXAMPLE',
    what: 'AWS example access key id',
    source: 'https://docs.aws.amazon.com/IAM/latest/UserGuide/security-creds.html (and the AWS CLI/SDK docs)',
  },
  {
    value: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    what: 'AWS example secret access key',
    source: 'https://docs.aws.amazon.com/IAM/latest/UserGuide/security-creds.html (and the AWS CLI/SDK docs)',
  },
  {
    value: 'AKIAI44QH8DHBEXAMPLE',
    what: 'AWS example access key id (second pair)',
    source: 'https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html',
  },
  {
    value: 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY',
    what: 'AWS example secret access key (second pair)',
    source: 'https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html',
  },
  {
    value: 'ASIAIOSFODNN7EXAMPLE',
    what: 'AWS example temporary (STS) access key id',
    source: 'https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html',
  },
];

const VALUES = new Set(EXAMPLE_SECRETS.map((e) => e.value));

/**
 * AWS documents its placeholder keys with the EXAMPLE / EXAMPLEKEY suffix (every pair above follows it), and
 * tutorials derive more from it; no issued key ends that way (real ids are upper-case base32 without such words).
 * Source: the AWS pages above.
 */
const AWS_EXAMPLE_SUFFIX = /EXAMPLE(?:KEY)?$/;

/** True for a published placeholder value: never a finding. */
export function isExampleSecret(value: string): boolean {
  return VALUES.has(value) || AWS_EXAMPLE_SUFFIX.test(value);
}
