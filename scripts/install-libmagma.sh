#!/usr/bin/env bash
# Builds libmagma.so and installs it with magma.h and a pkg-config file:
#
#   scripts/install-libmagma.sh [--debug] [--static-stdlib] PREFIX
#
# Then: PKG_CONFIG_PATH=PREFIX/lib/pkgconfig cc app.c $(pkg-config --cflags --libs magma)
#
# --static-stdlib links the Swift runtime into libmagma.so (release, its own scratch path
# .build-dist), so it runs on machines without Swift.
set -euo pipefail
cd "$(dirname "$0")/.."

configuration=release
build_flags=()
while [[ $# -gt 1 ]]; do
    case "$1" in
        --debug) configuration=debug ;;
        --static-stdlib) build_flags+=(-Xswiftc -static-stdlib --scratch-path .build-dist) ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
prefix=${1:?usage: $0 [--debug] [--static-stdlib] PREFIX}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

swift build -c "$configuration" --product magma "${build_flags[@]}"
bin=$(swift build -c "$configuration" "${build_flags[@]}" --show-bin-path)

install -d "$prefix/lib/pkgconfig" "$prefix/include/magma"
install -m 0755 "$bin/libmagma.so" "$prefix/lib/libmagma.so.1"
ln -sf libmagma.so.1 "$prefix/lib/libmagma.so"
install -m 0644 include/magma.h include/magma_common_defs.h "$prefix/include/magma/"
version=$(sed -n 's/.*static let package = "\(.*\)".*/\1/p' Sources/MagmaProtocol/MagmaVersion.swift)
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|${version:?no version in Sources/MagmaProtocol/MagmaVersion.swift}|" \
    scripts/magma.pc.in > "$prefix/lib/pkgconfig/magma.pc"
echo "installed libmagma.so ($configuration) in $prefix"
