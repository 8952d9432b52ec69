#!/usr/bin/env bash
# Installs the C API under a prefix, for C and C++ builds that use pkg-config:
#
#   PREFIX/include/scriptless.h
#   PREFIX/lib/libscriptless.so (.dylib on macOS) and libscriptless.a
#   PREFIX/lib/pkgconfig/scriptless.pc
#
# Usage: scripts/install-capi.sh [--prefix DIR] [--lib-dir DIR]
#   --prefix DIR   where to install (default /usr/local)
#   --lib-dir DIR  install the libraries already built in DIR instead of building them
#                  (capi/tests/examples.rs installs the ones it just built this way)
#
# Then, shared: cc app.c $(pkg-config --cflags --libs scriptless) -Wl,-rpath,PREFIX/lib
#       static: cc app.c $(pkg-config --cflags scriptless) PREFIX/lib/libscriptless.a \
#                  $(pkg-config --libs-only-l --static scriptless | sed 's/-lscriptless//')
# (given -lscriptless, the linker takes the shared library whenever both are installed).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix=/usr/local
lib_dir=
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --lib-dir) lib_dir="$2"; shift 2 ;;
        *) echo "usage: $0 [--prefix DIR] [--lib-dir DIR]" >&2; exit 2 ;;
    esac
done
case "$(uname -s)" in
    # What Rust's standard library needs from the system when linked statically, as
    # `cargo rustc -p scriptless-capi --crate-type staticlib -- --print native-static-libs`
    # prints it.
    Linux) shared=libscriptless.so; libs_private="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc" ;;
    # Not run here (no Mac): what rustc lists for a staticlib on macOS.
    Darwin) shared=libscriptless.dylib; libs_private="-lSystem -lc -lm" ;;
    *) echo "install-capi.sh: $(uname -s) is not supported; copy the libraries by hand" >&2; exit 1 ;;
esac
if [ -z "$lib_dir" ]; then
    (cd "$root" && cargo build --release --locked -p scriptless-capi)
    # Wherever CARGO_TARGET_DIR or a cargo config puts the build, cargo says where.
    target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
    lib_dir="$target_dir/release"
fi
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/capi/Cargo.toml" | head -n 1)"
mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
cp "$root/capi/include/scriptless.h" "$prefix/include/"
cp "$lib_dir/$shared" "$lib_dir/libscriptless.a" "$prefix/lib/"
# The template's placeholders, replaced by bash rather than sed, so that a prefix may hold any
# character.
while IFS= read -r line; do
    line="${line//@PREFIX@/"$prefix"}"
    line="${line//@VERSION@/"$version"}"
    printf '%s\n' "${line//@LIBS_PRIVATE@/"$libs_private"}"
done < "$root/capi/scriptless.pc.in" > "$prefix/lib/pkgconfig/scriptless.pc"
echo "installed scriptless $version under $prefix (pkg-config: $prefix/lib/pkgconfig)"
