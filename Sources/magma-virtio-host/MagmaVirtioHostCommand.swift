import ArgumentParser
import Glibc
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaVirtioHost

/// magma-virtio-host: the virtio-gpu device model of Magma contexts, served over the socket
/// emulation (docs/virtio.md) until SIGTERM or SIGINT. Each guest that connects gets a device
/// model of its own over one host device.
@main
struct MagmaVirtioHostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "magma-virtio-host",
        abstract: "Serve the virtio-gpu Magma device model to guests over a SOCK_SEQPACKET socket (the socket emulation).",
        version: MagmaVersion.description)

    @Option(help: "Where guests connect.")
    var socket: String

    @Option(help: "The host device: a name as magmactl --device takes (default: the embedded SoftGPU device).")
    var device = "embedded"

    @Option(help: "Contexts one guest may hold at once.")
    var maxContexts = VirtioDeviceLimits().maxContexts

    @Option(help: "Resources one guest may hold at once.")
    var maxResources = VirtioDeviceLimits().maxResources

    func run() throws {
        let stopSignals = StopSignals.block()

        let host = try Device.open(DeviceLocator.named(device))
        let server = try VirtioSocketServer(path: socket, device: host,
                                            limits: VirtioDeviceLimits(maxContexts: maxContexts, maxResources: maxResources))
        try server.start()
        print("magma-virtio-host: serving \(device) on \(socket)")
        fflush(nil)
        let received = stopSignals.wait()
        print("magma-virtio-host: signal \(received), stopping")
        server.stop()
    }
}
