import Foundation
import Magma
import MagmaProtocol

/// A built tool (`magmactl`, `magmad`) run as a child process with a chosen environment, its
/// standard output and error collected in a file, and a deadline: a child that outlives it is
/// killed, so a test fails instead of hanging. A child still running when this goes away is
/// killed too.
final class ToolProcess {
    /// How a finished run ended.
    struct Outcome {
        /// The exit status (or the signal, if it was killed).
        var status: Int32
        /// Standard output and standard error, interleaved.
        var output: String
        /// Whether the deadline killed it.
        var timedOut: Bool
    }

    /// The environment a test's child starts from: this process's, without the variables that
    /// choose the runtime directory (so the rule is the test's own).
    static var environmentWithoutRuntimeDirectory: [String: String] {
        ProcessInfo.processInfo.environment.filter { $0.key != "MAGMA_DEVICE_DIR" && $0.key != "XDG_RUNTIME_DIR" }
    }

    /// The command line that runs a tool without the capabilities that let root ignore file
    /// permissions (`setpriv`), so a permission test means the same as root as it does for a user;
    /// nil where that is impossible (root without setpriv).
    static var withoutFileCapabilities: [String]? {
        guard getuid() == 0 else { return [] }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return nil }
        return ["/usr/bin/setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"]
    }

    let process = Process()
    private let log: URL

    /// Starts `tool` (a name built next to the tests) with `arguments`. `prefix` is a command
    /// line the tool runs under (for example `withoutFileCapabilities`).
    convenience init(_ tool: String, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
                     prefix: [String] = []) throws {
        try self.init(executable: try BuiltExecutables.url(tool), arguments, environment: environment, prefix: prefix)
    }

    /// Starts `executable` with `arguments`, under `prefix` if it is not empty.
    init(executable: URL, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
         prefix: [String] = []) throws {
        log = FileManager.default.temporaryDirectory.appending(path: "magma-tool-\(UUID().uuidString.prefix(8)).log")
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else {
            throw MagmaError(.internalError, "cannot create \(log.path)")
        }
        let output = try FileHandle(forWritingTo: log)
        defer { try? output.close() }
        if let launcher = prefix.first {
            process.executableURL = URL(filePath: launcher)
            process.arguments = Array(prefix.dropFirst()) + [executable.path] + arguments
        } else {
            process.executableURL = executable
            process.arguments = arguments
        }
        process.environment = environment
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: log)
    }

    /// What the child has written so far.
    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Waits for the child to exit, killing it after `timeoutSeconds`.
    func finish(timeoutSeconds: Double = 30) -> Outcome {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        let timedOut = process.isRunning
        if timedOut { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, output: output, timedOut: timedOut)
    }

    /// Runs `tool` (a name built next to the tests) to completion (or to the deadline).
    static func run(_ tool: String, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
                    prefix: [String] = [], timeoutSeconds: Double = 30) throws -> Outcome {
        try ToolProcess(tool, arguments, environment: environment, prefix: prefix).finish(timeoutSeconds: timeoutSeconds)
    }

    /// Runs `executable` to completion (or to the deadline).
    static func run(executable: URL, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
                    timeoutSeconds: Double = 30) throws -> Outcome {
        try ToolProcess(executable: executable, arguments, environment: environment).finish(timeoutSeconds: timeoutSeconds)
    }

    /// Waits until `path` exists (a daemon's endpoint); throws with the child's output if the
    /// child exits or 10 s pass first.
    func waitForFile(_ path: String) throws {
        guard eventually({ FileManager.default.fileExists(atPath: path) || !process.isRunning }),
              FileManager.default.fileExists(atPath: path) else {
            throw MagmaError(.timedOut, "\(path) did not appear; the child wrote: \(output)")
        }
    }

    /// SIGTERM, then the outcome.
    func stop() -> Outcome {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        return finish(timeoutSeconds: 10)
    }
}
