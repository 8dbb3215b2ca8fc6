import ArgumentParser
import Foundation
import MagmaBench
import MagmaProtocol

/// The `magmactl` command: try the Magma stack from a shell.
struct MagmaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "magmactl",
        abstract: "Magma for Swift: a GPU system-call interface, with a reference GPU run on the CPU.",
        version: MagmaVersion.description,
        subcommands: [DemoCommand.self, InfoCommand.self, DevicesCommand.self, BenchCommand.self]
    )
}

// The other process of `bench`'s cross-process semaphore path.
if CommandLine.arguments.count == 4, CommandLine.arguments[1] == SemaphorePeer.argument, let rounds = Int(CommandLine.arguments[3]) {
    do { try SemaphorePeer.main(socketPath: CommandLine.arguments[2], rounds: rounds) } catch {
        print("semaphore peer: \(error)")
        exit(1)
    }
    exit(0)
}

// The other process of `bench`'s cross-process buffer path.
if CommandLine.arguments.count == 3, CommandLine.arguments[1] == BufferPeer.argument {
    do { try BufferPeer.main(socketPath: CommandLine.arguments[2]) } catch {
        print("buffer peer: \(error)")
        exit(1)
    }
    exit(0)
}

// The other process of the cross-process timeline tests.
if CommandLine.arguments.count == 3, CommandLine.arguments[1] == TimelinePeer.argument {
    do { try TimelinePeer.main(socketPath: CommandLine.arguments[2]) } catch {
        print("timeline peer: \(error)")
        exit(1)
    }
    exit(0)
}

// The other process (the producer) of the cross-process ring test.
if CommandLine.arguments.count == 5, CommandLine.arguments[1] == RingPeer.argument,
   let seed = UInt64(CommandLine.arguments[3]), let count = Int(CommandLine.arguments[4]) {
    do { try RingPeer.main(socketPath: CommandLine.arguments[2], seed: seed, count: count) } catch {
        print("ring peer: \(error)")
        exit(1)
    }
    exit(0)
}

// A client process of the many-clients rows (`bench --clients`).
if CommandLine.arguments.count == 7, CommandLine.arguments[1] == ClientPeer.argument,
   let connections = Int(CommandLine.arguments[3]), let rounds = Int(CommandLine.arguments[4]), let seed = UInt64(CommandLine.arguments[5]) {
    do {
        try ClientPeer.main(socketPath: CommandLine.arguments[2], connections: connections, rounds: rounds, seed: seed,
                            resultPath: CommandLine.arguments[6])
    } catch {
        print("client peer: \(error)")
        exit(1)
    }
    exit(0)
}

// A client that floods magmad for the flood rows (`bench --flood`); runs until killed.
if CommandLine.arguments.count == 5, CommandLine.arguments[1] == FloodPeer.argument {
    do { try FloodPeer.main(socketPath: CommandLine.arguments[2], kind: CommandLine.arguments[3], readyPath: CommandLine.arguments[4]) } catch {
        print("flood peer: \(error)")
        exit(1)
    }
    exit(0)
}

MagmaCommand.main()
