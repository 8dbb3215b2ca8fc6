import ArgumentParser
import Glibc
import MagmaDevices
import MagmaGuestMemory
import MagmaPlatform
import MagmaProtocol
import MagmaVhostUser
import MagmaVirtioHost

/// magma-vhost-user-gpu: a vhost-user-gpu back-end (docs/vhost-user.md) for ONE front-end:
/// QEMU's `-device vhost-user-gpu-pci` connects to the socket; its guest's virtio_gpu driver
/// then runs Magma contexts on the host device. Exits when the front-end goes (status 0), or on
/// SIGTERM / SIGINT.
@main
struct MagmaVhostUserGPUCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "magma-vhost-user-gpu",
        abstract: "Serve the virtio-gpu Magma device model to one vhost-user front-end (QEMU's vhost-user-gpu-pci).",
        version: MagmaVersion.description)

    @Option(help: "Where the front-end connects (a Unix stream socket; it must not exist).")
    var socket: String

    @Option(help: "The host device: a name as magmactl --device takes (default: the embedded SoftGPU device).")
    var device = "embedded"

    @Flag(help: "Print each request of the front-end as it is served.")
    var trace = false

    func run() throws {
        let stopSignals = StopSignals.block()

        let host = try Device.open(DeviceLocator.named(device))
        let listener = try VhostUserListener(path: socket)
        defer { listener.close() }
        let stop = try HostStop(signals: stopSignals, listener: listener)
        print("magma-vhost-user-gpu: serving \(device) on \(socket)")
        fflush(nil)
        guard let channel = try? listener.accept() else { return }   // a signal closed the listener
        let memory = VhostUserMemoryTable()
        let gpu = try VirtioGPUVhostDevice(host: host, memory: memory.memory)
        var log: (@Sendable (String) -> Void)?
        if trace {
            log = { line in
                print("magma-vhost-user-gpu: \(line)")
                fflush(nil)
            }
        }
        let session = try VhostUserSession(channel: channel, backend: try VhostUserBackend(device: gpu, memory: memory), trace: log)
        stop.session.withLock { $0 = session }
        _ = session.ended.wait(timeoutNanoseconds: Poller.forever)
        if let reason = session.endReason {
            print("magma-vhost-user-gpu: the front-end broke the protocol: \(reason)")
        } else {
            print("magma-vhost-user-gpu: the front-end has gone")
        }
        fflush(nil)
    }
}

/// Waits for a stop signal on a thread of its own, then ends the listener and the session.
final class HostStop: Sendable {
    let session = Locked<VhostUserSession?>(nil)

    init(signals: StopSignals, listener: VhostUserListener) throws {
        try HostThread.spawn(name: "vhost-signals") { [self] in
            _ = signals.wait()
            listener.close()
            session.withLock { $0 }?.stop()
        }
    }
}
