import ArgumentParser
import Foundation
import Logging
import MagmaPlatform
import MagmaProtocol
import MagmaServer
import MagmaSystem
import SoftGPU

/// magmad: the system driver process. Hosts MagmaSystem with SoftGPU and serves it to other
/// processes over Unix sockets until SIGTERM or SIGINT.
@main
struct Magmad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "magmad",
        abstract: "Serve a Magma device (SoftGPU) to client processes over Unix sockets.",
        version: MagmaVersion.description)

    @Option(help: "Runtime directory for the endpoints (default: $MAGMA_DEVICE_DIR, else $XDG_RUNTIME_DIR/magma, else /tmp/magma-<uid>).")
    var directory: String?

    @Option(help: "Name of the device endpoint, under <directory>/gpu/.")
    var deviceName = RuntimeDirectory.defaultDeviceName

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard !deviceName.isEmpty, !deviceName.contains("/"), deviceName != ".", deviceName != ".." else {
            throw ValidationError("--device-name must be a file name: not empty, no '/', not '.' or '..' (got '\(deviceName)')")
        }
    }

    func run() throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown log level \(logLevel)") }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        // Block the stop signals in every thread; the main thread waits for them below.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGTERM)
        sigaddset(&stopSignals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

        let directory = directory ?? RuntimeDirectory.current
        let server = MagmaServer(device: try SystemDevice(driver: SoftGPUDriver()),
                                 configuration: .init(directory: directory, deviceName: deviceName))
        try server.start()
        print("magmad: serving SoftGPU on \(server.devicePath)")
        print("magmad: performance counters on \(server.performanceCounterPath)")
        fflush(nil)

        var received: Int32 = 0
        sigwait(&stopSignals, &received)
        print("magmad: signal \(received), stopping")
        server.stop()
    }
}
