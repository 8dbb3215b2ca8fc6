// swift-tools-version: 6.1
// The ordo-one/benchmark suite, kept out of the main package so its build stays lean.
// Run from this directory: swift package benchmark
import Foundation
import PackageDescription

// A path dependency's identity is its directory's name, which depends on the checkout.
let root = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent()

let package = Package(
    name: "MagmaBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "MagmaPaths",
            dependencies: [
                .product(name: "MagmaBench", package: root.lastPathComponent),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "MagmaPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
