import MagmaProtocol
import MagmaWire

/// Seed inputs for the fuzz targets: a valid encoding of messages of every protocol, each behind
/// the target's selector byte.
public enum FuzzSeeds {
    private static let range = BufferRange(bufferId: 1, offset: 0, length: 4096)

    private static var end: [UInt8] { [0, 0, 0, 0, 8, 0, 0, 0] }

    private static var primary: [PrimaryProtocol.ClientMessage] {
        [
            .importObject(.init(object: WireHandle(0), objectType: .buffer, objectId: 1, flags: [])),
            .importObject(.init(object: WireHandle(0), objectType: .semaphore, objectId: 2, flags: [.oneShot])),
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
            .enablePerformanceCounterAccess(.init(accessToken: WireHandle(0))),
            .isPerformanceCounterAccessAllowed(.init()),
            .enablePerformanceCounters(.init(counters: [15])),
            .createPerformanceCounterBufferPool(.init(poolId: 1, eventChannel: WireHandle(0))),
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
            DeviceProtocol.ClientMessage.connect(.init(clientId: 1, primary: WireHandle(0), notification: WireHandle(1))).encoded(),
            DeviceProtocol.ServerMessage.queryReply(.init(status: .ok, value: 1, buffer: nil)).encoded(transactionId: 1),
            PrimaryProtocol.ServerMessage.epitaph(.init(status: .invalidArgs)).encoded(),
            NotificationProtocol.ServerMessage.notification(.init(data: [1, 2, 3])).encoded(),
        ]
        return try (primary.map { try $0.encoded(transactionId: 1) } + others).map { [UInt8($0.handles.count)] + $0.bytes }
    }

    /// Server seeds: the descriptor mask (memfd for buffers, eventfd for semaphores and tokens,
    /// socket for pool channels), then the message.
    public static func server() throws -> [[UInt8]] {
        try primary.map { message in
            let mask: UInt8 = switch message {
            case .importObject(let request): request.objectType == .buffer ? 1 : 2
            case .enablePerformanceCounterAccess: 2
            case .createPerformanceCounterBufferPool: 8
            default: 0
            }
            return [mask] + (try message.encoded(transactionId: 1)).bytes
        }
    }
}
