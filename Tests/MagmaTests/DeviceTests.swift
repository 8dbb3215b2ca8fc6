import Magma
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

@Suite(.hangGuard, .drmBackend(.skipped(.softGPUQueries))) struct DeviceTests {
    let devices = TestDevices()

    @Test(arguments: TestBackend.virtioCases) func queriesReturnTheDriversIdentity(_ backend: TestBackend) throws {
        let device = try devices.open(backend)
        #expect(try device.queryValue(.vendorId) == SoftGPUIdentity.vendorId)
        #expect(try device.queryValue(.deviceId) == SoftGPUIdentity.deviceId)
        #expect(try device.queryValue(.vendorVersion) == SoftGPUIdentity.vendorVersion)
        #expect(try device.queryValue(.isTotalTimeSupported) == 1)
        #expect(try device.queryValue(SoftGPUIdentity.queryWaveWidth) == 32)
    }

    @Test(arguments: TestBackend.virtioCases) func maximumInflightParamsPackMessagesAndMegabytes(_ backend: TestBackend) throws {
        let value = try devices.open(backend).queryValue(.maximumInflightParams)
        #expect(value >> 32 == 1000)
        #expect(value & 0xFFFF_FFFF == 100)
    }

    @Test(.drmBackend(.runs), arguments: TestBackend.virtioCases) func unknownQueryIsInvalidArgs(_ backend: TestBackend) throws {
        let device = try devices.open(backend)
        expectStatus(.invalidArgs) { _ = try device.query(QueryId(rawValue: 4)) }
        expectStatus(.invalidArgs) { _ = try device.query(QueryId(rawValue: 99_999)) }
    }

    @Test(arguments: TestBackend.virtioCases) func totalTimeIsABufferResultThatGrowsWithWork(_ backend: TestBackend) throws {
        let device = try devices.open(backend, own: SoftGPUConfiguration())
        expectStatus(.invalidArgs) { _ = try device.queryValue(.totalTime) }
        let before = try device.totalTime()
        let session = try GPUSession(device: device)
        let (_, address) = try session.mappedBuffer(size: 1 << 20)
        var stream = CommandStream()
        stream.fill(address: address, size: 1 << 20, pattern: 7)
        try session.run(stream)
        let after = try device.totalTime()
        #expect(after.gpuTimeNanoseconds > before.gpuTimeNanoseconds)
        #expect(after.monotonicTimeNanoseconds > before.monotonicTimeNanoseconds)
    }

    @Test func embeddedIsOneSharedDevice() throws {
        let first = try GPUSession()
        let second = try GPUSession()
        // Work from two opens of .embedded shares one engine: both complete, each sees only
        // its own notifications.
        for session in [first, second] {
            let (buffer, address) = try session.mappedBuffer(size: 4096)
            var stream = CommandStream()
            stream.fill(address: address, size: 4096, pattern: 0xABCD)
            try session.run(stream)
            #expect(try buffer.u32(at: 4092) == 0xABCD)
            #expect(try session.notifications().count == 1)
        }
    }
}
