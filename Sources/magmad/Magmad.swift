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

    @Option(help: "Descriptors (buffers, semaphores, counter pools) one connection may hold.")
    var maxDescriptorsPerConnection = ConnectionLimits.untrusted.maxDescriptors

    @Option(help: "Descriptors all the connections of one client process may hold together.")
    var maxDescriptorsPerProcess = ServerLimits.standard.perProcess.maxDescriptors

    @Option(help: "Descriptors all the connections of one user may hold together.")
    var maxDescriptorsPerUser = ServerLimits.standard.perUser.maxDescriptors

    @Option(help: "Descriptors all connections may hold together; keep it below magmad's RLIMIT_NOFILE.")
    var maxDescriptors = ServerLimits.standard.total.maxDescriptors

    @Option(help: "Megabytes of buffer memory one client process may import (default: a quarter of physical memory).")
    var maxImportedMegabytesPerProcess = ServerLimits.standard.perProcess.maxImportedBytes >> 20

    @Option(help: "Megabytes of buffer memory one user may import (default: a quarter of physical memory).")
    var maxImportedMegabytesPerUser = ServerLimits.standard.perUser.maxImportedBytes >> 20

    @Option(help: "Megabytes of buffer memory all clients may import together: the client memory the GPU can fault in on magmad's behalf (default: half of physical memory).")
    var maxImportedMegabytes = ServerLimits.standard.total.maxImportedBytes >> 20

    @Option(help: "Megabytes of daemon memory one connection's pending (not yet completed) work may hold.")
    var maxPendingMegabytes = ConnectionLimits.untrusted.maxPendingBytes >> 20

    @Option(help: "Notifications queued for a connection whose client does not read them; past it the connection is closed.")
    var maxQueuedNotifications = ServerLimits.standard.maxQueuedNotifications

    @Option(help: "Megabytes of memory kept in reserve: below it (the machine's available memory or the daemon's memory cgroup's headroom) new connections and sessions are refused until memory is back; 0 for none.")
    var minAvailableMegabytes = ServerLimits.standard.minAvailableBytes >> 20

    @Option(help: "Device and performance-counter sessions open at once, in all.")
    var maxSessions = ServerLimits.standard.maxSessions

    @Option(help: "Sessions one client process may hold.")
    var maxSessionsPerProcess = ServerLimits.standard.maxSessionsPerProcess

    @Option(help: "Sessions one user may hold.")
    var maxSessionsPerUser = ServerLimits.standard.maxSessionsPerUser

    @Option(help: "Connections served at once, in all (each holds two descriptors; keep RLIMIT_NOFILE above twice this).")
    var maxConnections = ServerLimits.standard.maxConnections

    @Option(help: "Connections one client process may hold.")
    var maxConnectionsPerProcess = ServerLimits.standard.maxConnectionsPerProcess

    @Option(help: "Connections one user may hold.")
    var maxConnectionsPerUser = ServerLimits.standard.maxConnectionsPerUser

    @Option(help: "Worker threads that handle what clients send (default: the cores, at least 4); one event loop thread waits for all clients.")
    var workerThreads = MagmaServer.Configuration.defaultWorkerThreads

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
        var connectionLimits = ConnectionLimits.untrusted
        connectionLimits.maxDescriptors = maxDescriptorsPerConnection
        connectionLimits.maxPendingBytes = min(maxPendingMegabytes, .max >> 20) << 20
        var serverLimits = ServerLimits.standard
        serverLimits.perProcess.maxDescriptors = maxDescriptorsPerProcess
        serverLimits.perUser.maxDescriptors = maxDescriptorsPerUser
        serverLimits.total.maxDescriptors = maxDescriptors
        serverLimits.perProcess.maxImportedBytes = min(maxImportedMegabytesPerProcess, .max >> 20) << 20
        serverLimits.perUser.maxImportedBytes = min(maxImportedMegabytesPerUser, .max >> 20) << 20
        serverLimits.total.maxImportedBytes = min(maxImportedMegabytes, .max >> 20) << 20
        serverLimits.maxQueuedNotifications = maxQueuedNotifications
        serverLimits.minAvailableBytes = min(minAvailableMegabytes, .max >> 20) << 20
        serverLimits.maxSessions = maxSessions
        serverLimits.maxSessionsPerProcess = maxSessionsPerProcess
        serverLimits.maxSessionsPerUser = maxSessionsPerUser
        serverLimits.maxConnections = maxConnections
        serverLimits.maxConnectionsPerProcess = maxConnectionsPerProcess
        serverLimits.maxConnectionsPerUser = maxConnectionsPerUser
        let server = MagmaServer(device: try SystemDevice(driver: SoftGPUDriver()),
                                 configuration: .init(directory: directory, deviceName: deviceName,
                                                      connectionLimits: connectionLimits, serverLimits: serverLimits,
                                                      workerThreads: max(1, workerThreads),
                                                      stoppedByFailure: { kill(getpid(), SIGTERM) }))
        try server.start()
        print("magmad: serving SoftGPU on \(server.devicePath)")
        print("magmad: performance counters on \(server.performanceCounterPath)")
        fflush(nil)

        var received: Int32 = 0
        sigwait(&stopSignals, &received)
        if let failure = server.failure {
            print("magmad: \(failure); exiting")
            throw ExitCode(1)
        }
        print("magmad: signal \(received), stopping")
        server.stop()
    }
}
