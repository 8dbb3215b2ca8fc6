import Foundation
import MagmaDevices
import MagmaSocket
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import Testing

/// Synchronous calls to a magmad that does not answer (stopped with SIGSTOP, or a socket nobody
/// serves) end with TIMED_OUT after the call timeout instead of hanging.
@Suite(.serialized, .hangGuard) struct StoppedServerTests {
    static let bound: UInt64 = 300_000_000

    /// Runs `body` once every thread of magmad has stopped (SIGSTOP takes effect a moment
    /// after kill returns); magmad continues afterwards, whatever happens.
    func whileStopped(_ daemon: Daemon, _ body: () throws -> Void) rethrows {
        kill(daemon.pid, SIGSTOP)
        defer { kill(daemon.pid, SIGCONT) }
        #expect(eventually { allThreadsStopped(pid: daemon.pid) }, "magmad did not stop")
        try body()
    }

    @Test func callsToAStoppedMagmadTimeOutAndWorkOnceItContinues() throws {
        let daemon = try Daemon()
        _ = try openListening(daemon)
        let transport = try SocketDeviceTransport(path: daemon.devicePath, callTimeoutNanoseconds: Self.bound)
        let device = try Device.open(.backend(transport))
        let connection = try device.createConnection()
        try connection.flush()
        let endpoint = try #require(RuntimeDirectory.performanceCounterEndpoint(besideDevice: daemon.devicePath))
        whileStopped(daemon) {
            expectStatus(.timedOut) { _ = try device.queryValue(.vendorId) }
            expectStatus(.timedOut) { try connection.flush() }
            expectStatus(.timedOut) {
                _ = try Device.open(.backend(try SocketDeviceTransport(path: daemon.devicePath, callTimeoutNanoseconds: Self.bound)))
                    .createConnection()
            }
            expectStatus(.timedOut) {
                _ = try SocketDeviceTransport.performanceCounterToken(path: endpoint, callTimeoutNanoseconds: Self.bound)
            }
        }
        #expect(try device.queryValue(.vendorId) == 0x10F00, "the device channel works again")
        try connection.flush()
        #expect(connection.error == nil, "a timed-out flush leaves the connection as it was")
        #expect(daemon.stop() == 0)
    }

    @Test func aSocketNobodyServesTimesOut() throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "magma-silent-\(UUID().uuidString.prefix(8))").path
        let listener = try MessageSocket.listen(path: path, permissions: 0o600)
        defer {
            listener.shutdown()
            unlink(path)
        }
        let transport = try SocketDeviceTransport(path: path, callTimeoutNanoseconds: Self.bound)
        do {
            _ = try transport.query(.vendorId)
            Issue.record("the query was answered")
        } catch {
            #expect(error.status == .timedOut)
            #expect(error.message.contains(DeviceCallTimeout.environmentVariable), "\(error)")
        }
    }

    @Test func theEnvironmentSetsTheBoundForMagmactl() throws {
        let daemon = try Daemon()
        _ = try openListening(daemon)
        try whileStopped(daemon) {
            let info = Process()
            info.executableURL = try BuiltExecutables.url("magmactl")
            info.arguments = ["info", "--device", daemon.devicePath]
            info.environment = ProcessInfo.processInfo.environment.merging([DeviceCallTimeout.environmentVariable: "300"]) { $1 }
            let output = Pipe()
            info.standardOutput = output
            info.standardError = output
            try info.run()
            let ended = eventually(timeoutNanoseconds: 20_000_000_000) { !info.isRunning }
            if !ended { kill(info.processIdentifier, SIGKILL) }
            #expect(ended, "magmactl info still waits on a stopped magmad")
            guard ended else { return }
            info.waitUntilExit()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(info.terminationStatus != 0)
            #expect(text.contains("\(MagmaStatus.timedOut)"), "\(text)")
        }
        #expect(daemon.stop() == 0)
    }

    @Test func theEnvironmentVariableMeansMilliseconds() {
        #expect(DeviceCallTimeout.defaultNanoseconds == 5_000_000_000)
        #expect(DeviceCallTimeout.nanoseconds(milliseconds: "250") == 250_000_000)
        #expect(DeviceCallTimeout.nanoseconds(milliseconds: "0") == Poller.forever)
        #expect(DeviceCallTimeout.nanoseconds(milliseconds: "soon") == DeviceCallTimeout.defaultNanoseconds)
        #expect(DeviceCallTimeout.nanoseconds(milliseconds: nil) == DeviceCallTimeout.defaultNanoseconds)
    }
}
