import Foundation
import PackagePlugin

/// Makes the SONAME link of a C library (`libmagma.so.1 -> libmagma.so`,
/// `libmagma_mesa.so.1 -> libmagma_mesa.so`) in the products folder of every build, so a
/// program linked against the build folder (its binary records the SONAME) starts without the
/// install script.
///
/// A build-tool plugin does not know the build's configuration, but the tool it runs is built
/// into that configuration's products folder (`.build/<triple>/<configuration>/`), where
/// the libraries are linked too: the link goes beside the tool. Its output is a Swift file with
/// only a comment, which SwiftPM compiles into the target the plugin serves; that is what makes
/// the build run the command.
@main
struct SonameLink: BuildToolPlugin {
    /// The library SwiftPM builds for each C API target, and the SONAME `Package.swift` gives it.
    static let libraries: [String: (library: String, soname: String)] = [
        "MagmaC": ("libmagma.so", "libmagma.so.1"),
        "MagmaMesaC": ("libmagma_mesa.so", "libmagma_mesa.so.1"),
    ]

    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let (library, soname) = Self.libraries[target.name] else {
            throw PluginError("SonameLink serves \(Self.libraries.keys.sorted()), not \(target.name)")
        }
        let tool = try context.tool(named: "magma-soname-link")
        let link = tool.url.deletingLastPathComponent().appending(path: soname)
        let stamp = context.pluginWorkDirectoryURL.appending(path: "SonameLink.swift")
        return [.buildCommand(displayName: "Linking \(soname) -> \(library)", executable: tool.url,
                              arguments: [library, link.path, stamp.path], outputFiles: [stamp])]
    }
}

/// A target the plugin does not know.
struct PluginError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
