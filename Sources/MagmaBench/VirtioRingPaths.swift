import Foundation
import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaVirtio
@_spi(Benchmark) import MagmaVirtioHost
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

    /// `count` submissions on the queue ring, then a wait until the host applied them and
    /// SoftGPU completed their work (`finish`).
    func submitOnRing(_ count: Int) throws {
        for _ in 0..<count { _ = try rings.submit(submission, health: { nil }) }
        try rings.waitApplied(timeoutNanoseconds: 60_000_000_000)
        try finish()
    }

    /// `count` unfenced SUBMIT_3Ds of the submission (each a control round trip), then
    /// `finish`.
    func submitOnSocket(_ count: Int) throws {
        for _ in 0..<count { _ = try device.submit(payload, fenceOnRing: nil) }
        try finish()
    }

    /// One more submission, fenced, and a wait for its fence: SoftGPU runs a context's work in
    /// order, so once it signals every earlier submission's work has completed too. Every side
    /// of these rows ends so, none leaving a backlog that runs into the next measurement.
    func finish() throws {
        guard let fence = try device.submit(payload, fenceOnRing: 0) else { throw MagmaError.internalError("a fenced SUBMIT_3D without a fence") }
        guard try Poller.poll([PollRequest(descriptor: fence.pollDescriptor)], timeoutNanoseconds: 60_000_000_000).first == true else {
            throw MagmaError(.timedOut, "the closing fence did not signal in 60 s")
        }
    }

    func close() {
        device.close()
        server.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Submissions through the virtio command ring (issue 17: no system call while the host
/// consumer is awake) against the same submissions in SUBMIT_3D over the socket emulation
/// (one control round trip each, the host applying it before it answers); both end when
/// SoftGPU has completed the work (`VirtioBenchGuest.finish`).
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

    func runFloor() throws { try guest.submitOnSocket(operations) }

    func countRows() -> [BenchmarkResult] {
        [BenchmarkResult(path: "virtio ring wake_rings pings, \(measured) submissions", unit: "pings", count: "\(pings)")]
    }

    func close() { guest.close() }
}

/// The same virtio ring submissions against the floor of the same host work fed by the
/// cheapest shared memory: the same payload bytes through a plain shared buffer between two
/// threads (`RawRing`: no record header, checks, seqnos, status word, depends-on nor doorbell),
/// the consumer thread handing what each pass finds to a device model of its own (SoftGPU, one
/// context) to apply as the ring's consumer applies a drain's records
/// (`VirtioDeviceModel.applyWithoutRing`: one hold of its lock per pass, as a ring drain). Both
/// sides end with one fenced submission whose fence they wait for, so SoftGPU's work is in both,
/// and the ratio is what the ring's protocol costs on top of the work (issue 17's goal: 1.5x).
final class VirtioRingVersusRawRing: BenchmarkPath {
    let name = "virtio submission: command ring vs raw shared-memory ring, same host work (floor)"
    let unit = "submission"
    let operations: Int
    private let guest: VirtioBenchGuest
    private let raw: RawRing
    private let floorModel: VirtioDeviceModel

    init(operations: Int) throws {
        self.operations = operations
        guest = try VirtioBenchGuest()
        raw = try RawRing(size: VirtioRingTransport.ringSize, payloadBytes: guest.payload.count)
        floorModel = try VirtioDeviceModel(device: try Device.open(.inProcess(SoftGPUDriver())))
        let header = VirtioGPU.ControlHeader(type: 0, contextId: Self.floorContext)
        for command in [VirtioGPU.Command.contextCreate(contextInit: VirtioGPU.magmaCapsetId, debugName: Array("bench".utf8)),
                        .submit3D(commands: try VirtioContextCommand.payload([
                            .primary(.createContext(.init(contextId: 1, priority: .medium, queueFamily: 0)))]))] {
            let (_, response) = try VirtioGPU.decodeResponse(floorModel.perform(VirtioGPU.encode(header, command)).response)
            guard response == .okNoData else { throw MagmaError.internalError("floor's device model: \(command): \(response)") }
        }
    }

    private static let floorContext: UInt32 = 1
    private var fenceId: UInt64 = 1

    func runMagma() throws { try guest.submitOnRing(operations) }

    func runFloor() throws {
        let model = floorModel, context = Self.floorContext
        let failed = Locked(false)
        try raw.stream(guest.payload, count: operations) { payloads in
            if !model.applyWithoutRing(payloads, contextId: context) { failed.withLock { $0 = true } }
        }
        if failed.withLock({ $0 }) { throw MagmaError.internalError("the floor's device model refused a submission") }
        // Ends as the ring's side does (`VirtioBenchGuest.finish`): one fenced submission, its fence waited for.
        let header = VirtioGPU.ControlHeader(type: 0, flags: VirtioGPU.flagFence | VirtioGPU.flagInfoRingIndex, fenceId: fenceId,
                                             contextId: Self.floorContext, ringIndex: 0)
        fenceId += 1
        let result = floorModel.perform(VirtioGPU.encode(header, .submit3D(commands: guest.payload)))
        guard let completion = result.completion, completion.wait(timeoutNanoseconds: 60_000_000_000) else {
            throw MagmaError(.timedOut, "the floor's closing fence did not signal in 60 s")
        }
    }

    func close() {
        guest.close()
        floorModel.close()
    }
}

/// The virtio ring submissions against the floor of their bytes alone: the same payload
/// through `RawRing` to a thread that copies it out and applies nothing. The ring's side is the
/// whole pipeline (the host applying, SoftGPU running), so this ratio is far from 1: it says
/// how much of a submission's cost is the host's work rather than its transport.
final class VirtioRingVersusRawBytes: BenchmarkPath {
    let name = "virtio submission: command ring vs raw shared-memory ring, bytes only (floor)"
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
