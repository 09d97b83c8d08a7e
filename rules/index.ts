/**
 * The built-in rules, sorted by id. Every rules/<id>.ts is listed here, in that order (test/rules/docs.test.ts checks
 * both), with docs/rules/<id>.md beside it.
 */
import { type Rule } from '../src/engine/kit/index.js';
import accountBackup from './account-backup.js';
import authorizedKeys from './authorized-keys.js';
import bakedMachineId from './baked-machine-id.js';
import bakedRandomSeed from './baked-random-seed.js';
import bakedSshHostKey from './baked-ssh-host-key.js';
import buildHostname from './build-hostname.js';
import buildLog from './build-log.js';
import buildPathReference from './build-path-reference.js';
import cloudInitState from './cloud-init-state.js';
import contentPartlyScanned from './content-partly-scanned.js';
import crashDump from './crash-dump.js';
import credentialFile from './credential-file.js';
import danglingChannelSymlink from './dangling-channel-symlink.js';
import danglingSymlink from './dangling-symlink.js';
import dhcpLease from './dhcp-lease.js';
import editorLeftover from './editor-leftover.js';
import gitRemoteCredentials from './git-remote-credentials.js';
import homelessShelter from './homeless-shelter.js';
import hostGcroot from './host-gcroot.js';
import hostIdentityReference from './host-identity-reference.js';
import hostResolvConf from './host-resolv-conf.js';
import kerberosKeytab from './kerberos-keytab.js';
import languageCache from './language-cache.js';
import leftoverTemp from './leftover-temp.js';
import loginRecords from './login-records.js';
import nestedImage from './nested-image.js';
import networkSecret from './network-secret.js';
import orphanedHome from './orphaned-home.js';
import packageCache from './package-cache.js';
import pinnedMacAddress from './pinned-mac-address.js';
import privateKey from './private-key.js';
import rootOwnedNixDefexpr from './root-owned-nix-defexpr.js';
import secretToken from './secret-token.js';
import setuidInStore from './setuid-in-store.js';
import shellHistory from './shell-history.js';
import spoolLeftover from './spool-leftover.js';
import strayPerUserProfile from './stray-per-user-profile.js';
import sudoersUnknownAccount from './sudoers-unknown-account.js';
import unknownOwner from './unknown-owner.js';
import vmExchangeLeftover from './vm-exchange-leftover.js';
import worldWritable from './world-writable.js';

export const builtinRules: Rule[] = [
  accountBackup,
  authorizedKeys,
  bakedMachineId,
  bakedRandomSeed,
  bakedSshHostKey,
  buildHostname,
  buildLog,
  buildPathReference,
  cloudInitState,
  contentPartlyScanned,
  crashDump,
  credentialFile,
  danglingChannelSymlink,
  danglingSymlink,
  dhcpLease,
  editorLeftover,
  gitRemoteCredentials,
  homelessShelter,
  hostGcroot,
  hostIdentityReference,
  hostResolvConf,
  kerberosKeytab,
  languageCache,
  leftoverTemp,
  loginRecords,
  nestedImage,
  networkSecret,
  orphanedHome,
  packageCache,
  pinnedMacAddress,
  privateKey,
  rootOwnedNixDefexpr,
  secretToken,
  setuidInStore,
  shellHistory,
  spoolLeftover,
  strayPerUserProfile,
  sudoersUnknownAccount,
  unknownOwner,
  vmExchangeLeftover,
  worldWritable,
];
