import MagmaWire
import SystemPackage

/// The decoder fuzz target: the first byte picks how many handles come with the message (0...7);
/// the rest is the message, offered to every generated decoder. A trap is a bug; a `WireError`
/// is the expected answer to garbage.
public enum DecoderTarget {
    public static func run(_ input: [UInt8]) {
        guard let selector = input.first else { return }
        let handles = (0..<Int(selector & 7)).map { WireHandle(FileDescriptor(rawValue: Int32(100 + $0))) }
        let bytes = Array(input.dropFirst())
        _ = try? DeviceProtocol.ClientMessage.decode(bytes: bytes, handles: handles)
        _ = try? DeviceProtocol.ServerMessage.decode(bytes: bytes, handles: handles)
        _ = try? PrimaryProtocol.ClientMessage.decode(bytes: bytes, handles: handles)
        _ = try? PrimaryProtocol.ServerMessage.decode(bytes: bytes, handles: handles)
        _ = try? NotificationProtocol.ServerMessage.decode(bytes: bytes, handles: handles)
        _ = try? PerformanceCounterAccessProtocol.ClientMessage.decode(bytes: bytes, handles: handles)
        _ = try? PerformanceCounterAccessProtocol.ServerMessage.decode(bytes: bytes, handles: handles)
        _ = try? PerformanceCounterEventsProtocol.ServerMessage.decode(bytes: bytes, handles: handles)
    }
}
