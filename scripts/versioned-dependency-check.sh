#!/usr/bin/env bash
# Checks that this package works as a versioned dependency: clones the current commit into a
# temporary git repository, tags it, and builds a throwaway package that depends on it by that
# local git URL and version (not by path, where SwiftPM allows everything) and uses the Swift
# products Magma, MagmaEmbedded, MagmaSocket and MagmaDevices and the C product `magma`. Then
# runs both of its programs and checks the dependency's libmagma.so exports only `magma_*`.
#
#   scripts/versioned-dependency-check.sh [WORK-DIRECTORY]
#
# Commit first: the clone sees committed files only. The first build compiles the whole
# package (several minutes on two cores). Why this works although SoftGPU and MagmaC carry
# `unsafeFlags`: docs/architecture.md, "Products".
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
work=$(cd "$work" && pwd)

rm -rf "$work/magma" "$work/app"
git clone -q "$repo" "$work/magma"
git -C "$work/magma" tag 1.0.0
mkdir -p "$work/app/Sources/SwiftApp" "$work/app/Sources/CApp"
cat > "$work/app/Package.swift" <<EOF
// swift-tools-version: 6.3
import PackageDescription

let package = Package(
    name: "VersionedDependent",
    dependencies: [.package(url: "file://$work/magma", from: "1.0.0")],
    targets: [
        .executableTarget(name: "SwiftApp", dependencies: [
            .product(name: "Magma", package: "magma"), .product(name: "MagmaEmbedded", package: "magma"),
            .product(name: "MagmaSocket", package: "magma"), .product(name: "MagmaDevices", package: "magma"),
        ]),
        .executableTarget(name: "CApp", dependencies: [.product(name: "magma", package: "magma")]),
    ]
)
EOF
cat > "$work/app/Sources/SwiftApp/main.swift" <<'EOF'
import MagmaDevices
import MagmaEmbedded
import MagmaSocket

let connection = try Device.open(.embedded).createConnection()
let buffer = try connection.createBuffer(size: 4096)
try buffer.contents.storeBytes(of: 0x5EED, as: UInt32.self)
try connection.flush()
print("SwiftApp: buffer \(buffer.id), \(buffer.size) bytes, reads back \(String(try buffer.contents.load(as: UInt32.self), radix: 16))")
EOF
cat > "$work/app/Sources/CApp/main.c" <<'EOF'
#include <stdio.h>
#include "magma.h"

int main(void) {
    magma_device_t device;
    magma_connection_t connection;
    if (magma_device_open(MAGMA_DEVICE_PATH_EMBEDDED, &device) != MAGMA_STATUS_OK) return 1;
    if (magma_device_create_connection(device, &connection) != MAGMA_STATUS_OK) return 1;
    magma_status_t status = magma_connection_flush(connection);
    magma_connection_release(connection);
    magma_device_release(device);
    printf("CApp: magma_connection_flush returned %d\n", status);
    return status == MAGMA_STATUS_OK ? 0 : 1;
}
EOF

cd "$work/app"
swift build
bin=$(swift build --show-bin-path)
"$bin/SwiftApp"
"$bin/CApp"
others=$(nm -D --defined-only "$bin/libmagma.so" | awk '$2 ~ /^[A-Z]$/ && $3 !~ /^magma_/ { print $3 }')
[[ -z "$others" ]] || { echo "libmagma.so of the dependency exports more than magma_*:" >&2; echo "$others" >&2; exit 1; }
echo "versioned dependency: every product builds and runs; libmagma.so exports only magma_* ($work)"
