#!/usr/bin/env bash
# Builds the scriptless CLI for every platform we ship to, packs each build with the weights,
# examples, README, guide and licences, and runs every packed binary on them, comparing what it writes
# with the native build's output; exits non-zero on any difference.
#
#   scripts/dist.sh                                   # the four targets we ship
#   scripts/dist.sh wasm32-wasip1 x86_64-pc-windows-gnu
#
# Targets, and what runs each archive's binary here (on x86-64 Debian):
#   x86_64-unknown-linux-gnu    natively
#   aarch64-unknown-linux-gnu   qemu-aarch64 user-mode emulation
#   x86_64-pc-windows-gnu       wine (packed as .zip)
#   wasm32-wasip1               node's WASI, through the scriptless.mjs launcher it ships with
#   x86_64-unknown-linux-musl   natively; only when named: a static binary needs no libc on
#                               the target, but it ran the benchmark table's short calls up to
#                               1.34x as long (musl's memcpy), so it is not one of the four
#
# Writes dist/scriptless-<version>-<target>.tar.gz (.zip for Windows) and dist/SHA256SUMS for
# the archives there. Each archive holds one folder, scriptless-<version>-<target>/, with the
# binary (scriptless, scriptless.exe, or scriptless.wasm and scriptless.mjs), weights/,
# examples/, README.md, the guide (docs/) and the licences. Builds go to target/dist (profile `dist`: release,
# symbols stripped), apart from the normal build.
#
# The check: in a fresh folder the archive is unpacked into, the packed binary and the native
# one (`cargo build --release`) run the same cases: every shipped weights file (safetensors,
# `.pth`, TorchScript `.pt`, torch.export `.pt2`) of all three models on its example, to stdout
# and to a `.safetensors` file; f64, `--pool last-valid`, a `.json` output file, the `.jsonl`
# batch, a compressed `.npz` request with a `.npy` output; a user's own model
# (examples/attention.pt by its code, examples/attention.pt2 by its graph);
# `inspect` on every weights file; and a refused input. They must agree on exit statuses and
# messages, and on outputs:
#   - bit for bit on each CPU tier this machine has (SCRIPTLESS_CPU=avx512, avx2, generic) for
#     the x86-64 builds, and on the generic tier for aarch64 and WebAssembly (whose only tier
#     it is): the same f32 arithmetic in the same order gives the same bits everywhere. The
#     f64 cases are bit for bit only on Linux x86-64 (glibc): elsewhere f64's exp and tanh come
#     from another C library (mingw's, musl's, WASI's), which may round the last bit the other
#     way, and on aarch64 f64 products go through the gemm crate's NEON kernels (it ignores
#     SCRIPTLESS_CPU); those are compared as below, as is the user's model (own.*) off Linux
#     x86-64: its operators run on candle's and gemm's kernels and that C library's exp, erf
#     and tanh, which sum and round per platform (the seed's kernels are the same everywhere);
#   - within the parity tolerance (atol 2e-5, rtol 1e-4) for aarch64's NEON tier against the
#     native default tier, whose vectors are of another width and so sum in another order.
#
# Installs what it needs when missing: Rust targets through rustup; Debian's
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user, musl-tools, gcc-mingw-w64-x86-64,
# wine, wine64, zip and unzip through apt-get (with sudo when not root). Needs node 20 or later for
# the WASI check (node:wasi). The Windows check gives wine 8 a stand-in for a DLL every Windows
# 10 has and wine 8 lacks (scripts/dist/wine-bcryptprimitives.c); it is not in the archive.
set -euo pipefail
cd "$(dirname "$0")/.."

default_targets=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-pc-windows-gnu
    wasm32-wasip1)
known_targets=("${default_targets[@]}" x86_64-unknown-linux-musl)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${default_targets[@]}")
for target in "${targets[@]}"; do
    [[ " ${known_targets[*]} " == *" $target "* ]] ||
        { echo "dist.sh: unknown target $target; expected one of: ${known_targets[*]}" >&2; exit 2; }
done
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
root=$PWD
work=$root/target/dist

# --- what the targets need ------------------------------------------------------------------

packages=(zip unzip)
for target in "${targets[@]}"; do
    case $target in
        aarch64-unknown-linux-gnu) packages+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user) ;;
        x86_64-unknown-linux-musl) packages+=(musl-tools) ;;
        x86_64-pc-windows-gnu) packages+=(gcc-mingw-w64-x86-64 wine wine64) ;;
    esac
done
# shellcheck source=scripts/lib/setup.sh
source scripts/lib/setup.sh
ensure_debian_packages "${packages[@]}"
ensure_rust_targets "${targets[@]}"
if [[ " ${targets[*]} " == *" wasm32-wasip1 "* ]]; then
    node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' 2>/dev/null ||
        { echo "dist.sh: the WebAssembly check needs node 20 or later (node:wasi)" >&2; exit 1; }
fi

# --- build and pack -------------------------------------------------------------------------

echo "dist.sh: building the native reference (cargo build --release)" >&2
cargo build --release --locked --quiet
native=$root/target/release/scriptless

mkdir -p dist
archives=()
for target in "${targets[@]}"; do
    echo "dist.sh: building $target" >&2
    cargo build --profile dist --locked --quiet --target "$target" --target-dir "$work"
    name=scriptless-$version-$target
    stage=$work/stage/$name
    rm -rf "$stage" && mkdir -p "$stage"
    built=$work/$target/dist
    case $target in
        *-windows-*) cp "$built/scriptless.exe" "$stage/" ;;
        wasm32-*) cp "$built/scriptless.wasm" scripts/dist/scriptless.mjs "$stage/" ;;
        *) cp "$built/scriptless" "$stage/" ;;
    esac
    cp -r README.md docs LICENSE-MIT LICENSE-APACHE weights examples "$stage/"
    # Archive metadata independent of the checkout and the clock: owners, order, times.
    stamp=$(git log -1 --format=%ct 2>/dev/null || echo 0)
    find "$stage" -exec touch -h -d "@$stamp" {} +
    case $target in
        *-windows-*)
            archive=$name.zip
            rm -f "dist/$archive"
            (cd "$work/stage" && find "$name" | LC_ALL=C sort | zip -q -X -D "$root/dist/$archive" -@)
            ;;
        *)
            archive=$name.tar.gz
            tar -C "$work/stage" --sort=name --owner=0 --group=0 --numeric-owner \
                -cf - "$name" | gzip -n -9 >"dist/$archive"
            ;;
    esac
    archives+=("$archive")
done
(cd dist && shopt -s nullglob && sha256sum -- scriptless-*.tar.gz scriptless-*.zip >SHA256SUMS)

# --- run every archive ----------------------------------------------------------------------

# The cases: a name, then the arguments. Outputs go under out/ in the unpacked folder (a WASI
# program sees only the folder it runs in).
cases=()
for model in two_input categorical sequence; do
    for format in safetensors pt pth pt2; do
        flag=--model=${model/_/-}
        cases+=("$model.$format|run $flag --weights weights/$model.$format --input examples/$model.json")
        cases+=("$model.$format.out|run $flag --weights weights/$model.$format --input examples/$model.json --output OUT/$model.$format.safetensors")
        cases+=("inspect.$model.$format|inspect weights/$model.$format")
    done
done
cases+=("sequence.f64|run --weights weights/sequence.safetensors --input examples/sequence.json --dtype f64")
cases+=("sequence.last-valid|run --weights weights/sequence.pt --input examples/sequence.json --pool last-valid --output OUT/last-valid.json")
cases+=("categorical.f64|run --weights weights/categorical.pt --input examples/categorical.json --dtype f64 --output OUT/categorical.f64.safetensors")
cases+=("batch|run --weights weights/sequence.safetensors --input examples/requests.jsonl --output OUT/results.jsonl")
cases+=("sequence.npz|run --model sequence --weights weights/sequence.pt2 --input examples/sequence.npz --output OUT/sequence.npy")
cases+=("refused|run --weights weights/two_input.safetensors --input examples/sequence.json")
# A user's own model (the corpus's attention block), by its TorchScript code and by its graph.
for format in pt pt2; do
    cases+=("own.$format|run --weights examples/attention.$format --input examples/attention.json")
    cases+=("own.$format.out|run --weights examples/attention.$format --input examples/attention.json --output OUT/own.$format.safetensors")
    cases+=("inspect.own.$format|inspect examples/attention.$format")
done

# Runs every case with `$@` as the command, in the current folder, into out/$label.
run_cases() {
    local label=$1 && shift
    rm -rf "out/$label" && mkdir -p "out/$label"
    local entry name args status
    for entry in "${cases[@]}"; do
        name=${entry%%|*}
        args=${entry#*|}
        status=0
        # shellcheck disable=SC2086 # the arguments are words without spaces
        "$@" ${args//OUT/out/$label} >"out/$label/$name.stdout" 2>"out/$label/$name.stderr" ||
            status=$?
        echo "$status" >"out/$label/$name.status"
    done
}

# The x86-64 tiers this machine has, best first.
host_tiers=()
for tier in avx512 avx2 generic; do
    SCRIPTLESS_CPU=$tier "$native" run --weights weights/two_input.safetensors \
        --input examples/two_input.json >/dev/null 2>&1 && host_tiers+=("$tier")
done

wine_ready=
prepare_wine() {
    [[ -n $wine_ready ]] && return
    # No Mono or Gecko: the prefix is set up without asking to download them.
    export WINEPREFIX=$work/wine/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
    mkdir -p "$work/wine"
    [[ -d $WINEPREFIX ]] || wine wineboot --init >/dev/null 2>&1 ||
        { echo "dist.sh: wine could not set up $WINEPREFIX" >&2; exit 1; }
    x86_64-w64-mingw32-gcc -O2 -shared -Wl,--kill-at -o "$work/wine/bcryptprimitives.dll" \
        "$root/scripts/dist/wine-bcryptprimitives.c" -ladvapi32
    wine_ready=1
}

failed=()
for i in "${!targets[@]}"; do
    target=${targets[$i]}
    archive=${archives[$i]}
    name=scriptless-$version-$target
    check=$work/check/$target
    rm -rf "$check" && mkdir -p "$check"
    case $archive in
        *.zip) unzip -q "dist/$archive" -d "$check" ;;
        *) tar -xzf "dist/$archive" -C "$check" ;;
    esac
    cd "$check/$name"
    # (exact|allclose):(SCRIPTLESS_CPU for the artifact):(SCRIPTLESS_CPU for the native run)
    plans=()
    case $target in
        x86_64-unknown-linux-gnu) for tier in "${host_tiers[@]}"; do plans+=("exact:$tier:$tier"); done ;;
        x86_64-*) for tier in "${host_tiers[@]}"; do plans+=("exact-f32:$tier:$tier"); done ;;
        aarch64-*) plans=("exact-f32:generic:generic" "allclose::") ;;
        wasm32-*) plans=("exact-f32::generic") ;;
    esac
    case $target in
        x86_64-unknown-linux-*) runner=(./scriptless) ;;
        aarch64-*) runner=(qemu-aarch64 -L /usr/aarch64-linux-gnu ./scriptless) ;;
        *-windows-*)
            prepare_wine
            cp "$work/wine/bcryptprimitives.dll" .
            runner=(wine ./scriptless.exe)
            ;;
        wasm32-*) runner=(node scriptless.mjs) ;;
    esac
    ok=1
    for plan in "${plans[@]}"; do
        IFS=: read -r mode tier native_tier <<<"$plan"
        label=${tier:-default}
        SCRIPTLESS_CPU=$native_tier run_cases "native-${native_tier:-default}" "$native"
        SCRIPTLESS_CPU=$tier run_cases "$label" "${runner[@]}"
        if python3 "$root/scripts/dist/compare.py" "--$mode" \
            "out/native-${native_tier:-default}" "out/$label"; then
            echo "dist.sh: $target ($label tier, $mode): ${#cases[@]} cases agree" >&2
        else
            echo "dist.sh: $target ($label tier, $mode): outputs differ from the native build's" >&2
            ok=
        fi
    done
    cd "$root"
    [[ -n $ok ]] || failed+=("$target")
done

echo >&2
(cd dist && ls -l "${archives[@]}" SHA256SUMS) >&2
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "dist.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "dist.sh: every archive ran and agreed with the native build" >&2
