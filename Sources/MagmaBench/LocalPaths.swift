import CMagmaLinux
import Dispatch
import Glibc
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import SoftGPU

/// Signal-to-wake between two threads through Magma semaphores (signal, poll, reset), against
/// raw eventfds with the same syscalls. Half a ping-pong round trip is one signal-to-wake.
final class SemaphoreWake: BenchmarkPath {
    let name = "semaphore signal-to-wake (cross-thread)"
    let unit = "wake"
    let operations: Int
    private let semaphores: PingPongSemaphores

    init(operations: Int) throws {
        self.operations = operations
        semaphores = try PingPongSemaphores()
    }

    func runMagma() throws {
        let rounds = operations / 2
        let (ping, pong) = (semaphores.ping, semaphores.pong)
        let echo = try Worker(name: "bench-pong") { try? PingPong.serveMagma(ping: ping, pong: pong, rounds: rounds) }
        try PingPong.driveMagma(ping: ping, pong: pong, rounds: rounds)
        echo.join()
    }

    func runFloor() throws {
        let rounds = operations / 2
        let (ping, pong) = (semaphores.rawPing.descriptor.rawValue, semaphores.rawPong.descriptor.rawValue)
        let echo = try Worker(name: "bench-pong") { PingPong.serveRaw(ping: ping, pong: pong, rounds: rounds) }
        PingPong.driveRaw(ping: ping, pong: pong, rounds: rounds)
        echo.join()
    }

    func close() { semaphores.connection.release() }
}

/// Create a buffer, map it on the GPU, unmap it and release it (embedded device), against the
/// memfd syscalls that back a buffer: create, size, seal, mmap, munmap, close.
final class BufferLifecycle: BenchmarkPath {
    let name = "buffer create+map+unmap+release"
    let unit = "cycle"
    let operations: Int
    private let connection: Connection

    init(operations: Int) throws {
        self.operations = operations
        connection = try Device.open(.embedded).createConnection()
    }

    func runMagma() throws {
        for _ in 0..<operations {
            let buffer = try connection.createBuffer(size: 4096)
            try connection.map(buffer, at: 0x100_0000, flags: [.read, .write])
            try connection.unmap(buffer, at: 0x100_0000)
            try connection.release(buffer)
        }
        try connection.flush()
    }

    func runFloor() throws {
        for _ in 0..<operations {
            let fd = cmagma_memfd_create("floor")
            _ = ftruncate(fd, 4096)
            _ = cmagma_memfd_seal_size(fd)
            let mapped = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
            munmap(mapped, 4096)
            Glibc.close(fd)
        }
    }

    func close() { connection.release() }
}

/// Submitting work in-process (an end-only command buffer per submission, the last one
/// signalling a semaphore), against handing a closure to a serial queue per item and signalling
/// an eventfd after the last: the minimum to pass work to another thread and hear it is done.
final class SubmitOverhead: BenchmarkPath {
    let name = "in-process submit + execute"
    let unit = "submission"
    let operations: Int
    private let submissions: EndOnlySubmissions
    private let done: Magma.Semaphore
    private let queue = DispatchQueue(label: "bench-floor")
    private let finished: EventSemaphore

    init(operations: Int) throws {
        self.operations = operations
        submissions = try EndOnlySubmissions()
        done = try submissions.connection.createSemaphore()
        finished = try EventSemaphore()
    }

    func runMagma() throws {
        let (connection, context) = (submissions.connection, submissions.context)
        let plain = submissions.descriptor()
        let last = submissions.descriptor(signals: [done])
        for index in 0..<operations { try connection.execute(on: context, index == operations - 1 ? last : plain) }
        try Poll.wait([.semaphore(done)], timeoutNanoseconds: Poller.forever)
        done.reset()
        while (try? connection.readNotification()) != nil {}
    }

    func runFloor() throws {
        let finished = self.finished
        let count = operations
        for index in 0..<count {
            queue.async { if index == count - 1 { finished.signal() } }
        }
        _ = finished.wait(timeoutNanoseconds: Poller.forever)
        finished.reset()
    }

    func close() { submissions.connection.release() }
}
