import MagmaPlatform

extension Timeline {
    /// The timeline's recorded failure as an error, or nil while healthy. A status a peer
    /// wrote that is no MagmaStatus (the page is writable by every holder) reads as
    /// CONTEXT_KILLED: the timeline failed either way.
    public var failure: MagmaError? {
        let raw = status
        guard raw != 0 else { return nil }
        let known = MagmaStatus(rawValue: raw)
        return MagmaError(known ?? .contextKilled, "work that was to signal the timeline failed (status \(raw))")
    }

    /// Records `status` (not ok) as the timeline's failure, unless it has one already.
    public func fail(_ status: MagmaStatus) {
        fail(status: status == .ok ? MagmaStatus.internalError.rawValue : status.rawValue)
    }

    /// `signal(to:)` with a refused point as INVALID_ARGS.
    public func signalPoint(_ point: UInt64) throws(MagmaError) {
        do { try signal(to: point) } catch {
            guard case .notAbove(let current) = error else { return }
            throw .invalidArgs("timeline point \(point) is not above its value \(current)")
        }
    }
}
