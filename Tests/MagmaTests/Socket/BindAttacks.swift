import MagmaPlatform
import MagmaProtocol
import MagmaWire
import SoftGPU

extension RawClient {
    /// Creates bind context 2 (SoftGPU's bind family) and sends a bind on it.
    func bind(_ operations: [BindOperation], context: UInt32 = 2, waits: [UInt64] = [], createContext: Bool = true) throws {
        if createContext { try send(.createContext(.init(contextId: 2, queueFamily: SoftGPUIdentity.bindFamily))) }
        try send(.bind(.init(contextId: context, operations: operations, waitSemaphores: waits, signalSemaphores: [],
                             waitTimelinePoints: [], signalTimelinePoints: [])))
    }
}

/// A bind message whose first operation's kind is `kind` (no such `BindOp`): the operation
/// names buffer 0x5A5A5A5A5A5A5A5A so that its bytes can be found, and the kind is the u32
/// 8 bytes before them (`BindOperation`'s wire layout).
private func bindWithOperationKind(_ kind: UInt32) throws -> [UInt8] {
    let marker: UInt64 = 0x5A5A_5A5A_5A5A_5A5A
    let message = PrimaryProtocol.ClientMessage.bind(.init(
        contextId: 2, operations: [.map(bufferId: marker, length: 4096, at: 0x100000, flags: .read)],
        waitSemaphores: [], signalSemaphores: [], waitTimelinePoints: [], signalTimelinePoints: []))
    var bytes = try message.encoded().bytes
    let pattern = withUnsafeBytes(of: marker.littleEndian) { Array($0) }
    guard let at = (0...(bytes.count - 8)).first(where: { Array(bytes[$0..<($0 + 8)]) == pattern }) else {
        throw MagmaError(.internalError, "the marker is not in the encoded bind")
    }
    withUnsafeBytes(of: kind.littleEndian) { bytes.replaceSubrange((at - 8)..<(at - 4), with: $0) }
    return bytes
}

/// What a hostile client does with the bind queue: each closes its connection with a typed
/// error, and the daemon keeps serving (HostileClientTests runs them with the others).
let bindAttacks: [Attack] = [
    Attack(name: "bind with an unknown operation kind", expected: .invalidArgs) { client in
        try client.send(.createContext(.init(contextId: 2, queueFamily: SoftGPUIdentity.bindFamily)))
        try client.raw(try bindWithOperationKind(7))
    },
    Attack(name: "bind with more operations than the wire allows", expected: .invalidArgs) { client in
        try client.send(.createContext(.init(contextId: 2, queueFamily: SoftGPUIdentity.bindFamily)))
        let message = PrimaryProtocol.ClientMessage.bind(.init(
            contextId: 2, operations: [.unmap(at: 0x100000, length: 4096)], waitSemaphores: [], signalSemaphores: [],
            waitTimelinePoints: [], signalTimelinePoints: []))
        try client.raw(try patchedMessage(message, at: 32 + 4, 1 << 30))   // the operations vector's count
    },
    Attack(name: "bind on an unknown context", expected: .invalidArgs) { client in
        try client.bind([.unmap(at: 0x100000, length: 4096)], context: 9)
    },
    Attack(name: "bind on a compute context", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1)
        try client.send(.createContext(.init(contextId: 1)))
        try client.bind([.map(bufferId: 1, length: 4096, at: 0x100000, flags: .read)], context: 1, createContext: false)
    },
    Attack(name: "bind an unknown buffer", expected: .invalidArgs) { client in
        try client.bind([.map(bufferId: 66, length: 4096, at: 0x100000, flags: .read)])
    },
    Attack(name: "bind at a misaligned address", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1)
        try client.bind([.map(bufferId: 1, length: 4096, at: 0x100010, flags: .read)])
    },
    Attack(name: "bind over an existing mapping", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1, pages: 2)
        try client.map(1, at: 0x100000)
        try client.bind([.map(bufferId: 1, offset: 4096, length: 4096, at: 0x100000, flags: .read)])
    },
    Attack(name: "bind an unmap that splits a mapping", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1, pages: 2)
        try client.map(1, at: 0x100000, length: 8192)
        try client.bind([.unmap(at: 0x101000, length: 4096)])
    },
    Attack(name: "release a buffer a queued bind maps", expected: .badState) { client in
        _ = try client.buffer(id: 1)
        try client.semaphore(id: 5)
        try client.bind([.map(bufferId: 1, length: 4096, at: 0x100000, flags: .read)], waits: [5])
        try client.send(.releaseObject(.init(objectId: 1, objectType: .buffer)))
    },
    // The connection fails with binds still queued: its teardown drops them (the harness
    // checks that the daemon's descriptors come back).
    Attack(name: "fail with binds queued on a semaphore", expected: .invalidArgs) { client in
        _ = try client.buffer(id: 1)
        try client.semaphore(id: 5)
        try client.bind([.map(bufferId: 1, length: 4096, at: 0x100000, flags: .read)], waits: [5])
        try client.bind([.unmap(at: 0x100000, length: 4096)], createContext: false)
        try client.send(.releaseObject(.init(objectId: 77, objectType: .buffer)))
    },
]
