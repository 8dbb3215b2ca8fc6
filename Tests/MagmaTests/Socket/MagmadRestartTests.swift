import Foundation
import Glibc
import MagmaTestSupport
import Testing

/// A magmad killed with SIGKILL leaves its socket files; the next one in the same directory
/// replaces them and serves.
@Suite(.serialized, .hangGuard) struct MagmadRestartTests {
    @Test func aRestartReplacesTheSocketsASIGKILLLeft() throws {
        let first = try BoundedDaemon()
        let counterPath = "\(first.directory)/gpu-performance-counters/000"
        kill(first.pid, SIGKILL)
        first.process.waitUntilExit()
        #expect(FileManager.default.fileExists(atPath: first.devicePath), "the device socket stays")
        #expect(FileManager.default.fileExists(atPath: counterPath), "the performance-counter socket stays")
        let second = try BoundedDaemon(directory: first.directory)
        #expect(answersQuery(second.devicePath), "the new magmad serves on the old path")
        #expect(demoBystanderSucceeds(second.devicePath))
        #expect(second.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: second.devicePath))
    }
}
