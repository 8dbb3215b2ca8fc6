import MagmaPlatform
import MagmaProtocol

/// Performance counters: every request needs access, granted only by presenting the device's
/// token (`enablePerformanceCounterAccess`; ACCESS_DENIED otherwise, as Fuchsia's system driver
/// does). MagmaSystem checks access, pool ids, buffer ids and ranges, and keeps each pool's
/// event channel; the driver owns the counters, the pools' ranges and the dumps (a device
/// without counters answers UNIMPLEMENTED). Like every request, a rejected one closes the
/// connection.
extension SystemConnection {
    /// Replaces the set of counters dumps write (a bit set over counter indices).
    public func enablePerformanceCounters(_ counters: [UInt64]) {
        perform { [msd] state throws(MagmaError) in
            try Self.checkAccess(state)
            try msd.enablePerformanceCounters(counters)
        }
    }

    /// Sets the selected counters to zero, for the whole device.
    public func clearPerformanceCounters(_ counters: [UInt64]) {
        perform { [msd] state throws(MagmaError) in
            try Self.checkAccess(state)
            try msd.clearPerformanceCounters(counters)
        }
    }

    /// Creates a pool under a client-chosen id; its completion events go to `sink`.
    public func createPerformanceCounterPool(id: UInt64, sink: any PerformanceCounterEventSink) {
        perform { [msd, limits] state throws(MagmaError) in
            try Self.checkAccess(state)
            guard state.counterPools[id] == nil else { throw .invalidArgs("performance-counter pool \(id) already exists") }
            try state.checkRoom(within: limits)
            state.counterPools[id] = PerformanceCounterPoolEntry(pool: try msd.createPerformanceCounterPool(id: id), sink: sink)
        }
    }

    /// Releases a pool; no events follow.
    public func releasePerformanceCounterPool(id: UInt64) {
        perform { [msd] state throws(MagmaError) in
            try Self.checkAccess(state)
            let entry = try state.counterPool(id)
            state.counterPools[id] = nil
            msd.releasePerformanceCounterPool(entry.pool)
        }
    }

    /// Adds buffer ranges to a pool. The pool keeps the buffer even after it is released.
    public func addPerformanceCounterBufferRanges(pool: UInt64, ranges: [BufferRange]) {
        perform { [msd] state throws(MagmaError) in
            try Self.checkAccess(state)
            let entry = try state.counterPool(pool)
            let buffers = try ranges.map { (range) throws(MagmaError) -> any MsdBuffer in
                let buffer = try state.buffer(range.bufferId)
                let end = try RangeCheck.end(offset: range.offset, length: range.length, within: UInt64(buffer.memory.size), "counter range")
                guard range.length > 0, end <= UInt64(UInt32.max) else { throw .invalidArgs("counter range \(range.offset)+\(range.length)") }
                return buffer.buffer
            }
            for (range, buffer) in zip(ranges, buffers) {
                try msd.addPerformanceCounterRange(to: entry.pool, buffer: buffer, bufferId: range.bufferId,
                                                   offset: range.offset, length: range.length)
            }
        }
    }

    /// Removes every range of a buffer from a pool.
    public func removePerformanceCounterBuffer(pool: UInt64, bufferId: ObjectId) {
        perform { [msd] state throws(MagmaError) in
            try Self.checkAccess(state)
            msd.removePerformanceCounterBuffer(from: try state.counterPool(pool).pool, bufferId: bufferId)
        }
    }

    /// Has the driver write the enabled counters into the pool's oldest range, then reports the
    /// dump on the pool's event channel. Nothing is reported if the pool has no range.
    public func dumpPerformanceCounters(pool: UInt64, triggerId: UInt32) {
        var report: (any PerformanceCounterEventSink, PerformanceCounterCompletion)?
        perform { [msd] state throws(MagmaError) in
            try Self.checkAccess(state)
            let entry = try state.counterPool(pool)
            if let completion = try msd.dumpPerformanceCounters(entry.pool, triggerId: triggerId) { report = (entry.sink, completion) }
        }
        if let (sink, completion) = report { sink.readCompleted(completion) }
    }

    private static func checkAccess(_ state: ConnectionState) throws(MagmaError) {
        guard state.performanceCounterAccess else { throw .accessDenied("performance-counter access was not granted") }
    }
}
