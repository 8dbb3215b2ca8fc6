import Foundation
import PackagePlugin

/// Makes `libmagma.so.1 -> libmagma.so` in the products folder of every build, so a program
/// linked against the build folder (its binary records the SONAME `libmagma.so.1`) starts
/// without the install script.
///
/// A build-tool plugin does not know the build's configuration, but the tool it runs is built
/// into that configuration's products folder (`.build/<triple>/<configuration>/`), where
/// `libmagma.so` is linked too: the link goes beside the tool. Its output is a Swift file with
/// only a comment, which SwiftPM compiles into the target the plugin serves; that is what makes
/// the build run the command.
@main
struct SonameLink: BuildToolPlugin {
    /// The library SwiftPM builds for the `magma` product.
    static let library = "libmagma.so"
    /// The SONAME `Package.swift` gives it.
    static let soname = "libmagma.so.1"

    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let tool = try context.tool(named: "magma-soname-link")
        let link = tool.url.deletingLastPathComponent().appending(path: Self.soname)
        let stamp = context.pluginWorkDirectoryURL.appending(path: "SonameLink.swift")
        return [.buildCommand(displayName: "Linking \(Self.soname) -> \(Self.library)", executable: tool.url,
                              arguments: [Self.library, link.path, stamp.path], outputFiles: [stamp])]
    }
}
