import CMagmaLinux
import Glibc
import MagmaDevices
import MagmaPlatform

/// What both semaphore paths ping-pong with: two Magma semaphores on an embedded connection, and
/// two raw eventfds for the floor.
struct PingPongSemaphores {
    let connection: Connection
    let ping: Magma.Semaphore
    let pong: Magma.Semaphore
    let rawPing: EventSemaphore
    let rawPong: EventSemaphore

    init() throws {
        connection = try Device.open(.embedded).createConnection()
        ping = try connection.createSemaphore()
        pong = try connection.createSemaphore()
        rawPing = try EventSemaphore()
        rawPong = try EventSemaphore()
    }
}

/// The two sides of a semaphore ping-pong, through Magma (signal, poll, reset) and raw (eventfd
/// write, poll, read): the driver pings and waits for the pong; the server answers.
enum PingPong {
    static func driveMagma(ping: Magma.Semaphore, pong: Magma.Semaphore, rounds: Int) throws {
        for _ in 0..<rounds {
            ping.signal()
            try Poll.wait([.semaphore(pong)], timeoutNanoseconds: Poller.forever)
            pong.reset()
        }
    }

    static func serveMagma(ping: Magma.Semaphore, pong: Magma.Semaphore, rounds: Int) throws {
        for _ in 0..<rounds {
            try Poll.wait([.semaphore(ping)], timeoutNanoseconds: Poller.forever)
            ping.reset()
            pong.signal()
        }
    }

    static func driveRaw(ping: Int32, pong: Int32, rounds: Int) {
        for _ in 0..<rounds {
            _ = cmagma_eventfd_signal(ping)
            waitReadable(pong)
            _ = cmagma_eventfd_drain(pong)
        }
    }

    static func serveRaw(ping: Int32, pong: Int32, rounds: Int) {
        for _ in 0..<rounds {
            waitReadable(ping)
            _ = cmagma_eventfd_drain(ping)
            _ = cmagma_eventfd_signal(pong)
        }
    }

    /// poll(2) for one descriptor, forever.
    private static func waitReadable(_ fd: Int32) {
        var item = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = try? SystemCall.retrying("poll") { Glibc.poll(&item, 1, -1) }
    }
}
