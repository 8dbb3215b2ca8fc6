import ArgumentParser
import Glibc
import MagmaDevices
import MagmaGuestMemory
import MagmaPlatform
import MagmaProtocol
import MagmaVhostUser
import MagmaVirtioHost

/// magma-vhost-user-gpu: a vhost-user-gpu back-end (docs/vhost-user.md) for `--front-ends`
/// front-ends (1 by default): QEMU's `-device vhost-user-gpu-pci` connects to the socket; its
/// guest's virtio_gpu driver then runs Magma contexts on the host device. Each front-end (each
/// guest) has a device model of its own (its own memory table, contexts, resources, fences) over
/// the one host device, served at once. Exits once every front-end has come and gone (status 0),
/// or on SIGTERM / SIGINT.
@main
struct MagmaVhostUserGPUCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "magma-vhost-user-gpu",
        abstract: "Serve the virtio-gpu Magma device model to vhost-user front-ends (QEMU's vhost-user-gpu-pci).",
        version: MagmaVersion.description)

    @Option(help: "Where the front-ends connect (a Unix stream socket; it must not exist).")
    var socket: String

    @Option(help: "The host device: a name as magmactl --device takes (default: the embedded SoftGPU device).")
    var device = "embedded"

    @Option(help: "How many front-ends (guests) to serve, each with a device model of its own on the one host device.")
    var frontEnds = 1

    @Flag(help: "Print each request of the front-end as it is served.")
    var trace = false

    func validate() throws {
        guard frontEnds >= 1 else { throw ValidationError("--front-ends must be at least 1") }
    }

    func run() throws {
        let stopSignals = StopSignals.block()

        let host = try Device.open(DeviceLocator.named(device))
        let listener = try VhostUserListener(path: socket)
        defer { listener.close() }
        let stop = try HostStop(signals: stopSignals, listener: listener)
        print("magma-vhost-user-gpu: serving \(device) on \(socket)" + (frontEnds > 1 ? " to \(frontEnds) front-ends" : ""))
        fflush(nil)
        var served: [(session: VhostUserSession, gpu: VirtioGPUVhostDevice)] = []
        for index in 1...frontEnds {
            guard let channel = try? listener.accept() else { break }   // a signal closed the listener
            let memory = VhostUserMemoryTable()
            let gpu = try VirtioGPUVhostDevice(host: host, memory: memory.memory)
            let session = try VhostUserSession(channel: channel, backend: try VhostUserBackend(device: gpu, memory: memory),
                                               trace: trace ? Self.log(frontEnd: index) : nil)
            stop.sessions.withLock { $0.append(session) }
            served.append((session, gpu))
            if frontEnds > 1 { say("front-end \(index) connected") }
        }
        for (index, (session, gpu)) in served.enumerated() {
            _ = session.ended.wait(timeoutNanoseconds: Poller.forever)
            let which = frontEnds > 1 ? "front-end \(index + 1)" : "the front-end"
            if let reason = session.endReason {
                say("\(which) broke the protocol: \(reason)")
            } else {
                say("\(which) has gone")
            }
            if let held = gpu.heldAtClose {
                say("\(which)'s device model held \(held.before.contexts) contexts, \(held.before.resources) resources, \(held.before.pendingFences) pending fences; after its close \(held.after.contexts), \(held.after.resources), \(held.after.pendingFences)")
            }
        }
    }

    private func say(_ line: String) {
        print("magma-vhost-user-gpu: \(line)")
        fflush(nil)
    }

    private static func log(frontEnd: Int) -> @Sendable (String) -> Void {
        { line in
            print("magma-vhost-user-gpu[\(frontEnd)]: \(line)")
            fflush(nil)
        }
    }
}

/// Waits for a stop signal on a thread of its own, then ends the listener and every session.
final class HostStop: Sendable {
    let sessions = Locked<[VhostUserSession]>([])

    init(signals: StopSignals, listener: VhostUserListener) throws {
        try HostThread.spawn(name: "vhost-signals") { [self] in
            _ = signals.wait()
            listener.close()
            for session in sessions.withLock({ $0 }) { session.stop() }
        }
    }
}
