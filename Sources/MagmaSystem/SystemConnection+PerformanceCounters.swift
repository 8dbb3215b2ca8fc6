import MagmaPlatform
import MagmaProtocol

/// Performance counters: every request needs access, granted only by presenting the device's
/// token (`enablePerformanceCounterAccess`; ACCESS_DENIED otherwise, as Fuchsia's system driver
/// does), and a device with counters (UNIMPLEMENTED otherwise). Like every request, a rejected
/// one closes the connection.
extension SystemConnection {
    /// Replaces the set of counters dumps write (a bit set over counter indices).
    public func enablePerformanceCounters(_ counters: [UInt64]) {
        perform { [device] state throws(MagmaError) in
            let source = try Self.counters(device, state)
            state.enabledCounters = try PerformanceCounterSet(words: counters, counterCount: source.count)
        }
    }

    /// Sets the selected counters to zero, for the whole device.
    public func clearPerformanceCounters(_ counters: [UInt64]) {
        perform { [device] state throws(MagmaError) in
            let source = try Self.counters(device, state)
            try PerformanceCounterSet(words: counters, counterCount: source.count).indices.forEach(source.clear)
        }
    }

    /// Creates a pool under a client-chosen id; its completion events go to `sink`.
    public func createPerformanceCounterPool(id: UInt64, sink: any PerformanceCounterEventSink) {
        perform { [device, limits] state throws(MagmaError) in
            _ = try Self.counters(device, state)
            guard state.counterPools[id] == nil else { throw .invalidArgs("performance-counter pool \(id) already exists") }
            try state.checkRoom(within: limits)
            state.counterPools[id] = PerformanceCounterPool(sink: sink)
        }
    }

    /// Releases a pool; no events follow.
    public func releasePerformanceCounterPool(id: UInt64) {
        perform { [device] state throws(MagmaError) in
            _ = try Self.counters(device, state)
            guard state.counterPools.removeValue(forKey: id) != nil else { throw .invalidArgs("unknown performance-counter pool \(id)") }
        }
    }

    /// Adds buffer ranges to a pool. The pool keeps the memory even after the buffer is released.
    public func addPerformanceCounterBufferRanges(pool: UInt64, ranges: [BufferRange]) {
        perform { [device] state throws(MagmaError) in
            _ = try Self.counters(device, state)
            guard state.counterPools[pool] != nil else { throw .invalidArgs("unknown performance-counter pool \(pool)") }
            let slots = try ranges.map { (range) throws(MagmaError) -> PerformanceCounterPool.Slot in
                let entry = try state.buffer(range.bufferId)
                let end = try RangeCheck.end(offset: range.offset, length: range.length, within: UInt64(entry.memory.size), "counter range")
                guard range.length > 0, end <= UInt64(UInt32.max) else { throw .invalidArgs("counter range \(range.offset)+\(range.length)") }
                return PerformanceCounterPool.Slot(bufferId: range.bufferId, memory: entry.memory, offset: range.offset, length: range.length)
            }
            state.counterPools[pool]?.slots += slots
        }
    }

    /// Removes every range of a buffer from a pool.
    public func removePerformanceCounterBuffer(pool: UInt64, bufferId: ObjectId) {
        perform { [device] state throws(MagmaError) in
            _ = try Self.counters(device, state)
            guard state.counterPools[pool] != nil else { throw .invalidArgs("unknown performance-counter pool \(pool)") }
            state.counterPools[pool]?.slots.removeAll { $0.bufferId == bufferId }
        }
    }

    /// Writes the enabled counters, one little-endian u64 each in counter order, into the pool's
    /// oldest range, then reports it to the pool's sink. Does nothing if the pool has no range.
    public func dumpPerformanceCounters(pool: UInt64, triggerId: UInt32) {
        var report: (any PerformanceCounterEventSink, PerformanceCounterCompletion)?
        perform { [device] state throws(MagmaError) in
            let source = try Self.counters(device, state)
            guard let entry = state.counterPools[pool] else { throw .invalidArgs("unknown performance-counter pool \(pool)") }
            guard let slot = entry.slots.first else { return }
            let enabled = state.enabledCounters.indices
            guard slot.length >= UInt64(8 * enabled.count) else {
                throw .invalidArgs("a counter range of \(slot.length) bytes cannot hold \(enabled.count) counters")
            }
            state.counterPools[pool]?.slots.removeFirst()
            let timestamp = Clock.monotonicNanoseconds()
            for (position, index) in enabled.enumerated() {
                slot.memory.base.storeBytes(of: source.value(index).littleEndian, toByteOffset: Int(slot.offset) + 8 * position, as: UInt64.self)
            }
            report = (entry.sink, PerformanceCounterCompletion(triggerId: triggerId, bufferId: slot.bufferId, bufferOffset: UInt32(slot.offset),
                                                               timestamp: timestamp, flags: []))
        }
        if let (sink, completion) = report { sink.readCompleted(completion) }
    }

    private static func counters(_ device: SystemDevice, _ state: ConnectionState) throws(MagmaError) -> any MsdPerformanceCounters {
        guard state.performanceCounterAccess else { throw .accessDenied("performance-counter access was not granted") }
        guard let counters = device.msd.performanceCounters else { throw .unimplemented("this device has no performance counters") }
        return counters
    }
}
