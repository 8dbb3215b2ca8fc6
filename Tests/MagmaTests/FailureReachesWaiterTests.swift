import Magma
import MagmaPlatform
import MagmaProtocol
import SoftGPU
import MagmaTestSupport
import Testing

/// Where failing work runs: the embedded device, or through a MagmaServer in this process.
enum FailureBackend: String, CaseIterable, CustomTestStringConvertible {
    case embedded
    case server

    var testDescription: String { rawValue }

    /// A device with a watchdog of `watchdogNanoseconds`, and what keeps it served.
    func open(watchdogNanoseconds: UInt64 = 2_000_000_000) throws -> (device: Device, keepAlive: AnyObject?) {
        switch self {
        case .embedded:
            let driver = SoftGPUDriver(configuration: SoftGPUConfiguration(watchdogNanoseconds: watchdogNanoseconds))
            return (try Device.open(.inProcess(driver)), nil)
        case .server:
            let server = try TestServer(watchdogNanoseconds: watchdogNanoseconds)
            return (try server.open(), server)
        }
    }
}

/// Ways to make submitted work fail. Each submits work that signals `done` only if it completes.
enum FailingWork: String, CaseIterable, CustomTestStringConvertible {
    /// A copy that reads an address nothing is mapped at.
    case unmappedRead
    /// A SoftGPU program that loads from an unmapped address.
    case programReadsUnmapped
    /// An opcode SoftGPU does not know.
    case illegalCommand
    /// A program that never ends, stopped by a short watchdog.
    case watchdogKill
    /// Work waiting on a gate when its context is destroyed.
    case destroyedContext

    var testDescription: String { rawValue }

    /// The watchdog the device needs for this failure.
    var watchdogNanoseconds: UInt64 { self == .watchdogKill ? 100_000_000 : 2_000_000_000 }

    /// Submits the failing work on `session`, to signal `done` on completion.
    func submit(on session: GPUSession, signaling done: Semaphore) throws {
        var stream = CommandStream()
        switch self {
        case .unmappedRead:
            let (_, target) = try session.mappedBuffer(size: 4096)
            stream.copy(from: 0x7000_0000, to: target, size: 4)
            stream.end()
            try session.submit(stream, signals: [done])
        case .programReadsUnmapped:
            let program = try session.loadProgram("""
                lane r0
                shli r1, r0, 2
                ld r2, a0, r1, 0
                end
                """)
            stream.dispatch(programAddress: program.address, programSize: program.size, workgroupCount: 1, workgroupSize: 32,
                            arguments: [0x7100_0000])
            stream.end()
            try session.submit(stream, signals: [done])
        case .illegalCommand:
            var bytes = CommandStream()
            bytes.end()
            let illegal = [0xFF, 0, 0, 0, 8, 0, 0, 0] + bytes.bytes
            let commands = try session.connection.createBuffer(size: UInt64(illegal.count))
            try commands.bytes.copyMemory(from: illegal.withUnsafeBytes { $0 })
            try session.connection.execute(on: session.context, CommandDescriptor(
                resources: [BufferRange(bufferId: commands.id, offset: 0, length: UInt64(illegal.count))],
                commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], signalSemaphores: [done.id]))
        case .watchdogKill:
            let program = try session.loadProgram(Kernels.infiniteLoop)
            stream.dispatch(programAddress: program.address, programSize: program.size, workgroupCount: 1, workgroupSize: 1, arguments: [])
            stream.end()
            try session.submit(stream, signals: [done])
        case .destroyedContext:
            let gate = try session.connection.createSemaphore()
            let context = try session.connection.createContext()
            stream.end()
            try session.submit(stream, waits: [gate], signals: [done], on: context)
            try session.connection.release(context)
        }
    }
}

/// Work that fails never signals its semaphores; every wait on the failed connection's objects
/// ends at once with the connection's error, the same way every time.
@Suite(.hangGuard) struct FailureReachesWaiterTests {
    /// Long enough that reaching it means the failure did not reach the waiter.
    static let longTimeout: UInt64 = 20_000_000_000
    static let repetitions = 5

    /// Runs `failure` `repetitions` times, each on a new connection, and returns what
    /// `wait` threw each time (stopping at the first outcome that differs from `expected`).
    func outcomes(_ failure: FailingWork, on backend: FailureBackend, expected: MagmaStatus,
                  wait: (GPUSession, Semaphore) throws -> Void) throws -> [String] {
        let (device, keepAlive) = try backend.open(watchdogNanoseconds: failure.watchdogNanoseconds)
        var seen: [String] = []
        try withExtendedLifetime(keepAlive) {
            for _ in 0..<Self.repetitions {
                let session = try GPUSession(device: device)
                let done = try session.connection.createSemaphore()
                try failure.submit(on: session, signaling: done)
                do {
                    try wait(session, done)
                    seen.append("no error")
                } catch let error as MagmaError {
                    seen.append("\(error.status)")
                }
                #expect(!done.isSignaled, "failed work signaled its semaphore")
                if seen.last != "\(expected)" { break }
            }
        }
        return seen
    }

    @Test(arguments: FailureBackend.allCases, FailingWork.allCases)
    func aSemaphoreWaitEndsWithContextKilled(_ backend: FailureBackend, _ failure: FailingWork) throws {
        let seen = try outcomes(failure, on: backend, expected: .contextKilled) { _, done in
            try Poll.wait([.semaphore(done)], timeoutNanoseconds: Self.longTimeout)
        }
        #expect(seen == Array(repeating: "\(MagmaStatus.contextKilled)", count: Self.repetitions))
    }

    @Test(arguments: FailureBackend.allCases, [FailingWork.unmappedRead, .illegalCommand, .destroyedContext])
    func withTheNotificationChannelItIsConnectionLost(_ backend: FailureBackend, _ failure: FailingWork) throws {
        let seen = try outcomes(failure, on: backend, expected: .connectionLost) { session, done in
            try Poll.wait([.semaphore(done), .notifications(session.connection)], timeoutNanoseconds: Self.longTimeout)
        }
        #expect(seen == Array(repeating: "\(MagmaStatus.connectionLost)", count: Self.repetitions))
    }

    @Test(arguments: FailureBackend.allCases)
    func theCauseStaysInTheMessage(_ backend: FailureBackend) throws {
        let (device, keepAlive) = try backend.open()
        try withExtendedLifetime(keepAlive) {
            let session = try GPUSession(device: device)
            let done = try session.connection.createSemaphore()
            try FailingWork.unmappedRead.submit(on: session, signaling: done)
            do {
                try Poll.wait([.semaphore(done), .notifications(session.connection)], timeoutNanoseconds: Self.longTimeout)
                Issue.record("the wait succeeded")
            } catch let error as MagmaError {
                #expect(error.status == .connectionLost)
                #expect(error.message.contains("\(MagmaStatus.contextKilled)"), "\(error)")
            }
        }
    }

    @Test(arguments: FailureBackend.allCases)
    func aSignaledSemaphoreOfAFailedConnectionStillReportsTheFailure(_ backend: FailureBackend) throws {
        let (device, keepAlive) = try backend.open()
        try withExtendedLifetime(keepAlive) {
            let session = try GPUSession(device: device)
            let early = try session.connection.createSemaphore()
            early.signal()
            let done = try session.connection.createSemaphore()
            try FailingWork.unmappedRead.submit(on: session, signaling: done)
            expectStatus(.contextKilled) { try Poll.wait([.semaphore(done)], timeoutNanoseconds: Self.longTimeout) }
            expectStatus(.contextKilled) { try Poll.wait([.semaphore(early)], timeoutNanoseconds: 0) }
        }
    }

    @Test(arguments: FailureBackend.allCases)
    func aPoolWaitEndsWithTheConnectionsError(_ backend: FailureBackend) throws {
        let (device, keepAlive) = try backend.open()
        try withExtendedLifetime(keepAlive) {
            let session = try GPUSession(device: device)
            try session.connection.enablePerformanceCounterAccess(token: try device.performanceCounterToken())
            let pool = try session.connection.createPerformanceCounterPool()
            let done = try session.connection.createSemaphore()
            try FailingWork.illegalCommand.submit(on: session, signaling: done)
            expectStatus(.contextKilled) { try Poll.wait([.performanceCounterPool(pool)], timeoutNanoseconds: Self.longTimeout) }
        }
    }

    @Test(arguments: FailureBackend.allCases)
    func releasingTheConnectionEndsAWaitOnItsSemaphore(_ backend: FailureBackend) throws {
        let (device, keepAlive) = try backend.open()
        try withExtendedLifetime(keepAlive) {
            let session = try GPUSession(device: device)
            let never = try session.connection.createSemaphore()
            session.connection.release()
            expectStatus(.badState) { try Poll.wait([.semaphore(never)], timeoutNanoseconds: Self.longTimeout) }
        }
    }

    @Test(arguments: FailureBackend.allCases)
    func aRejectedRequestEndsTheWaitWithItsStatus(_ backend: FailureBackend) throws {
        let (device, keepAlive) = try backend.open()
        try withExtendedLifetime(keepAlive) {
            let session = try GPUSession(device: device)
            let done = try session.connection.createSemaphore()
            let buffer = try session.connection.createBuffer(size: 4096)
            try session.connection.map(buffer, at: 0x1001, flags: .read)   // not page aligned: the epitaph
            expectStatus(.invalidArgs) { try Poll.wait([.semaphore(done)], timeoutNanoseconds: Self.longTimeout) }
        }
    }

    @Test func aServerThatStopsEndsTheWaitWithConnectionLost() throws {
        let server = try TestServer()
        let session = try server.session()
        let done = try session.connection.createSemaphore()
        try session.connection.flush()
        server.server.stop()
        expectStatus(.connectionLost) { try Poll.wait([.semaphore(done)], timeoutNanoseconds: Self.longTimeout) }
    }

    @Test func aHealthyConnectionStillTimesOutAndStillWakes() throws {
        let server = try TestServer()
        let session = try server.session()
        let done = try session.connection.createSemaphore()
        expectStatus(.timedOut) { try Poll.wait([.semaphore(done)], timeoutNanoseconds: 20_000_000) }
        // Flow-control events on the primary channel wake the wait; it keeps waiting.
        for _ in 0..<3 { try session.connection.flush() }
        var stream = CommandStream()
        stream.end()
        try session.submit(stream, signals: [done])
        #expect(try Poll.wait([.semaphore(done)], timeoutNanoseconds: Self.longTimeout) == [true])
    }
}
