# A package set standing in for nixpkgs where nixpkgs cannot be fetched (test/flake.test.ts): the few functions
# flake.nix uses, built from builtins.derivation and the machine's /bin/sh, in a store without a sandbox.
# - runCommand runs its script with `sh -e` and the bin/ of nativeBuildInputs on the PATH;
# - buildNpmPackage records what it was given (the test reads it) and, instead of building with npm, wraps the
#   hostleak built in this checkout (`dist`) with the machine's node;
# - importNpmLock keeps its arguments, so the test can check what the flake hands it.
{ system, node, repo, nonce }:
let
  binPath = inputs: builtins.concatStringsSep ":" (map (p: "${p}/bin") inputs ++ [ "/usr/bin" "/bin" ]);
  runCommand = name: env: script: derivation ((removeAttrs env [ "nativeBuildInputs" ]) // {
    inherit name system nonce;
    builder = "/bin/sh";
    args = [ "-ec" script ];
    PATH = binPath (env.nativeBuildInputs or [ ]);
  });
  importNpmLock = args: { importNpmLockArgs = args; } // { npmConfigHook = "importNpmLock.npmConfigHook"; };
in
{
  legacyPackages.${system} = {
    inherit runCommand;
    nodejs_20 = "nodejs_20";
    lib.licenses.mit = { spdxId = "MIT"; };
    importNpmLock = importNpmLock { } // { __functor = _: importNpmLock; };
    buildNpmPackage = args:
      runCommand "${args.pname}-${args.version}" { } ''
        mkdir -p "$out/bin"
        printf '#!/bin/sh\nexec %s %s "$@"\n' ${node} ${repo}/dist/src/bin/hostleak.js > "$out/bin/hostleak"
        chmod +x "$out/bin/hostleak"
      '' // { passthru = args; };
  };
}
