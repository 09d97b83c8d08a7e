/** The yaml package, loaded on first use: most runs read no YAML file, and loading it costs start-up time. */
import { createRequire } from 'node:module';

type YamlModule = typeof import('yaml');
let mod: YamlModule | null = null;

export function yaml(): YamlModule {
  return (mod ??= createRequire(import.meta.url)('yaml') as YamlModule);
}
