// swift-tools-version: 6.3
// 6.3: the C API is written with `@c @implementation` (SE-0495). Linux only: the platform layer
// (MagmaPlatform, CMagmaLinux) uses memfd, eventfd, seals and SCM_RIGHTS directly.
import PackageDescription

let package = Package(
    name: "Magma",
    products: [
        // The client library: the public API and its backend protocol, with no backend inside.
        .library(name: "Magma", targets: ["Magma"]),
        // The backends, one module each (swift-nio style), and the locator that picks one.
        .library(name: "MagmaEmbedded", targets: ["MagmaEmbedded"]),
        .library(name: "MagmaSocket", targets: ["MagmaSocket"]),
        .library(name: "MagmaDRM", targets: ["MagmaDRM"]),
        .library(name: "MagmaDevices", targets: ["MagmaDevices"]),
        .library(name: "MagmaSystem", targets: ["MagmaSystem"]),
        .library(name: "SoftGPU", targets: ["SoftGPU"]),
        .library(name: "MagmaWire", targets: ["MagmaWire"]),
        .library(name: "MagmaGuestMemory", targets: ["MagmaGuestMemory"]),
        .library(name: "MagmaVirtioHost", targets: ["MagmaVirtioHost"]),
        .library(name: "MagmaVirtio", targets: ["MagmaVirtio"]),
        .library(name: "MagmaServer", targets: ["MagmaServer"]),
        .library(name: "MagmaRing", targets: ["MagmaRing"]),
        // For Benchmarks/ (a path dependency): its target keeps `-O` in debug builds.
        .library(name: "MagmaBench", targets: ["MagmaBench"]),
        // libmagma.so: the C API of include/magma.h, for C programs. Its linker flags are
        // `unsafeFlags`, which SwiftPM accepts in a versioned dependency because this manifest
        // declares tools-version 6.2 or later (docs/architecture.md, "Products";
        // scripts/versioned-dependency-check.sh).
        .library(name: "magma", type: .dynamic, targets: ["MagmaC"]),
        // libmagma_mesa.so: the C API of Mesa's lineage (Sources/CMagmaMesa/include/magma_mesa.h),
        // beside libmagma.so (the two headers cannot share a translation unit). The same linker
        // flags, for the same reason.
        .library(name: "magma_mesa", type: .dynamic, targets: ["MagmaMesaC"]),
        .executable(name: "magmactl", targets: ["magmactl"]),
        .executable(name: "magma-protocol-gen", targets: ["magma-protocol-gen"]),
        .executable(name: "magmad", targets: ["magmad"]),
        .executable(name: "magma-virtio-host", targets: ["magma-virtio-host"]),
        .library(name: "MagmaVhostUser", targets: ["MagmaVhostUser"]),
        .executable(name: "magma-vhost-user-gpu", targets: ["magma-vhost-user-gpu"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The Linux edge: FileDescriptor and typed Errno (MagmaPlatform's SystemCall).
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        // Linux calls Swift cannot reach directly (memfd, eventfd, seals, atomics).
        .target(name: "CMagmaLinux"),
        // Owned descriptors, shared memory, event semaphores, poll: the OS edge.
        .target(name: "MagmaPlatform", dependencies: ["CMagmaLinux", .product(name: "SystemPackage", package: "swift-system")]),
        // A guest's physical memory (a vhost-user memory table of memfds) mapped in place:
        // guest addresses checked and translated, a resource's guest pages as one host view.
        .target(name: "MagmaGuestMemory", dependencies: ["MagmaPlatform"]),
        // The virtio-gpu device model of Magma contexts (docs/virtio.md): one guest's control
        // commands applied to a host Magma device.
        .target(name: "MagmaVirtioHost", dependencies: ["Magma", "MagmaGuestMemory", "MagmaWire", "MagmaProtocol", "MagmaPlatform", "MagmaRing", .product(name: "SystemPackage", package: "swift-system")]),
        // Single-producer single-consumer byte rings in shared memory (host <-> guest, docs/rings.md).
        .target(name: "MagmaRing", dependencies: ["MagmaPlatform"]),
        // Status codes, ids, flags and command structures shared by every layer (partly
        // generated from protocol/magma.json).
        .target(name: "MagmaProtocol", dependencies: ["MagmaPlatform"]),
        // The wire format: message codecs generated from protocol/magma.json.
        .target(name: "MagmaWire", dependencies: ["MagmaProtocol", .product(name: "SystemPackage", package: "swift-system")]),
        // The C declarations generated from the spec (include/magma_common_defs.h).
        .target(name: "CMagma", path: "include", publicHeadersPath: "."),
        // The C declarations of Mesa's API (Sources/CMagmaMesa/include/magma_mesa.h), generated
        // from the spec's mesaApi section; its one C file checks the header's layout at compile time.
        .target(name: "CMagmaMesa", cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror", "-std=c11"])]),
        // Reads protocol/magma.json and renders the codecs, the C header, docs and tests.
        .target(name: "ProtocolGenerator"),
        .executableTarget(name: "magma-protocol-gen", dependencies: ["ProtocolGenerator"]),
        .executableTarget(
            name: "magmad",
            dependencies: ["MagmaServer", "MagmaSystem", "MagmaPlatform", "SoftGPU", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Logging", package: "swift-log")]
        ),
        // The virtio-gpu device model served over the socket emulation (docs/virtio.md).
        // The guest side of virtio-gpu Magma contexts: the virtgpu ioctl surface (VirtGPUDevice)
        // and its socket emulation (docs/virtio.md).
        .target(name: "MagmaVirtio", dependencies: ["Magma", "MagmaWire", "MagmaProtocol", "MagmaPlatform", "MagmaRing", "MagmaDRM", "CMagmaDRM", .product(name: "SystemPackage", package: "swift-system")]),
        .executableTarget(
            name: "magma-virtio-host",
            dependencies: ["MagmaVirtioHost", "MagmaDevices", "MagmaProtocol", "MagmaPlatform", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The vhost-user back-end protocol, split virtqueues in shared guest memory, and the
        // virtio-gpu device over the device model: what QEMU's vhost-user-gpu-pci drives (docs/vhost-user.md).
        .target(name: "MagmaVhostUser", dependencies: ["MagmaVirtioHost", "MagmaGuestMemory", "MagmaWire", "MagmaPlatform", "CMagmaLinux", "Magma", "MagmaProtocol"]),
        .executableTarget(
            name: "magma-vhost-user-gpu",
            dependencies: ["MagmaVhostUser", "MagmaVirtioHost", "MagmaGuestMemory", "MagmaDevices", "MagmaProtocol", "MagmaPlatform",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The gpu-agnostic system layer and the system-driver (MSD) interface.
        .target(name: "MagmaSystem", dependencies: ["MagmaProtocol", "MagmaPlatform"]),
        // The reference GPU, executed on the CPU.
        // `-O` even in debug builds, measured without it (Swift 6.3.1, December 2026): at -Onone the
        // interpreter is 19 times slower (`magmactl demo`'s 2^20-element vector add: 264 ms of GPU
        // time against 14 ms), BacklogBoundsTests' pendingWorkPastItsBoundClosesTheConnection fails
        // every run (magmad's descriptors are not back within its 10 s), and DemoElementsTests'
        // 2^20-element submissions take about an eighth of the 2 s watchdog instead of a
        // hundred-and-fortieth: fragile on a loaded machine. `@_optimize(speed)` cannot replace
        // it: an -Onone build compiles such a function exactly as it does without the attribute.
        // It is an `unsafeFlags` setting, which SwiftPM accepts in a versioned dependency because
        // this manifest declares tools-version 6.2 or later (docs/architecture.md, "Products").
        .target(
            name: "SoftGPU",
            dependencies: ["MagmaSystem", "MagmaProtocol", "MagmaPlatform", "CMagmaLinux", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // Serves a SystemDevice to other processes over Unix sockets (what magmad runs).
        .target(
            name: "MagmaServer",
            dependencies: ["MagmaSystem", "MagmaWire", "MagmaPlatform", "MagmaProtocol", .product(name: "Logging", package: "swift-log"), .product(name: "SystemPackage", package: "swift-system")]
        ),
        // The C API (include/magma.h), implemented with @c @implementation over the client library.
        .target(
            name: "MagmaC",
            dependencies: ["CMagma", "MagmaCSupport", "MagmaDevices", "MagmaSocket", "MagmaProtocol", "MagmaPlatform", .product(name: "SystemPackage", package: "swift-system")],
            exclude: ["libmagma.version"],
            // The SONAME, and only the C API's symbols exported (libmagma.version).
            linkerSettings: [.unsafeFlags(["-Xlinker", "-soname=libmagma.so.1",
                                           "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/MagmaC/libmagma.version"])],
            plugins: ["SonameLink"]
        ),
        // What both C libraries share: handle tables, the status of a call, descriptors for callers.
        .target(name: "MagmaCSupport", dependencies: ["MagmaProtocol", "MagmaPlatform"]),
        // The C API of Mesa's lineage, implemented with @c @implementation over Mesa's Swift face.
        .target(
            name: "MagmaMesaC",
            dependencies: ["CMagmaMesa", "MagmaCSupport", "MagmaDevices", "MagmaProtocol", "MagmaPlatform"],
            exclude: ["libmagma_mesa.version"],
            linkerSettings: [.unsafeFlags(["-Xlinker", "-soname=libmagma_mesa.so.1",
                                           "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/MagmaMesaC/libmagma_mesa.version"])],
            plugins: ["SonameLink"]
        ),
        // Makes the SONAME link libmagma.so.1 -> libmagma.so in the build folder (its tool below).
        .plugin(name: "SonameLink", capability: .buildTool(), dependencies: ["magma-soname-link"]),
        .executableTarget(name: "magma-soname-link"),
        // Magma's paths and their floors, measured by magmactl bench and Benchmarks/.
        .target(
            name: "MagmaBench",
            dependencies: ["MagmaDevices", "MagmaServer", "MagmaSystem", "MagmaWire", "MagmaProtocol", "MagmaPlatform", "MagmaRing", "SoftGPU",
                           "MagmaVirtio", "MagmaVirtioHost",
                           "CMagmaLinux", .product(name: "Logging", package: "swift-log"), .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // Fuzz targets over the decoders, the server's message handling, GPU programs and the virtio
        // device model (Fuzz/run.sh).
        .target(name: "FuzzTargets", dependencies: ["MagmaWire", "MagmaProtocol", "MagmaServer", "MagmaSystem", "MagmaPlatform", "SoftGPU", "Magma", "MagmaEmbedded", "MagmaGuestMemory", "MagmaVirtioHost", "MagmaVhostUser", "CMagmaLinux", .product(name: "SystemPackage", package: "swift-system")]),
        .executableTarget(name: "fuzz-decoder", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "fuzz-server", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "fuzz-gpu-program", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "fuzz-virtio", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "fuzz-vhost-user", dependencies: ["FuzzTargets"]),
        // The C API's tests, in C (run by Tests/MagmaTests/CABITests.swift).
        .executableTarget(
            name: "magma-c-tests", dependencies: ["MagmaC", "CMagma", "CTestChecks"],
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]
        ),
        // The checks and their tally that the C test programs share.
        .target(name: "CTestChecks", cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]),
        // What the C test programs of Mesa's API share beyond the checks (a memory type, a buffer).
        .target(name: "CMesaTestSupport", dependencies: ["CMagmaMesa", "CTestChecks"],
                cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]),
        // Mesa's API tested from C, on every device enumeration finds (run by Tests/MagmaTests/MesaCABITests.swift).
        .executableTarget(
            name: "magma-mesa-c-tests", dependencies: ["MagmaMesaC", "CMagmaMesa", "CTestChecks", "CMesaTestSupport"],
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]
        ),
        // Mesa's API under hostile and careless callers, from C (run by Tests/MagmaTests/MesaCHostileTests.swift).
        .executableTarget(
            name: "magma-mesa-c-hostile-tests", dependencies: ["MagmaMesaC", "CMagmaMesa", "CTestChecks", "CMesaTestSupport"],
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]
        ),
        // A kernel driver's dma-buf imported into the embedded device through the C API and used
        // by GPU work, in C (needs a DRM device: run in the QEMU guest by .ci/run).
        .executableTarget(
            name: "magma-c-dmabuf-tests", dependencies: ["MagmaC", "CMagma", "CTestChecks"],
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]
        ),
        // magma_poll when work fails, in C (run by Tests/MagmaTests/CFailureTests.swift).
        .executableTarget(
            name: "magma-c-failure-tests", dependencies: ["MagmaC", "CMagma", "CTestChecks"],
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]
        ),
        // The client library: the public API over one backend protocol. No backend inside.
        .target(name: "Magma", dependencies: ["MagmaProtocol", "MagmaPlatform", .product(name: "SystemPackage", package: "swift-system")]),
        // The adapter the Fuchsia-protocol backends share: objects and ids -> primary-protocol requests.
        .target(name: "MagmaPrimary", dependencies: ["Magma", "MagmaProtocol", "MagmaPlatform", .product(name: "SystemPackage", package: "swift-system")]),
        // The backend that runs MagmaSystem and a driver (any MSD) in the caller's process.
        .target(name: "MagmaEmbedded", dependencies: ["Magma", "MagmaPrimary", "MagmaSystem", "MagmaProtocol", "MagmaPlatform",
                                                     .product(name: "SystemPackage", package: "swift-system")]),
        // The backend that reaches a device served by magmad, over Unix sockets.
        .target(name: "MagmaSocket", dependencies: ["Magma", "MagmaPrimary", "MagmaWire", "MagmaProtocol", "MagmaPlatform",
                                                   .product(name: "SystemPackage", package: "swift-system")]),
        // The few Linux DRM uAPI structs and ioctl numbers MagmaDRM uses, with an ioctl wrapper.
        .target(name: "CMagmaDRM"),
        // The backend over Linux DRM render and card nodes: GEM buffers, PRIME dma-bufs, syncobjs.
        .target(name: "MagmaDRM", dependencies: ["Magma", "CMagmaDRM", "CMagmaLinux", "MagmaProtocol", "MagmaPlatform",
                                                .product(name: "SystemPackage", package: "swift-system")]),
        // Where a locator picks the backend (embedded + SoftGPU, magmad, ...): shared by
        // libmagma.so, magmactl and Swift programs.
        .target(name: "MagmaDevices", dependencies: ["Magma", "MagmaEmbedded", "MagmaSocket", "MagmaDRM", "MagmaVirtio", "MagmaSystem", "SoftGPU", "MagmaPlatform", "MagmaProtocol"]),
        .executableTarget(
            name: "magmactl",
            dependencies: ["MagmaDevices", "MagmaDRM", "SoftGPU", "MagmaBench", "MagmaPlatform", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // What several test targets share: seeded random numbers and the time limit of suites.
        .target(name: "MagmaTestSupport", path: "Tests/MagmaTestSupport"),
        .testTarget(
            name: "MagmaTests",
            dependencies: ["Magma", "MagmaDevices", "MagmaDRM", "MagmaPrimary", "MagmaEmbedded", "MagmaSocket", "SoftGPU", "MagmaPlatform", "CMagmaLinux", "MagmaServer", "MagmaSystem", "MagmaWire", "MagmaBench", "MagmaRing", "FuzzTargets",
                           "MagmaTestSupport", "MagmaGuestMemory", "MagmaVirtio", "MagmaVirtioHost", "MagmaVhostUser", .product(name: "Logging", package: "swift-log"),
                           .product(name: "SystemPackage", package: "swift-system")]
        ),
        // The core with no backend linked: a recording backend checks what reaches the backend protocol.
        .testTarget(name: "MagmaCoreTests", dependencies: ["Magma", "MagmaProtocol", "MagmaPlatform", "MagmaTestSupport",
                                                     .product(name: "SystemPackage", package: "swift-system")]),
        .testTarget(name: "MagmaSystemTests", dependencies: ["MagmaSystem", "MagmaPlatform", "MagmaTestSupport"]),
        .testTarget(name: "MagmaWireTests", dependencies: ["MagmaWire", "MagmaProtocol", "CMagma", "CMagmaMesa", "MagmaTestSupport",
                                                     .product(name: "SystemPackage", package: "swift-system")]),
        // The DRM backend against real kernel drivers: skipped without /dev/dri, run in the QEMU
        // guest by scripts/vm/run-guest-tests.sh --swift-tests MagmaDRMTests (docs/drm.md).
        .testTarget(name: "MagmaDRMTests", dependencies: ["Magma", "MagmaDRM", "MagmaDevices", "MagmaVirtio", "MagmaWire", "SoftGPU", "MagmaPlatform", "MagmaProtocol", "CMagmaDRM", "MagmaTestSupport",
                                                    .product(name: "SystemPackage", package: "swift-system")]),
        .testTarget(name: "MagmaRingTests", dependencies: ["MagmaRing", "MagmaPlatform", "MagmaTestSupport"]),
        .testTarget(name: "ProtocolGeneratorTests", dependencies: ["ProtocolGenerator"]),
        .testTarget(name: "MagmaVirtioHostTests", dependencies: ["MagmaVirtio", "MagmaVirtioHost", "MagmaDevices", "SoftGPU", "MagmaGuestMemory", "MagmaWire", "MagmaProtocol", "MagmaPlatform", "MagmaTestSupport", .product(name: "SystemPackage", package: "swift-system")]),
        .testTarget(name: "MagmaVhostUserTests", dependencies: ["MagmaVhostUser", "MagmaVirtioHost", "MagmaGuestMemory", "MagmaWire", "MagmaProtocol", "MagmaPlatform", "CMagmaLinux", "Magma", "MagmaDevices", "SoftGPU", "MagmaTestSupport"]),
        .testTarget(name: "MagmaGuestMemoryTests", dependencies: ["MagmaGuestMemory", "MagmaPlatform", "MagmaTestSupport"]),
        .testTarget(name: "SoftGPUTests", dependencies: ["SoftGPU", "MagmaSystem", "MagmaPlatform", "MagmaTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
