import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaServer
import MagmaSystem
import MagmaWire
import SoftGPU

/// The server fuzz target: the first byte picks which descriptors come with the message (bit 0 a
/// sealed memfd, bit 1 an eventfd, bit 2 a pipe, bit 3 a socket); the rest is a primary-channel
/// message, decoded and applied to a SoftGPU connection as magmad does. A failed connection is
/// replaced by a new one. A trap is a bug.
public enum ServerTarget {
    private final class NullSink: NotificationSink {
        func deliver(_ message: [UInt8]) {}
        func connectionClosed(_ error: MagmaError) {}
    }

    private static let limits = ConnectionLimits(maxObjects: 256, maxImportedBytes: 1 << 24)
    private static let device = try! SystemDevice(driver: SoftGPUDriver(configuration: SoftGPUConfiguration(watchdogNanoseconds: 100_000_000)))
    private static let connection = Locked<SystemConnection?>(nil)

    public static func run(_ input: [UInt8]) {
        guard let selector = input.first else { return }
        let owned = descriptors(selector)
        let bytes = Array(input.dropFirst())
        let target = connection.withLock { current in
            if current == nil || current?.error != nil {
                current?.close()
                current = try! device.openConnection(trust: .untrusted, limits: limits, sink: NullSink())
            }
            return current!
        }
        do {
            let received = try PrimaryProtocol.ClientMessage.decode(bytes: bytes, handles: owned.map { WireHandle($0.rawValue) })
            _ = PrimaryRequest(message: received.message, descriptors: owned).apply(to: target)
        } catch {
            target.fail(MagmaError(error))
        }
    }

    private static func descriptors(_ mask: UInt8) -> [OwnedFileDescriptor] {
        var result: [OwnedFileDescriptor] = []
        if mask & 1 != 0, let memory = try? SharedMemory.create(size: 4096) { result.append(memory.descriptor) }
        if mask & 2 != 0, let event = try? EventSemaphore() { result.append(event.descriptor) }
        if mask & 4 != 0 {
            var ends: [Int32] = [-1, -1]
            if pipe(&ends) == 0 {
                result.append(OwnedFileDescriptor(taking: ends[0]))
                close(ends[1])
            }
        }
        if mask & 8 != 0, let pair = try? MessageSocket.pair() { result.append(pair.0.descriptor) }
        return result
    }
}
