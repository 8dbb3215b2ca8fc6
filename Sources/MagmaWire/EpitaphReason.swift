import MagmaProtocol

extension PrimaryProtocol.Epitaph {
    /// The most bytes of UTF-8 a reason carries (the spec's bound of `primary.epitaph.reason`).
    public static let maxReasonBytes = 1024

    /// The epitaph of a connection that failed with `error`: its status, and its message cut
    /// at a character boundary to `maxReasonBytes` (ending in "..." when cut).
    public init(_ error: MagmaError) {
        self.init(status: error.status, reason: Self.bounded(error.message))
    }

    private static func bounded(_ message: String) -> String {
        guard message.utf8.count > maxReasonBytes else { return message }
        let marker = "..."
        var kept = ""
        for character in message {
            guard kept.utf8.count + character.utf8.count + marker.utf8.count <= maxReasonBytes else { break }
            kept.append(character)
        }
        return kept + marker
    }
}
