import ArgumentParser

/// The `magmactl` command: try the Magma stack from a shell.
struct MagmaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "magmactl",
        abstract: "Magma for Swift: a GPU system-call interface, with a reference GPU run on the CPU.",
        subcommands: [DemoCommand.self, InfoCommand.self, BenchCommand.self]
    )
}

MagmaCommand.main()
