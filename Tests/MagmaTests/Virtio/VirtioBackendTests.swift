import Magma
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import SoftGPU
import Testing

/// What the virtio backend does beyond the shared behaviour suites (TestBackends.swift).
@Suite("The virtio backend", .hangGuard)
struct VirtioBackendTests {
    let devices = TestDevices()

    @Test func aVirtioNameIsItsSocketPath() throws {
        guard case .virtio(let path) = DeviceLocator.named("virtio:/run/magma/vm0") else { Issue.record("not a virtio locator"); return }
        #expect(path == "/run/magma/vm0")
        let server = try VirtioTestServer(softGPU: SoftGPUConfiguration())
        let device = try Device.open(.named(DeviceLocator.virtioPrefix + server.server.path))
        #expect(try device.physicalDeviceInfo() == (try Device.open(.inProcess(SoftGPUDriver())).physicalDeviceInfo()))
        #expect(try GPUSession(device: device).fillsCorrectly(pattern: 0x77))
    }

    /// Each semaphore's mirror keeps a watch on the host; releasing it must end that watch, or
    /// a connection that makes many would run into the host's bound on pending fences.
    @Test func releasedSemaphoresHoldNothingOnTheHost() throws {
        let session = try devices.session(.virtio)
        for _ in 0..<1_200 {
            let semaphore = try session.connection.createSemaphore()
            try session.connection.release(semaphore)
        }
        try session.connection.flush()
        #expect(try session.fillsCorrectly(pattern: 0x1234))
    }

    /// Each pending timeline wait takes a fence ring of its own; a wait that ends (here, at its
    /// timeout) cancels its host wait and gives its ring back, so waits never run out, and
    /// many at once are MEMORY_ERROR past the rings, never a hang.
    @Test func timelineWaitsGiveTheirRingsBack() throws {
        let session = try devices.session(.virtio)
        let timeline = try session.connection.createTimelineSemaphore()
        for _ in 0..<200 { expectStatus(.timedOut) { try timeline.wait(for: 1, timeoutNanoseconds: 0) } }
        let points = (1...60).map { SyncPoint.timeline(timeline, UInt64($0)) }
        expectStatus(.memoryError) { try SyncWait.any(points, timeoutNanoseconds: 1_000_000) }
        // Waits for a late and an early point: the early one is not held back by the late one.
        let late = (1...58).map { SyncPoint.timeline(timeline, UInt64(100 + $0)) }
        try HostThread.spawn(name: "test.signal") { try? timeline.signal(to: 1) }
        #expect(try SyncWait.any(late + [.timeline(timeline, 1)], timeoutNanoseconds: 60_000_000_000).last == true)
        try session.connection.flush()
        #expect(try session.fillsCorrectly(pattern: 0x4321))
    }

    /// A CPU wait for a semaphore that faulting work would have signaled ends with the
    /// context's failure, which reaches the guest by its failure fence.
    @Test func aWaitEndsWithTheFailureOfTheWorkItWaitsFor() throws {
        let session = try devices.session(.virtio)
        let done = try session.connection.createSemaphore()
        var stream = CommandStream()
        stream.fill(address: 0x7000_0000, size: 4096, pattern: 1)   // nothing is mapped there
        stream.end()
        _ = try session.submit(stream, signals: [done])
        #expect(throws: MagmaError(.contextKilled)) { try SyncWait.all([.semaphore(done)], timeoutNanoseconds: 60_000_000_000) }
        #expect(session.connection.error?.status == .contextKilled)
    }
}
