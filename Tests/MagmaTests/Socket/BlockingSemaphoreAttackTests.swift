import CMagmaLinux
import Foundation
import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaWire
import SoftGPU
import MagmaTestSupport
import Testing

/// An eventfd made blocking, as a client can make one after importing it: O_NONBLOCK lives on
/// the open file description the daemon shares.
private func blockingEventfd(counter: UInt64 = 0) throws -> EventSemaphore {
    let event = try EventSemaphore()
    let fd = event.descriptor.rawValue
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
    if counter > 0 {
        var value = counter
        _ = write(fd, &value, 8)
    }
    return event
}

extension RawClient {
    /// Submits, on context 1, a command buffer that ends at once, signaling and waiting on
    /// the given semaphore ids; uses buffer id 50.
    func submitEmptyWork(waits: [UInt64] = [], signals: [UInt64] = []) throws -> SharedMemory {
        var stream = CommandStream()
        stream.end()
        let commands = try buffer(id: 50)
        commands.base.copyMemory(from: stream.bytes, byteCount: stream.bytes.count)
        try send(.createContext(.init(contextId: 1)))
        try execute(context: 1, resources: [BufferRange(bufferId: 50, offset: 0, length: 4096)], waits: waits, signals: signals)
        return commands
    }

    /// Sends a flush and reads up to its reply; true if it came within `timeoutNanoseconds`
    /// (the daemon handled everything before it).
    func flushed(timeoutNanoseconds: UInt64 = 10_000_000_000) throws -> Bool {
        try send(.flush(.init()), transactionId: 5)
        let deadline = Clock.monotonicNanoseconds() + timeoutNanoseconds
        while Clock.monotonicNanoseconds() < deadline {
            let left = deadline - min(deadline, Clock.monotonicNanoseconds())
            guard try Poller.poll([PollRequest(descriptor: primary.descriptor.fileDescriptor)], timeoutNanoseconds: left).first == true,
                  let message = try receive() else { return false }
            if case .flushReply = message { return true }
        }
        return false
    }
}

/// Issue 13, item 2: a client that clears O_NONBLOCK on a semaphore it shares with the daemon
/// cannot make any daemon thread block on it.
@Suite(.serialized, .hangGuard) struct BlockingSemaphoreAttackTests {
    @Test func signalAndResetNeverBlockOnABlockingEventfd() throws {
        let saturated = try EventSemaphore(importing: try blockingEventfd(counter: 0xFFFF_FFFF_FFFF_FFFE).descriptor.duplicate())
        saturated.signal()   // would sleep in write(2) until someone reads
        #expect(saturated.isSignaled)
        let empty = try EventSemaphore(importing: try blockingEventfd().descriptor.duplicate())
        empty.reset()        // would sleep in read(2) until someone writes
        #expect(!empty.isSignaled)
        empty.signal()
        #expect(empty.isSignaled)
        empty.reset()
        #expect(!empty.isSignaled)
    }

    @Test func aSaturatedBlockingSignalSemaphoreDoesNotStopTheEngine() throws {
        let daemon = try BoundedDaemon()
        let bystander = try Bystander(devicePath: daemon.devicePath)
        #expect(try bystander.fillVerified())
        let attacker = try RawClient(path: daemon.devicePath)
        let event = try EventSemaphore()
        try attacker.importMemory(id: 7, event.descriptor.fileDescriptor, type: .semaphore)
        let fd = event.descriptor.rawValue
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var nearlyFull: UInt64 = 0xFFFF_FFFF_FFFF_FFFE
        _ = write(fd, &nearlyFull, 8)
        let commands = try attacker.submitEmptyWork(signals: [7])
        #expect(try attacker.flushed())
        #expect(try bystander.fillVerified(), "the engine signalled the attacker's semaphore without blocking")
        #expect(try bystander.fillVerified())
        withExtendedLifetime(commands) {}
        #expect(daemon.stop() == 0)
    }

    @Test func aWaitSemaphoreListedTwiceDoesNotStopTheSemaphoreWaiter() throws {
        let daemon = try BoundedDaemon()
        let bystander = try Bystander(devicePath: daemon.devicePath)
        let attacker = try RawClient(path: daemon.devicePath)
        let event = try blockingEventfd(counter: 1)
        try attacker.importMemory(id: 8, event.descriptor.fileDescriptor, type: .semaphore)
        let commands = try attacker.submitEmptyWork(waits: [8, 8, 8])
        #expect(try attacker.flushed(), "the attacker's own connection still answers")
        #expect(try bystander.fillVerified(), "the semaphore waiter reset the semaphore once, without blocking")
        // The waiter consumes the semaphore on its own thread, after the bystander's work may have run.
        #expect(eventually { !event.isSignaled }, "the attacker's semaphore was consumed")
        #expect(try bystander.fillVerified())
        withExtendedLifetime(commands) {}
        #expect(daemon.stop() == 0)
    }
}
