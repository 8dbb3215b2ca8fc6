import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaTestSupport
import SoftGPU
import Testing

/// SoftGPU waits for its submissions' semaphores itself: a waiting head holds back only its own
/// context, work behind it keeps its order, and a wait consumes its semaphore once.
@Suite(.hangGuard) struct SemaphoreWaiterTests {
    private let connection: SystemConnection
    private let device: SystemDevice
    private static let patience: UInt64 = 10_000_000_000

    init() throws {
        device = try SystemDevice(driver: SoftGPUDriver(configuration: SoftGPUConfiguration(computeThreads: 1)))
        connection = try device.openConnection(trust: .trusted, sink: IgnoringSink())
    }

    /// Imports a fresh semaphore under `id`.
    private func semaphore(_ id: ObjectId) throws -> EventSemaphore {
        let event = try EventSemaphore()
        connection.importSemaphore(id: id, event: event, flags: [])
        return event
    }

    /// Submits empty work on `context`.
    private func submit(_ context: UInt32, waits: [ObjectId] = [], signals: [ObjectId]) {
        connection.executeCommand(contextId: context, descriptor: CommandDescriptor(resources: [], commandBuffers: [],
                                                                                   waitSemaphores: waits, signalSemaphores: signals))
    }

    @Test func aWaitingHeadHoldsBackOnlyItsOwnContextAndKeepsItsOrder() throws {
        let gate = try semaphore(1), firstDone = try semaphore(2), secondDone = try semaphore(3), otherDone = try semaphore(4)
        connection.createContext(id: 1, priority: .medium)
        connection.createContext(id: 2, priority: .medium)
        submit(1, waits: [1], signals: [2])
        submit(1, signals: [3])
        submit(2, signals: [4])
        #expect(otherDone.wait(timeoutNanoseconds: Self.patience), "another context's work runs while the head waits")
        #expect(!firstDone.isSignaled)
        #expect(!secondDone.isSignaled, "work behind a waiting head stays queued")
        gate.signal()
        #expect(secondDone.wait(timeoutNanoseconds: Self.patience))
        #expect(firstDone.isSignaled, "the head ran before the work behind it")
        #expect(!gate.isSignaled, "the wait consumed the gate")
        #expect(connection.flush() == nil)
    }

    @Test func aSemaphoreListedTwiceIsWaitedForAndConsumedOnce() throws {
        let gate = try semaphore(1), firstDone = try semaphore(2), secondDone = try semaphore(3), otherDone = try semaphore(4)
        connection.createContext(id: 1, priority: .medium)
        connection.createContext(id: 2, priority: .medium)
        submit(1, waits: [1, 1], signals: [2])
        gate.signal()
        #expect(firstDone.wait(timeoutNanoseconds: Self.patience), "one signal satisfies both listings")
        #expect(!gate.isSignaled, "consumed")
        submit(1, waits: [1], signals: [3])
        submit(2, signals: [4])
        #expect(otherDone.wait(timeoutNanoseconds: Self.patience))
        #expect(!secondDone.isSignaled, "the next wait needs a new signal")
        gate.signal()
        #expect(secondDone.wait(timeoutNanoseconds: Self.patience))
        #expect(connection.flush() == nil)
    }

    @Test func destroyingAContextDropsItsWaitingWork() throws {
        _ = try semaphore(1)
        let done = try semaphore(2), behindDone = try semaphore(3)
        connection.createContext(id: 1, priority: .medium)
        submit(1, waits: [1], signals: [2])
        submit(1, signals: [3])
        connection.destroyContext(id: 1)
        let deadline = Clock.monotonicNanoseconds() + Self.patience
        while connection.error == nil, Clock.monotonicNanoseconds() < deadline { _ = done.wait(timeoutNanoseconds: 1_000_000) }
        #expect(connection.error?.status == .contextKilled, "dropped work completes with CONTEXT_KILLED")
        #expect(!done.isSignaled && !behindDone.isSignaled, "dropped work never signals")
    }
}

/// Drops what the system sends the client.
private final class IgnoringSink: NotificationSink {
    func deliver(_ message: [UInt8]) {}
    func connectionClosed(_ error: MagmaError) {}
}
