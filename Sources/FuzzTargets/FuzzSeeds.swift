import MagmaProtocol
import MagmaWire
import SystemPackage

/// Seed inputs for the fuzz targets: a valid encoding of messages of every protocol, each behind
/// the target's selector byte.
public enum FuzzSeeds {
    private static let range = BufferRange(bufferId: 1, offset: 0, length: 4096)

    private static var end: [UInt8] { [0, 0, 0, 0, 8, 0, 0, 0] }

    private static var primary: [PrimaryProtocol.ClientMessage] {
        [
            .importObject(.init(object: WireHandle(FileDescriptor(rawValue: 0)), objectType: .buffer, objectId: 1, flags: [])),
            .importObject(.init(object: WireHandle(FileDescriptor(rawValue: 0)), objectType: .semaphore, objectId: 2, flags: [.oneShot])),
            .releaseObject(.init(objectId: 1, objectType: .buffer)),
            .createContext(.init(contextId: 1, priority: .medium)),
            .destroyContext(.init(contextId: 1)),
            .executeCommand(.init(contextId: 1, resources: [range], commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)],
                                  waitSemaphores: [], signalSemaphores: [2], flags: 0)),
            .executeInlineCommands(.init(contextId: 1, commands: [InlineCommand(data: end, semaphores: [2])])),
            .flush(.init()),
            .mapBuffer(.init(gpuAddress: 0x10000, range: range, flags: [.read, .write])),
            .unmapBuffer(.init(gpuAddress: 0x10000, bufferId: 1)),
            .bufferRangeOp(.init(op: .populateTables, range: range)),
            .enableFlowControl(.init()),
            .enablePerformanceCounterAccess(.init(accessToken: WireHandle(FileDescriptor(rawValue: 0)))),
            .isPerformanceCounterAccessAllowed(.init()),
            .enablePerformanceCounters(.init(counters: [15])),
            .createPerformanceCounterBufferPool(.init(poolId: 1, eventChannel: WireHandle(FileDescriptor(rawValue: 0)))),
            .releasePerformanceCounterBufferPool(.init(poolId: 1)),
            .addPerformanceCounterBufferOffsetsToPool(.init(poolId: 1, offsets: [range])),
            .removePerformanceCounterBufferFromPool(.init(poolId: 1, bufferId: 1)),
            .dumpPerformanceCounters(.init(poolId: 1, triggerId: 1)),
            .clearPerformanceCounters(.init(counters: [1])),
        ]
    }

    /// Decoder seeds: the handle count, then the message.
    public static func decoder() throws -> [[UInt8]] {
        let others: [EncodedMessage] = try [
            DeviceProtocol.ClientMessage.query(.init(queryId: .vendorId)).encoded(transactionId: 1),
            DeviceProtocol.ClientMessage.connect(.init(clientId: 1, primary: WireHandle(FileDescriptor(rawValue: 0)), notification: WireHandle(FileDescriptor(rawValue: 1)))).encoded(),
            DeviceProtocol.ServerMessage.queryReply(.init(status: .ok, value: 1, buffer: nil)).encoded(transactionId: 1),
            PrimaryProtocol.ServerMessage.epitaph(.init(status: .invalidArgs)).encoded(),
            NotificationProtocol.ServerMessage.notification(.init(data: [1, 2, 3])).encoded(),
        ]
        return try (primary.map { try $0.encoded(transactionId: 1) } + others).map { [UInt8($0.handles.count)] + $0.bytes }
    }

    /// Server seeds: streams of records (`ServerTarget`): each message alone behind the
    /// descriptors it needs (memfd for buffers, eventfd for semaphores and tokens, socket for
    /// pool channels); every message in one stream; flow control enabled, then enough messages
    /// for a consumed-messages report; an import whose descriptor is missing; a message past
    /// the size limit and one past the descriptor limit, each followed by a valid one.
    public static func server() throws -> [[UInt8]] {
        let records: [ServerTarget.Record] = try primary.map { message in
            let control: UInt8 = switch message {
            case .importObject(let request): request.objectType == .buffer ? 1 : 2
            case .enablePerformanceCounterAccess: 2
            case .createPerformanceCounterBufferPool: 8
            default: 0
            }
            return ServerTarget.Record(control: control, bytes: try message.encoded(transactionId: 1).bytes)
        }
        let flush = ServerTarget.Record(control: 0, bytes: try PrimaryProtocol.ClientMessage.flush(.init()).encoded(transactionId: 7).bytes)
        let enable = ServerTarget.Record(control: 0, bytes: try PrimaryProtocol.ClientMessage.enableFlowControl(.init()).encoded().bytes)
        let contextCycle = [records[3], records[4]]
        var missing = records[0]
        missing.control = 0
        var oversize = flush
        oversize.control = 0x10
        var crowded = records[1]
        crowded.control = 0x22
        let streams: [[ServerTarget.Record]] = records.map { [$0] } + [
            records,
            [enable] + Array(Array(repeating: contextCycle, count: 260).joined()) + [flush],
            [missing, flush],
            [oversize, flush],
            [crowded, flush],
        ]
        return streams.map { $0.flatMap(\.encoded) }
    }
}
