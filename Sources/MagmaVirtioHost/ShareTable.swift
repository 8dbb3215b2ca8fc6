import Magma
import MagmaProtocol

/// The semaphores and timelines one guest's contexts have shared (`export_object`), by the
/// guest's share ids. One table per device model, so only that guest's contexts can import
/// them; a share lasts while its object does in the exporting context (releasing it or
/// destroying the context drops it). Read and changed under the model's lock.
final class ShareTable: @unchecked Sendable {
    /// A shared host object.
    enum Object {
        case semaphore(Semaphore)
        case timeline(TimelineSemaphore)

        var type: ObjectType {
            switch self {
            case .semaphore: .semaphore
            case .timeline: .timeline
            }
        }
    }

    /// Who shared what.
    struct Share {
        let context: UInt32
        let objectId: UInt64
        let object: Object
    }

    private var shares: [UInt64: Share] = [:]
    /// The most shares one guest may hold at once.
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Records `share` under `id`: INVALID_ARGS for id 0 or one in use, MEMORY_ERROR past the limit.
    func add(_ share: Share, id: UInt64) throws(MagmaError) {
        guard id != 0 else { throw .invalidArgs("share id 0") }
        guard shares[id] == nil else { throw .invalidArgs("share id \(id) is in use in this guest") }
        guard shares.count < limit else { throw .memoryError("the guest holds \(limit) shares") }
        shares[id] = share
    }

    /// The share `id` of this guest; INVALID_ARGS if it holds none.
    func share(_ id: UInt64) throws(MagmaError) -> Share {
        guard let share = shares[id] else {
            throw .invalidArgs("share \(id) is not held by this guest (never exported, its object released or its context destroyed)")
        }
        return share
    }

    /// Drops the shares of object `objectId` of type `type` in `context` (it was released).
    func drop(context: UInt32, objectId: UInt64, type: ObjectType) {
        shares = shares.filter { !($0.value.context == context && $0.value.objectId == objectId && $0.value.object.type == type) }
    }

    /// Drops every share of `context` (it was destroyed).
    func drop(context: UInt32) { shares = shares.filter { $0.value.context != context } }

    /// Drops every share (the guest has gone).
    func removeAll() { shares = [:] }

    /// Shares held now.
    var count: Int { shares.count }
}
