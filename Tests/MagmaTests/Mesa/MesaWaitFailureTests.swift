import Dispatch
import Glibc
@testable import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import Synchronization
import Testing

/// A failure reaches whoever waits, also when the wait began before the failing address space
/// used the sync object: a CPU wait on a binary sync object ends with CONTEXT_KILLED once work
/// that was to signal it faults in an address space that first used it after the wait began.
@Suite(.hangGuard, .drmBackend(.skipped(.execution))) struct MesaWaitFailureTests {
    let devices = MesaTestDevices()

    @Test(arguments: TestBackend.virtioCases) func aWaitEndsWhenAnAddressSpaceThatStartedUsingItFails(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let done = try session.device.createSyncObject()
        let outcome = Mutex<MagmaError?>(nil)
        let ended = DispatchSemaphore(value: 0)
        try HostThread.spawn(name: "mesa-waiter") {
            do throws(MagmaError) { try done.wait(timeoutNanoseconds: 60_000_000_000) } catch { outcome.withLock { $0 = error } }
            ended.signal()
        }
        usleep(20_000)   // the wait has begun (and sees no address space using `done`)
        // Work that was to signal `done` faults: it fills an address nothing is mapped at.
        try session.submit(fillStream(address: 0x7F00_0000, size: 4096, pattern: 1), signals: [done])
        #expect(ended.wait(timeout: .now() + 20) == .success, "the wait did not end with the address space's failure")
        #expect(outcome.withLock { $0?.status } == .contextKilled)
        #expect(try session.queue.checkStatus() == .contextKilled)
    }
}
