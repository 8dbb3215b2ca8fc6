#!/usr/bin/env bash
# Builds libmagma.so (Fuchsia's API, magma.h) and libmagma_mesa.so (Mesa's API, magma_mesa.h)
# and installs them with their headers and pkg-config files:
#
#   scripts/install-libmagma.sh [--debug] [--static-stdlib] PREFIX
#
# Then: PKG_CONFIG_PATH=PREFIX/lib/pkgconfig cc app.c $(pkg-config --cflags --libs magma)
# (or magma-mesa for Mesa's API; a program uses one of the two headers, not both).
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
swift build -c "$configuration" --product magma_mesa "${build_flags[@]}"
bin=$(swift build -c "$configuration" "${build_flags[@]}" --show-bin-path)

install -d "$prefix/lib/pkgconfig" "$prefix/include/magma"
install -m 0755 "$bin/libmagma.so" "$prefix/lib/libmagma.so.1"
ln -sf libmagma.so.1 "$prefix/lib/libmagma.so"
install -m 0755 "$bin/libmagma_mesa.so" "$prefix/lib/libmagma_mesa.so.1"
ln -sf libmagma_mesa.so.1 "$prefix/lib/libmagma_mesa.so"
install -m 0644 include/magma.h include/magma_common_defs.h Sources/CMagmaMesa/include/magma_mesa.h "$prefix/include/magma/"
version=$(sed -n 's/.*static let package = "\(.*\)".*/\1/p' Sources/MagmaProtocol/MagmaVersion.swift)
for package in magma magma-mesa; do
    sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|${version:?no version in Sources/MagmaProtocol/MagmaVersion.swift}|" \
        "scripts/$package.pc.in" > "$prefix/lib/pkgconfig/$package.pc"
done
echo "installed libmagma.so and libmagma_mesa.so ($configuration) in $prefix"
