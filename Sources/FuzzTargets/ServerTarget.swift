import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaServer
import MagmaSystem
import MagmaWire
import SoftGPU

/// The server fuzz target: an input is a client's byte stream on its primary channel, served by
/// the same `ServedConnection`, event loop and worker magmad uses (`ServingHarness`), one new
/// connection per input.
///
/// The input is a sequence of records, each a control byte, a little-endian 16-bit length and
/// that many message bytes (fewer at the end of the input). The control byte says what goes
/// with the message: bit 0 a sealed memfd, bit 1 an eventfd, bit 2 a pipe, bit 3 a socket;
/// bit 4 pads the message past the protocol's size limit, bit 5 sends more descriptors than
/// the protocol allows (both reach the server as truncated messages). After the records the
/// target sends a flush and reads the channel (replies, flow-control reports, an epitaph)
/// until the flush's reply or the end of the channel, then closes its ends and waits for the
/// server to release the connection. A trap is a bug: so is a server that neither answers the
/// flush nor ends the connection, or does not release it, within ten seconds.
public enum ServerTarget {
    private static let limits = ConnectionLimits(maxObjects: 256, maxImportedBytes: 1 << 24)
    private static let harness = try! ServingHarness(
        device: try! SystemDevice(driver: SoftGPUDriver(configuration: SoftGPUConfiguration(watchdogNanoseconds: 100_000_000))),
        limits: limits)
    private static let patience: UInt64 = 10_000_000_000
    private static let finalFlushId: UInt32 = 0xF1F1_F1F1

    /// One record of an input.
    public struct Record {
        /// Which descriptors and limit breaches go with the message.
        public var control: UInt8
        /// The message bytes.
        public var bytes: [UInt8]

        public init(control: UInt8, bytes: [UInt8]) {
            self.control = control
            self.bytes = bytes
        }

        /// The record as it appears in an input.
        public var encoded: [UInt8] {
            let length = UInt16(clamping: bytes.count)
            return [control, UInt8(length & 0xFF), UInt8(length >> 8)] + bytes.prefix(Int(length))
        }
    }

    /// Splits an input into its records.
    public static func records(_ input: [UInt8]) -> [Record] {
        var result: [Record] = []
        var index = 0
        while index < input.count {
            let control = input[index]
            let length = index + 2 < input.count ? Int(input[index + 1]) | Int(input[index + 2]) << 8 : 0
            let start = min(index + 3, input.count)
            let end = min(start + length, input.count)
            result.append(Record(control: control, bytes: Array(input[start..<end])))
            index = end
        }
        return result
    }

    public static func run(_ input: [UInt8]) {
        let client: ServingHarness.Client
        do { client = try harness.connect() } catch { fatalError("the harness cannot open a connection: \(error)") }
        var open = true
        for record in records(input) where open {
            open = send(record, on: client.primary)
        }
        if open, let flush = try? PrimaryProtocol.ClientMessage.flush(.init()).encoded(transactionId: finalFlushId) {
            open = (try? client.primary.send(flush.bytes)) != nil
        }
        if open { drain(client.primary) }
        client.primary.shutdown()
        client.notification.shutdown()
        precondition(client.waitEnded(timeoutNanoseconds: patience), "the server did not release the connection within 10 s")
    }

    /// Sends one record; returns false once the server has closed the channel.
    private static func send(_ record: Record, on socket: MessageSocket) -> Bool {
        var bytes = record.bytes
        if record.control & 0x10 != 0 { bytes += [UInt8](repeating: 0, count: ProtocolLimits.maxMessageBytes + 1 - min(bytes.count, ProtocolLimits.maxMessageBytes)) }
        var owned = descriptors(record.control)
        if record.control & 0x20 != 0, let event = try? EventSemaphore() {
            owned += (0...ProtocolLimits.maxHandles).compactMap { _ in
                let copy = dup(event.descriptor.rawValue)
                return copy >= 0 ? OwnedFileDescriptor(taking: copy) : nil
            }
        }
        do {
            try socket.send(bytes, descriptors: owned.map(\.fileDescriptor))
            return true
        } catch {
            // EMSGSIZE for a message larger than the socket takes; the channel stays open.
            return error.code == EMSGSIZE
        }
    }

    /// Reads the primary channel until the final flush's reply or its end.
    private static func drain(_ socket: MessageSocket) {
        while true {
            precondition(socket.waitReadable(until: Deadline(after: patience)),
                         "the server neither answered the flush nor ended the connection within 10 s")
            guard let datagram = try? socket.receive(capacity: ProtocolLimits.maxMessageBytes, wait: false) else { continue }
            guard case .message(let bytes, _, _) = datagram else { return }
            if let received = try? PrimaryProtocol.ServerMessage.decode(bytes: bytes, handles: []),
               case .flushReply = received.message, received.header.transactionId == finalFlushId {
                return
            }
        }
    }

    private static func descriptors(_ mask: UInt8) -> [OwnedFileDescriptor] {
        var result: [OwnedFileDescriptor] = []
        if mask & 1 != 0, let memory = try? SharedMemory.create(size: 4096), let descriptor = memory.descriptor { result.append(descriptor) }
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
