/** The built-in rules. Every rules/<id>.ts is listed here (a test checks it), with docs/rules/<id>.md beside it. */
import type { Rule } from '../src/engine/rule.js';
import danglingChannelSymlink from './dangling-channel-symlink.js';
import orphanedHome from './orphaned-home.js';
import rootOwnedNixDefexpr from './root-owned-nix-defexpr.js';

export const builtinRules: Rule[] = [orphanedHome, rootOwnedNixDefexpr, danglingChannelSymlink];
