import MagmaPlatform
import MagmaProtocol

extension SystemConnection {
    /// Imports a timeline under a client-chosen id: the driver makes its timeline of the shared
    /// page. A used id or 0 is INVALID_ARGS; a driver without timelines, UNIMPLEMENTED.
    public func importTimeline(id: ObjectId, timeline: Timeline) {
        perform { [device, limits] state throws(MagmaError) in
            guard id != invalidObjectId else { throw .invalidArgs("timeline id 0") }
            guard state.timelines[id] == nil else { throw .invalidArgs("timeline id \(id) already imported") }
            try state.checkRoom(within: limits)
            state.timelines[id] = try device.msd.importTimeline(timeline, id: id)
        }
    }

    /// Releases a timeline: the driver's timeline is released. Work already submitted still
    /// waits for its points and signals them (the driver keeps it for that).
    public func releaseTimeline(id: ObjectId) {
        perform { state throws(MagmaError) in
            guard let timeline = state.timelines.removeValue(forKey: id) else { throw .invalidArgs("unknown timeline id \(id)") }
            timeline.release()
        }
    }
}
