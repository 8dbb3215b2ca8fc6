import Foundation
import Glibc
import Magma
import MagmaPlatform
import MagmaProtocol
import SoftGPU
import Testing

/// A magmad child started under low resource limits (`ulimit` in a shell that then execs it,
/// so the pid is magmad's), optionally inside a cgroup, with extra options.
final class BoundedDaemon {
    let process = Process()
    let directory: String
    var devicePath: String { "\(directory)/gpu/000" }
    var pid: Int32 { process.processIdentifier }
    private let logPath = FileManager.default.temporaryDirectory.appending(path: "magmad-bounded-\(UUID().uuidString.prefix(8)).log").path

    /// What magmad wrote to standard error (at log level notice and above).
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Starts magmad with at most `openFiles` descriptors, in `cgroup` if given, with `options`,
    /// serving in `directory` (a fresh temporary one by default).
    init(openFiles: Int = 1024, cgroup: TestCgroup? = nil, directory: String? = nil, options: [String] = []) throws {
        self.directory = directory ?? FileManager.default.temporaryDirectory.appending(path: "magmad-bounded-\(UUID().uuidString.prefix(8))").path
        let magmad = try BuiltExecutables.url("magmad").path
        let join = cgroup.map { "echo $$ > \($0.path)/cgroup.procs && " } ?? ""
        process.executableURL = URL(filePath: "/bin/sh")
        process.arguments = ["-c", "\(join)ulimit -n \(openFiles) && exec \"$0\" \"$@\"", magmad,
                             "--directory", self.directory, "--log-level", "notice"] + options
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: logPath)
        try process.run()
        // The endpoint appears only once magmad accepts on it (MessageSocket.listen). In a fresh
        // directory its file is the sign; waiting by connecting would leave a session of this
        // process open on the daemon for a moment, which tests of per-process bounds count. A
        // given directory may hold a dead daemon's socket: there, wait until one is accepted.
        let fresh = directory == nil
        guard eventually({ fresh ? FileManager.default.fileExists(atPath: devicePath) : (try? MessageSocket.connect(path: devicePath)) != nil }) else {
            throw MagmaError(.timedOut, "magmad does not listen on \(devicePath)")
        }
    }

    /// Whether the daemon process is still running.
    var isAlive: Bool { process.isRunning }

    /// SIGTERM, then the exit status (SIGKILL's if magmad has not exited 10 s later).
    func stop() -> Int32 { stopDaemon(process) }

    deinit {
        endDaemon(process, directory: directory)
        try? FileManager.default.removeItem(atPath: logPath)
    }
}

/// A cgroup v1 group under one controller (memory or pids), removed on deinit.
final class TestCgroup {
    let path: String

    /// Creates a group under `/sys/fs/cgroup/<controller>` and writes `settings` (file: value);
    /// nil where that is not possible here (no such controller, or no permission).
    init?(controller: String, settings: [String: String]) {
        let root = "/sys/fs/cgroup/\(controller)"
        guard access("\(root)/cgroup.procs", W_OK) == 0 else { return nil }
        path = "\(root)/magma-test-\(UUID().uuidString.prefix(8))"
        guard mkdir(path, 0o755) == 0 else { return nil }
        for (file, value) in settings {
            guard (try? value.write(toFile: "\(path)/\(file)", atomically: false, encoding: .utf8)) != nil else {
                rmdir(path)
                return nil
            }
        }
    }

    deinit {
        // The daemon has exited (its BoundedDaemon is released first); an empty group can go.
        _ = eventually(timeoutNanoseconds: 5_000_000_000) { rmdir(path) == 0 || errno == ENOENT }
    }
}

/// A well-behaved client of the daemon whose GPU fills are checked against the CPU.
final class Bystander {
    let session: GPUSession
    private let target: Buffer
    private let address: UInt64
    private var pattern: UInt32 = 1

    init(devicePath: String) throws {
        session = try GPUSession(device: try Device.open(.socket(devicePath)))
        (target, address) = try session.mappedBuffer(size: 4096)
    }

    /// Fills its buffer on the GPU with a new pattern; true if the fill completed within
    /// `timeoutNanoseconds` and reads back right.
    func fillVerified(timeoutNanoseconds: UInt64 = 10_000_000_000) throws -> Bool {
        pattern &+= 1
        var stream = CommandStream()
        stream.fill(address: address, size: 4096, pattern: pattern)
        stream.end()
        let done = try session.connection.createSemaphore()
        let commands = try session.submit(stream, signals: [done])
        try session.waitFor(done, timeoutNanoseconds: timeoutNanoseconds)
        try session.connection.release(done)
        try session.connection.release(commands)
        return try target.u32s(1024).allSatisfy { $0 == pattern }
    }
}

/// A bystander opened on a fresh connection that fills and verifies; false on any failure.
func freshBystanderSucceeds(_ devicePath: String) -> Bool {
    (try? Bystander(devicePath: devicePath).fillVerified()) == true
}
