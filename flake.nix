{
  description = "ringmon: one daemon, one thread, one io_uring container monitor";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      # io_uring, pidfds and the vfork-style clone are Linux-only; the machines and CI are
      # x86_64.
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
      inherit (pkgs) lib;

      cargoToml = lib.importTOML ./Cargo.toml;

      # The source without build output or editor files (in a flake, only files tracked by
      # git are visible anyway).
      src = lib.cleanSourceWith {
        src = ./.;
        filter =
          path: type:
          lib.cleanSourceFilter path type && !(type == "directory" && baseNameOf path == "target");
      };

      # .cargo/config.toml links ringmon statically (ADR 0009): glibc's static libraries
      # and a libseccomp.a built against glibc (nixpkgs builds it shared only).
      libseccompStatic = pkgs.libseccomp.overrideAttrs (_: {
        dontDisableStatic = true;
      });

      ringmon = pkgs.rustPlatform.buildRustPackage {
        pname = cargoToml.package.name;
        version = cargoToml.package.version;
        inherit src;
        cargoLock.lockFile = ./Cargo.lock;
        # The libseccomp crate links libseccomp.a from LIBSECCOMP_LIB_PATH (the environment
        # wins over .cargo/config.toml's Debian path).
        nativeBuildInputs = [ pkgs.pkg-config ];
        buildInputs = [
          libseccompStatic
          pkgs.glibc.static
        ];
        LIBSECCOMP_LIB_PATH = "${libseccompStatic.lib or libseccompStatic}/lib";

        # The workspace's binaries: ringmon and the stress tool, ringmon-stress.
        cargoBuildFlags = [ "--workspace" ];

        # The test suite starts real daemons and containers: it needs root, ptys and
        # io_uring, none of which the build sandbox provides. Run it with .ci/run.
        doCheck = false;

        meta = {
          description = cargoToml.package.description;
          license = lib.licenses.asl20;
          mainProgram = "ringmon";
          platforms = lib.platforms.linux;
        };
      };
    in
    {
      packages.${system}.default = ringmon;

      devShells.${system}.default = pkgs.mkShell {
        packages = [
          pkgs.rustc
          pkgs.cargo
          pkgs.clippy
          pkgs.rustfmt
          pkgs.cargo-nextest
          # For container root filesystems in tests. Note: its applets (ls, cp, ...) come
          # before coreutils on PATH inside this shell.
          pkgs.busybox
          pkgs.gcc
          pkgs.pkg-config
          pkgs.libseccomp
        ];
        # For rust-analyzer and other tools that read the standard library's source.
        RUST_SRC_PATH = "${pkgs.rustPlatform.rustLibSrc}";
      };

      # The static checks of .ci/run. The tests and `cargo bench --no-run` stay in .ci/run.
      checks.${system} = {
        package = ringmon;

        # .ci/run: cargo fmt --all -- --check
        fmt =
          pkgs.runCommand "ringmon-fmt"
            {
              nativeBuildInputs = [
                pkgs.cargo
                pkgs.rustfmt
              ];
            }
            ''
              cp -r ${src} source
              chmod -R u+w source
              cd source
              export HOME=$TMPDIR
              cargo fmt --all -- --check
              touch $out
            '';

        # .ci/run: cargo clippy --locked --workspace --all-targets -- -D warnings
        # Reuses the package's vendored dependencies, so it builds offline.
        clippy = ringmon.overrideAttrs (old: {
          pname = "ringmon-clippy";
          nativeBuildInputs = (old.nativeBuildInputs or [ ]) ++ [ pkgs.clippy ];
          buildPhase = ''
            runHook preBuild
            cargo clippy --locked --offline --workspace --all-targets -- -D warnings
            runHook postBuild
          '';
          installPhase = ''
            runHook preInstall
            mkdir -p $out
            runHook postInstall
          '';
          dontFixup = true;
        });
      };
    };
}
