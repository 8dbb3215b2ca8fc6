import Foundation
import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaVirtio
import MagmaVirtioHost
import MagmaWire
import SoftGPU

/// A guest of an in-process `magma-virtio-host` server (SoftGPU device) with its command rings
/// and one Magma context, and the submission both transports carry: one
/// `execute_inline_commands` of one end-of-stream command (the same bytes either way).
final class VirtioBenchGuest {
    let directory = FileManager.default.temporaryDirectory.appending(path: "magma-bench-virtio-\(UUID().uuidString.prefix(8))").path
    let server: VirtioSocketServer
    let device: VirtGPUSocketDevice
    let rings: VirtioRingTransport
    let submission: [VirtioContextCommand]
    let payload: [UInt8]

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        server = try VirtioSocketServer(path: directory + "/virtio.sock", device: try Device.open(.inProcess(SoftGPUDriver())))
        try server.start()
        device = try VirtGPUSocketDevice(path: directory + "/virtio.sock")
        try device.initializeContext(capsetId: VirtioGPU.magmaCapsetId, ringCount: 1)
        rings = try VirtioRingTransport(device: device)
        guard try rings.submit([.primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0)))], health: { nil }) else {
            throw MagmaError.internalError("create_context did not go on the creation ring")
        }
        var end = CommandStream()
        end.end()
        submission = [.primary(.executeInlineCommands(.init(contextId: 1, commands: [InlineCommand(data: end.bytes)])))]
        payload = try VirtioContextCommand.payload(submission)
    }

    /// `count` submissions on the queue ring, then a wait until the host applied them.
    func submitOnRing(_ count: Int) throws {
        for _ in 0..<count { _ = try rings.submit(submission, health: { nil }) }
        try rings.waitApplied(timeoutNanoseconds: 60_000_000_000)
    }

    func close() {
        device.close()
        server.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Submissions through the virtio command ring (issue 17: no system call while the host
/// consumer is awake) against the same submissions in SUBMIT_3D over the socket emulation
/// (one control round trip each, the host applying it before it answers).
final class VirtioRingVersusSocket: BenchmarkPath, ReportsCounts {
    let name = "virtio submission: command ring vs SUBMIT_3D socket (floor)"
    let unit = "submission"
    let operations: Int
    private let guest: VirtioBenchGuest
    private var pings = 0
    private var measured = 0

    init(operations: Int) throws {
        self.operations = operations
        guest = try VirtioBenchGuest()
    }

    func runMagma() throws {
        let before = guest.rings.pings
        try guest.submitOnRing(operations)
        pings += guest.rings.pings - before
        measured += operations
    }

    func runFloor() throws {
        for _ in 0..<operations { _ = try guest.device.submit(guest.payload, fenceOnRing: nil) }
    }

    func countRows() -> [BenchmarkResult] {
        [BenchmarkResult(path: "virtio ring wake_rings pings, \(measured) submissions", unit: "pings", count: "\(pings)")]
    }

    func close() { guest.close() }
}

/// The same virtio ring submissions against the floor of their bytes through a plain shared
/// buffer between two threads (`RawRing`: no record header, checks, seqnos, status, nor the
/// host applying the command).
final class VirtioRingVersusRawRing: BenchmarkPath {
    let name = "virtio submission: command ring vs raw shared-memory ring (floor)"
    let unit = "submission"
    let operations: Int
    private let guest: VirtioBenchGuest
    private let raw: RawRing

    init(operations: Int) throws {
        self.operations = operations
        guest = try VirtioBenchGuest()
        raw = try RawRing(size: VirtioRingTransport.ringSize, payloadBytes: guest.payload.count)
    }

    func runMagma() throws { try guest.submitOnRing(operations) }

    func runFloor() throws { try raw.stream(guest.payload, count: operations) }

    func close() { guest.close() }
}
