import Magma
import MagmaPlatform
import MagmaProtocol
import SoftGPU

/// One submission at a time, closed loop, in-process: the CPU signals the wait semaphore, submits
/// an end-only command buffer that waits on it and signals another, and waits for that one.
/// The floor hands the same wake to another thread and back through raw eventfds (signal, poll,
/// drain on each side): the least a submission that waits and signals can cost.
final class SemaphoreSubmit: BenchmarkPath {
    let name = "submit with 1 wait + 1 signal semaphore (in-process)"
    let unit = "submission"
    let operations: Int
    private let submissions: EndOnlySubmissions
    private let wait: Magma.Semaphore
    private let signal: Magma.Semaphore
    private let raw: PingPongSemaphores

    init(operations: Int) throws {
        self.operations = operations
        submissions = try EndOnlySubmissions()
        wait = try submissions.connection.createSemaphore()
        signal = try submissions.connection.createSemaphore()
        raw = try PingPongSemaphores()
    }

    func runMagma() throws {
        let (connection, context) = (submissions.connection, submissions.context)
        let descriptor = submissions.descriptor(waits: [wait], signals: [signal])
        for _ in 0..<operations {
            wait.signal()
            try connection.execute(on: context, descriptor)
            try Poll.wait([.semaphore(signal)], timeoutNanoseconds: Poller.forever)
            signal.reset()
        }
        if let error = connection.error { throw error }
        while (try? connection.readNotification()) != nil {}
    }

    func runFloor() throws {
        let rounds = operations
        let (ping, pong) = (raw.rawPing.descriptor.rawValue, raw.rawPong.descriptor.rawValue)
        let echo = try Worker(name: "bench-engine") { PingPong.serveRaw(ping: ping, pong: pong, rounds: rounds) }
        PingPong.driveRaw(ping: ping, pong: pong, rounds: rounds)
        echo.join()
    }

    func close() {
        submissions.connection.release()
        raw.connection.release()
    }
}
