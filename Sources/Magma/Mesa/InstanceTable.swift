import MagmaPlatform
import MagmaProtocol

/// The core objects standing for one device object (a buffer, a sync object) in the address
/// spaces that use it. Each is imported into an address space's connection on first use there,
/// once, and released once: when the device object is released, or never if the address space
/// went first (its connection released everything with it).
final class InstanceTable<Instance: AnyObject & Sendable>: Sendable {
    private struct Entry {
        weak var space: AddressSpace?
        let instance: Instance
    }

    private struct State {
        var entries: [Entry] = []
        var isReleased = false
    }

    private let state = Locked(State())
    private let kind: String

    /// A table for device objects of `kind` ("buffer", "sync object"), for error messages.
    init(kind: String) { self.kind = kind }

    /// The instance in `space`, imported by `make` on first use. INVALID_ARGS once released.
    /// No lock is held while `make` imports (a send to magmad may wait for flow control): of
    /// two threads that import at once, one keeps its import and the other's is handed to
    /// `discard`, as is an import made while the object was released.
    func instance(in space: AddressSpace, make: () throws(MagmaError) -> Instance,
                  discard: (Instance) -> Void) throws(MagmaError) -> Instance {
        if let existing = try state.withLock({ (state) throws(MagmaError) -> Instance? in
            guard !state.isReleased else { throw .invalidArgs("\(kind) was already released") }
            return state.entries.first { $0.space === space }?.instance
        }) { return existing }
        let made = try make()
        let kept = state.withLock { state -> Instance? in
            guard !state.isReleased else { return nil }
            if let entry = state.entries.first(where: { $0.space === space }) { return entry.instance }
            state.entries.removeAll { $0.space == nil }
            state.entries.append(Entry(space: space, instance: made))
            return made
        }
        guard let kept else {
            discard(made)
            throw .invalidArgs("\(kind) was already released")
        }
        if kept !== made { discard(made) }
        return kept
    }

    /// Whether `space` has an instance (the object was used there).
    func hasInstance(in space: AddressSpace) -> Bool {
        state.withLock { state in state.entries.contains { $0.space === space } }
    }

    /// Every live instance, with its address space.
    var instances: [(space: AddressSpace, instance: Instance)] {
        state.withLock { state in state.entries.compactMap { entry in entry.space.map { ($0, entry.instance) } } }
    }

    /// Marks the object released and hands back its live instances, to release; INVALID_ARGS
    /// if it was released already.
    func release() throws(MagmaError) -> [(space: AddressSpace, instance: Instance)] {
        try state.withLock { (state) throws(MagmaError) -> [(space: AddressSpace, instance: Instance)] in
            guard !state.isReleased else { throw .invalidArgs("\(kind) was already released") }
            state.isReleased = true
            defer { state.entries = [] }
            return state.entries.compactMap { entry in entry.space.map { ($0, entry.instance) } }
        }
    }

    /// Whether the object was released.
    var isReleased: Bool { state.withLock { $0.isReleased } }

    /// Throws INVALID_ARGS once the object was released.
    func checkLive() throws(MagmaError) {
        if isReleased { throw .invalidArgs("\(kind) was already released") }
    }
}
