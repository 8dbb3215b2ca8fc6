import Glibc
import MagmaPlatform
import MagmaProtocol

/// A child process started with posix_spawn (Foundation's `Process` fails under valgrind, which
/// the instruction counts of scripts/bench-instructions.sh need), waited for by `wait`.
struct PeerProcess {
    private let pid: pid_t

    /// Starts `executable` with `arguments` (not counting argv[0]) and this process's environment.
    init(executable: String, arguments: [String]) throws {
        let argv = ([executable] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let status = (argv + [nil]).withUnsafeBufferPointer { pointer in
            posix_spawn(&pid, executable, nil, nil, pointer.baseAddress!, environ)
        }
        guard status == 0 else { throw MagmaError(.internalError, "posix_spawn \(executable): \(String(cString: strerror(status)))") }
        self.pid = pid
    }

    /// Waits for the process to exit; returns its wait status (0: it exited with 0).
    @discardableResult
    func wait() -> Int32 {
        var status: Int32 = 0
        _ = try? SystemCall.retrying("waitpid") { waitpid(pid, &status, 0) }
        return status
    }

    /// Sends `signal` to the process.
    func kill(_ signal: Int32) { _ = Glibc.kill(pid, signal) }
}
