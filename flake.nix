{
  description = "hostleak: audit built OS disk images for artifacts leaked from the machine that built them";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  # packages.default  hostleak, built with nixpkgs' buildNpmPackage from package-lock.json (no hash to keep: see npmDeps)
  # apps.default      `nix run github:hostleak/hostleak -- scan result/disk.raw`
  # lib.auditImage    the gate as a derivation: { image; failOn ? "error"; ... } -> the reports in $out, pass or fail,
  #                   with the verdict in $out/verdict; its `.gate` is the check that fails when the verdict is not pass
  # checks            the package, and the gate catching the leaks in the bundled sample image
  # test/flake.test.ts evaluates and builds all of this on a real nix with a small package set standing in for nixpkgs.
  outputs = { self, nixpkgs, ... }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);
      pkgsFor = system: nixpkgs.legacyPackages.${system};
      version = (builtins.fromJSON (builtins.readFile ./package.json)).version;

      # One shell word, whatever the string holds.
      quote = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s) + "'";

      # npm here writes lockfiles without `resolved` (omit-lockfile-registry-resolved), and importNpmLock fetches
      # what `resolved` names with the lock's own `integrity`: give every registry package its tarball URL.
      withResolved = lock: lock // {
        packages = builtins.mapAttrs
          (key: pkg:
            let
              m = builtins.match ".*node_modules/((@[^/]+/)?([^/]+))" key;
              name = builtins.elemAt m 0;
              base = builtins.elemAt m 2;
            in
            if key == "" || pkg ? resolved || pkg.link or false || m == null then pkg
            else pkg // { resolved = "https://registry.npmjs.org/${name}/-/${base}-${pkg.version}.tgz"; })
          lock.packages;
      };

      hostleakFor = pkgs: pkgs.buildNpmPackage {
        pname = "hostleak";
        inherit version;
        src = ./.;
        nodejs = pkgs.nodejs_20;
        # Every tarball is fetched by the integrity hash package-lock.json records, so there is no npmDepsHash to
        # keep in step with the lock (the fakeHash dance on every update).
        npmDeps = pkgs.importNpmLock {
          npmRoot = ./.;
          packageLock = withResolved (builtins.fromJSON (builtins.readFile ./package-lock.json));
        };
        npmConfigHook = pkgs.importNpmLock.npmConfigHook;
        meta = {
          description = "Audit built OS disk images for artifacts leaked from the machine that built them";
          homepage = "https://github.com/hostleak/hostleak";
          license = pkgs.lib.licenses.mit;
          mainProgram = "hostleak";
        };
      };

      # The gate in a derivation. It always succeeds when hostleak ran, keeping every report in $out (report.json,
      # report.html, report.sarif, junit.xml, gl-code-quality-report.json, report.txt) with `verdict` (pass, fail,
      # usage-error, incomplete) and `exit-code`; `.gate` fails the build unless the verdict is pass.
      auditImage =
        { image                       # a derivation (a nix `result`), a store path or a path to an image or folder
        , failOn ? "error"            # error, warning, info or never
        , name ? "image"
        , system ? (if builtins.isAttrs image && image ? system then image.system
                    else throw "hostleak.lib.auditImage: give `system` (or `pkgs`) for an image that is not a derivation")
        , pkgs ? pkgsFor system
        , hostleak ? self.packages.${system}.default
        , host ? { }                  # { user; home; name; }: the build host to look for (the sandbox's is nixbld)
        , backend ? null              # the sandbox has no KVM: "native" reads raw/qcow2/ext4/vfat/... without libguestfs
        , config ? null
        , baseline ? null
        , args ? [ ]
        }:
        let
          opt = flag: value: if value == null then "" else " ${flag} ${quote value}";
          common = opt "--config" config;
          scanFlags = opt "--fail-on" failOn + common + opt "--baseline" baseline + opt "--backend" backend
            + opt "--host-user" (host.user or null) + opt "--host-home" (host.home or null)
            + opt "--host-name" (host.name or null)
            + builtins.concatStringsSep "" (map (a: " ${quote a}") args);
          audit = pkgs.runCommand "hostleak-audit-${name}" { nativeBuildInputs = [ hostleak ]; } ''
            mkdir -p "$out"
            status=0
            hostleak scan ${quote "${image}"}${scanFlags} --format json --output "$out/report.json" || status=$?
            echo "$status" > "$out/exit-code"
            if [ -s "$out/report.json" ]; then
              hostleak convert "$out/report.json"${common} --fail-on ${quote failOn} --format junit --output "$out/junit.xml"
              hostleak convert "$out/report.json"${common} --format sarif --output "$out/report.sarif"
              hostleak convert "$out/report.json"${common} --format gitlab --output "$out/gl-code-quality-report.json"
              hostleak convert "$out/report.json"${common} --format html --output "$out/report.html"
              hostleak convert "$out/report.json"${common} --format text --no-color --output "$out/report.txt"
              cat "$out/report.txt"
            fi
            case "$status" in
              0) verdict=pass ;;
              1) verdict=fail ;;
              2) verdict=usage-error ;;
              *) verdict=incomplete ;;
            esac
            echo "$verdict" > "$out/verdict"
            echo "hostleak: ${name}: $verdict (exit $status); the reports are in $out"
          '';
          gate = pkgs.runCommand "hostleak-gate-${name}" { } ''
            verdict=$(cat ${audit}/verdict)
            if [ "$verdict" != pass ]; then
              echo "hostleak: ${name}: $verdict (exit $(cat ${audit}/exit-code)) at --fail-on ${failOn}" >&2
              if [ -f ${audit}/report.txt ]; then cat ${audit}/report.txt >&2; fi
              echo "hostleak: the reports are in ${audit}" >&2
              exit 1
            fi
            mkdir -p "$out"
            ln -s ${audit} "$out/reports"
          '';
        in
        audit // { inherit gate; };
    in
    {
      lib = { inherit auditImage withResolved; };

      packages = forAllSystems (system: rec {
        hostleak = hostleakFor (pkgsFor system);
        default = hostleak;
      });

      apps = forAllSystems (system: {
        default = { type = "app"; program = "${self.packages.${system}.default}/bin/hostleak"; };
      });

      checks = forAllSystems (system:
        let
          pkgs = pkgsFor system;
          # The gate must catch the bundled sample's leaks: the audit fails (verdict fail), and keeps its reports.
          sample = auditImage {
            inherit system pkgs;
            image = ./images-sample/leaky.raw.gz;
            name = "sample";
            backend = "native";
            host = { user = "bob"; home = "/home/bob"; name = "bobs-laptop"; };
          };
        in
        {
          hostleak = self.packages.${system}.default;
          sample-is-caught = pkgs.runCommand "hostleak-sample-is-caught" { } ''
            [ "$(cat ${sample}/verdict)" = fail ]
            grep -q '"ruleId": "orphaned-home"' ${sample}/report.json
            grep -q '<failure' ${sample}/junit.xml
            touch "$out"
          '';
        });
    };
}
