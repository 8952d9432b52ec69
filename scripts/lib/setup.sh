# shellcheck shell=bash
# Sourced by the scripts in scripts/: installs what a script needs when it is missing, and
# configures the cross toolchains, through environment variables only (no .cargo/config, so
# other builds are unaffected).

# ensure_rust_targets TARGET...: adds the rustup targets not installed yet.
ensure_rust_targets() {
    local installed target
    installed=$(rustup target list --installed)
    for target in "$@"; do
        grep -qx "$target" <<<"$installed" || rustup -q target add "$target"
    done
}

# ensure_debian_packages PACKAGE...: installs the missing ones through apt-get, with sudo when
# not root; apt-get's chatter (debconf's notes included) is shown only if it fails.
ensure_debian_packages() {
    local missing=() package log sudo=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" ||
            missing+=("$package")
    done
    [[ ${#missing[@]} -gt 0 ]] || return 0
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    echo "${0##*/}: installing ${missing[*]}" >&2
    log=$({ "${sudo[@]}" apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${missing[@]}"; } 2>&1) ||
        { echo "$log" >&2; return 1; }
}

# The linkers, and the C compilers the cc crate uses (for mimalloc, on Linux), of the cross
# targets from Debian's packages: aarch64-unknown-linux-gnu (gcc-aarch64-linux-gnu),
# x86_64-unknown-linux-musl (musl-tools), x86_64-pc-windows-gnu (gcc-mingw-w64-x86-64).
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export CC_x86_64_unknown_linux_musl=musl-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
