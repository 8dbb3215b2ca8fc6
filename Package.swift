// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Magma",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Magma", targets: ["Magma"]),
        .library(name: "MagmaSystem", targets: ["MagmaSystem"]),
        .library(name: "SoftGPU", targets: ["SoftGPU"]),
        .library(name: "MagmaWire", targets: ["MagmaWire"]),
        .library(name: "MagmaServer", targets: ["MagmaServer"]),
        .library(name: "MagmaBench", targets: ["MagmaBench"]),
        // libmagma.so: the C API of include/magma.h.
        .library(name: "magma", type: .dynamic, targets: ["MagmaC"]),
        .executable(name: "magmactl", targets: ["magmactl"]),
        .executable(name: "magma-protocol-gen", targets: ["magma-protocol-gen"]),
        .executable(name: "magmad", targets: ["magmad"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // Linux calls Swift cannot reach directly (memfd, eventfd, seals, atomics).
        .target(name: "CMagmaLinux"),
        // Owned descriptors, shared memory, event semaphores, poll: the OS edge.
        .target(name: "MagmaPlatform", dependencies: ["CMagmaLinux"]),
        // Status codes, ids, flags and command structures shared by every layer (partly
        // generated from protocol/magma.json).
        .target(name: "MagmaProtocol"),
        // The wire format: message codecs generated from protocol/magma.json.
        .target(name: "MagmaWire", dependencies: ["MagmaProtocol"]),
        // The C declarations generated from the spec (include/magma_common_defs.h).
        .target(name: "CMagma", path: "include", publicHeadersPath: "."),
        // Reads protocol/magma.json and renders the codecs, the C header, docs and tests.
        .target(name: "ProtocolGenerator"),
        .executableTarget(name: "magma-protocol-gen", dependencies: ["ProtocolGenerator"]),
        .executableTarget(
            name: "magmad",
            dependencies: ["MagmaServer", "MagmaSystem", "MagmaPlatform", "SoftGPU", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Logging", package: "swift-log")]
        ),
        // The gpu-agnostic system layer and the system-driver (MSD) interface.
        .target(name: "MagmaSystem", dependencies: ["MagmaProtocol", "MagmaPlatform"]),
        // The reference GPU, executed on the CPU.
        .target(
            name: "SoftGPU",
            dependencies: ["MagmaSystem", "MagmaProtocol", "MagmaPlatform", "CMagmaLinux"],
            // The interpreter's state lives in classes shared by a worker's waves; dynamic
            // exclusivity checks on them cost about a fifth of a vector add (docs/softgpu.md).
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug)), .unsafeFlags(["-enforce-exclusivity=unchecked"])]
        ),
        // Serves a SystemDevice to other processes over Unix sockets (what magmad runs).
        .target(
            name: "MagmaServer",
            dependencies: ["MagmaSystem", "MagmaWire", "MagmaPlatform", "MagmaProtocol", .product(name: "Logging", package: "swift-log")]
        ),
        // The C API (include/magma.h), implemented with @c @implementation over the client library.
        .target(
            name: "MagmaC",
            dependencies: ["CMagma", "Magma", "MagmaProtocol", "MagmaPlatform"],
            linkerSettings: [.unsafeFlags(["-Xlinker", "-soname=libmagma.so.1"])],
            plugins: ["SonameLink"]
        ),
        // Makes the SONAME link libmagma.so.1 -> libmagma.so in the build folder (its tool below).
        .plugin(name: "SonameLink", capability: .buildTool(), dependencies: ["magma-soname-link"]),
        .executableTarget(name: "magma-soname-link"),
        // Magma's paths and their floors, measured by magmactl bench and Benchmarks/.
        .target(
            name: "MagmaBench",
            dependencies: ["Magma", "MagmaServer", "MagmaSystem", "MagmaWire", "MagmaProtocol", "MagmaPlatform", "SoftGPU",
                           "CMagmaLinux", .product(name: "Logging", package: "swift-log")],
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // Fuzz targets over the decoders, the server's message handling and GPU programs (Fuzz/run.sh).
        .target(name: "FuzzTargets", dependencies: ["MagmaWire", "MagmaProtocol", "MagmaServer", "MagmaSystem", "MagmaPlatform", "SoftGPU"]),
        .executableTarget(name: "fuzz-decoder", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "fuzz-server", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "fuzz-gpu-program", dependencies: ["FuzzTargets"]),
        // The C API's tests, in C (run by Tests/MagmaTests/CABITests.swift).
        .executableTarget(
            name: "magma-c-tests", dependencies: ["MagmaC", "CMagma"],
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]
        ),
        // magma_poll when work fails, in C (run by Tests/MagmaTests/CFailureTests.swift).
        .executableTarget(
            name: "magma-c-failure-tests", dependencies: ["MagmaC", "CMagma"],
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]
        ),
        // The client library.
        .target(name: "Magma", dependencies: ["MagmaProtocol", "MagmaPlatform", "MagmaSystem", "MagmaWire", "SoftGPU"]),
        .executableTarget(
            name: "magmactl",
            dependencies: ["Magma", "SoftGPU", "MagmaBench", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // What several test targets share: seeded random numbers and the time limit of suites.
        .target(name: "MagmaTestSupport", path: "Tests/MagmaTestSupport"),
        .testTarget(
            name: "MagmaTests",
            dependencies: ["Magma", "SoftGPU", "MagmaPlatform", "CMagmaLinux", "MagmaServer", "MagmaSystem", "MagmaWire", "MagmaBench", "FuzzTargets",
                           "MagmaTestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "MagmaSystemTests", dependencies: ["MagmaSystem", "MagmaPlatform", "MagmaTestSupport"]),
        .testTarget(name: "MagmaWireTests", dependencies: ["MagmaWire", "MagmaProtocol", "CMagma", "MagmaTestSupport"]),
        .testTarget(name: "ProtocolGeneratorTests", dependencies: ["ProtocolGenerator"]),
        .testTarget(name: "SoftGPUTests", dependencies: ["SoftGPU", "MagmaSystem", "MagmaPlatform", "MagmaTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
