import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
@testable import MagmaVirtioHost
import MagmaWire
import Testing

/// `VirtioDeviceModel.close()` waits for its watcher threads for a bounded time only.
@Suite("A device model's close is bounded", .hangGuard)
struct CloseBoundTests {
    @Test(.timeLimit(.minutes(1))) func closeReturnsPastItsTimeoutAndTheHeldThreadEndsLater() throws {
        let gate = try EventSemaphore()
        let exited = try EventSemaphore()
        let held = Locked(false)
        // The first watcher thread to end is held at the gate; the others end freely.
        let model = try VirtioDeviceModel(device: try VirtioGuest.device(),
                                          limits: VirtioDeviceLimits(closeTimeoutNanoseconds: 200_000_000)) {
            let first = held.withLock { wasHeld in defer { wasHeld = true }; return !wasHeld }
            guard first else { return }
            _ = gate.wait(timeoutNanoseconds: 30_000_000_000)
            exited.signal()
        }
        for id in UInt32(1)...2 {
            let header = VirtioGPU.ControlHeader(type: 0, contextId: id)
            let (_, response) = try VirtioGPU.decodeResponse(
                model.perform(VirtioGPU.encode(header, .contextCreate(contextInit: VirtioGPU.magmaCapsetId, debugName: []))).response)
            #expect(response == .okNoData)
        }
        // close() reports the one thread still running and returns; the model is closed.
        #expect(model.close() == 1)
        #expect(model.counts.contexts == 0 && model.counts.pendingFences == 0)
        #expect(!exited.isSignaled)
        // Let go, the detached thread ends on its own.
        gate.signal()
        #expect(exited.wait(timeoutNanoseconds: 20_000_000_000))
        #expect(model.close() == 0)
    }

    @Test(.timeLimit(.minutes(1))) func anUnheldCloseWaitsForEveryThread() throws {
        let exits = Locked(0)
        let model = try VirtioDeviceModel(device: try VirtioGuest.device(), watcherExit: { exits.withLock { $0 += 1 } })
        for id in UInt32(1)...3 {
            let header = VirtioGPU.ControlHeader(type: 0, contextId: id)
            _ = model.perform(VirtioGPU.encode(header, .contextCreate(contextInit: VirtioGPU.magmaCapsetId, debugName: [])))
        }
        #expect(model.close() == 0)
        #expect(exits.withLock { $0 } == 3)
    }
}
