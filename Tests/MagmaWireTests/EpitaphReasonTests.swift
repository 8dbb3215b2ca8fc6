import MagmaProtocol
import MagmaWire
import Testing

/// The epitaph carries the error's message, bounded, and an older peer's epitaph still decodes.
@Suite struct EpitaphReasonTests {
    func roundTrip(_ epitaph: PrimaryProtocol.Epitaph, version: UInt16 = PrimaryProtocol.Epitaph.version) throws -> PrimaryProtocol.Epitaph {
        let encoded = try epitaph.encoded(version: version)
        guard case .epitaph(let decoded) = try PrimaryProtocol.ServerMessage.decode(bytes: encoded.bytes).message else {
            throw MagmaError(.internalError, "not an epitaph")
        }
        return decoded
    }

    @Test func theReasonTravels() throws {
        let decoded = try roundTrip(PrimaryProtocol.Epitaph(MagmaError(.contextKilled, "read fault at 0x70000000")))
        #expect(decoded.status == .contextKilled)
        #expect(decoded.reason == "read fault at 0x70000000")
    }

    @Test func aLongReasonIsCutAtACharacterWithinTheBound() throws {
        let message = String(repeating: "é", count: 2000)   // two bytes each
        let epitaph = PrimaryProtocol.Epitaph(MagmaError(.badState, message))
        #expect(epitaph.reason.utf8.count <= PrimaryProtocol.Epitaph.maxReasonBytes)
        #expect(epitaph.reason.hasSuffix("..."))
        #expect(epitaph.reason.dropLast(3).allSatisfy { $0 == "é" })
        #expect(try roundTrip(epitaph).reason == epitaph.reason)
    }

    @Test func aVersionOneEpitaphHasNoReason() throws {
        let decoded = try roundTrip(PrimaryProtocol.Epitaph(MagmaError(.invalidArgs, "ignored by version 1")), version: 1)
        #expect(decoded.status == .invalidArgs)
        #expect(decoded.reason == "")
    }
}
