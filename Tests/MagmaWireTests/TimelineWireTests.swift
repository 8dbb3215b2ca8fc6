import MagmaProtocol
import MagmaWire
import Testing

/// execute_command version 2 carries timeline points; version 1 peers on either side still
/// interoperate (the points are absent, or dropped by a version 1 reader).
@Suite struct TimelineWireTests {
    typealias ExecuteCommand = PrimaryProtocol.ExecuteCommand

    private let withPoints = ExecuteCommand(
        contextId: 2, resources: [BufferRange(bufferId: 1, offset: 0, length: 4096)], commandBuffers: [],
        waitSemaphores: [7], signalSemaphores: [], flags: 0,
        waitTimelinePoints: [TimelinePoint(timelineId: 3, value: 10), TimelinePoint(timelineId: 4, value: .max)],
        signalTimelinePoints: [TimelinePoint(timelineId: 3, value: 11)])

    @Test func timelinePointsRoundTrip() throws {
        let encoded = try withPoints.encoded()
        #expect(try ExecuteCommand.decoded(bytes: encoded.bytes) == withPoints)
    }

    @Test func aVersion1SenderHasNoTimelinePoints() throws {
        let old = try withPoints.encoded(version: 1)
        var expected = withPoints
        expected.waitTimelinePoints = []
        expected.signalTimelinePoints = []
        #expect(try ExecuteCommand.decoded(bytes: old.bytes) == expected)
    }

    @Test func aVersion1ReaderDropsThem() throws {
        let newer = try withPoints.encoded()
        let read = try ExecuteCommand.decoded(bytes: newer.bytes, knownVersion: 1)
        #expect(read.waitTimelinePoints.isEmpty && read.signalTimelinePoints.isEmpty && read.waitSemaphores == [7])
    }

    @Test func aTimelineIsAnObjectType() {
        #expect(ObjectType(rawValue: 13) == .timeline)
    }
}
