import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaTestSupport
@testable import SoftGPU
import Testing

/// SoftGPU's timelines through MagmaSystem: every import is released exactly once, work held
/// for a point keeps its timeline after the client released it, and a driver without
/// timelines refuses them.
@Suite(.hangGuard) struct TimelineDriverTests {
    private let device: SystemDevice
    private let softGPU: SoftGPUDevice
    private static let patience: UInt64 = 10_000_000_000

    init() throws {
        device = try SystemDevice(driver: SoftGPUDriver(configuration: SoftGPUConfiguration(computeThreads: 1)))
        softGPU = try #require(device.msd as? SoftGPUDevice)
    }

    private var heldTimelines: Int { softGPU.imported.timelines.load(ordering: .relaxed) }

    @Test func everyTimelineImportIsReleasedByReleaseOrClose() throws {
        let connection = try device.openConnection(trust: .trusted, sink: TimelineTestSink())
        connection.importTimeline(id: 1, timeline: try Timeline.create(initialValue: 0))
        connection.importTimeline(id: 2, timeline: try Timeline.create(initialValue: 0))
        #expect(heldTimelines == 2)
        connection.releaseTimeline(id: 1)
        #expect(heldTimelines == 1)
        #expect(connection.flush() == nil)
        connection.close()
        #expect(heldTimelines == 0)
    }

    @Test func aRejectedRequestReleasesTheTimelinesOnce() throws {
        let connection = try device.openConnection(trust: .trusted, sink: TimelineTestSink())
        connection.importTimeline(id: 1, timeline: try Timeline.create(initialValue: 0))
        connection.releaseTimeline(id: 1)
        connection.importTimeline(id: 2, timeline: try Timeline.create(initialValue: 0))
        connection.releaseTimeline(id: 1)   // released already: INVALID_ARGS closes the connection
        #expect(connection.flush()?.status == .invalidArgs)
        #expect(heldTimelines == 0)
    }

    @Test func heldWorkKeepsItsTimelinesAfterTheirRelease() throws {
        let connection = try device.openConnection(trust: .trusted, sink: TimelineTestSink())
        let timeline = try Timeline.create(initialValue: 0)
        connection.importTimeline(id: 1, timeline: timeline)
        connection.createContext(id: 1, priority: Priority.medium)
        connection.executeCommand(contextId: 1, descriptor: CommandDescriptor(
            resources: [], commandBuffers: [], waitTimelinePoints: [TimelinePoint(timelineId: 1, value: 1)],
            signalTimelinePoints: [TimelinePoint(timelineId: 1, value: 2)]))
        connection.releaseTimeline(id: 1)
        #expect(connection.flush() == nil && heldTimelines == 0)
        try timeline.signal(to: 1)
        let reached = try TimelineWatch(timeline, for: 2)
        #expect(try Poller.poll([PollRequest(descriptor: reached.descriptor)], timeoutNanoseconds: Self.patience) == [true])
        #expect(timeline.value == 2)
        connection.close()
    }

    @Test func destroyingAContextFailsTheTimelinesItsHeldWorkWasToSignal() throws {
        let connection = try device.openConnection(trust: .trusted, sink: TimelineTestSink())
        let waitedFor = try Timeline.create(initialValue: 0), signaled = try Timeline.create(initialValue: 0)
        connection.importTimeline(id: 1, timeline: waitedFor)
        connection.importTimeline(id: 2, timeline: signaled)
        connection.createContext(id: 1, priority: Priority.medium)
        connection.executeCommand(contextId: 1, descriptor: CommandDescriptor(
            resources: [], commandBuffers: [], waitTimelinePoints: [TimelinePoint(timelineId: 1, value: 1)],
            signalTimelinePoints: [TimelinePoint(timelineId: 2, value: 1)]))
        connection.destroyContext(id: 1)
        let settled = try TimelineWatch(signaled, for: 1)
        #expect(try Poller.poll([PollRequest(descriptor: settled.descriptor)], timeoutNanoseconds: Self.patience) == [true])
        #expect(signaled.failure?.status == .contextKilled && signaled.value == 0)
        #expect(waitedFor.failure == nil)
    }

    @Test func aHeadWaitingForSeveralPointsRunsOnceAllAreReachedInAnyOrder() throws {
        let connection = try device.openConnection(trust: .trusted, sink: TimelineTestSink())
        let waits = try (1...3).map { _ in try Timeline.create(initialValue: 0) }
        let done = try Timeline.create(initialValue: 0)
        for (index, timeline) in (waits + [done]).enumerated() { connection.importTimeline(id: ObjectId(index + 1), timeline: timeline) }
        connection.createContext(id: 1, priority: Priority.medium)
        connection.executeCommand(contextId: 1, descriptor: CommandDescriptor(
            resources: [], commandBuffers: [], waitTimelinePoints: (1...3).map { TimelinePoint(timelineId: ObjectId($0), value: 2) },
            signalTimelinePoints: [TimelinePoint(timelineId: 4, value: 1)]))
        #expect(connection.flush() == nil)
        for timeline in waits.reversed() {
            #expect(done.value == 0, "the work ran before all its points were reached")
            try timeline.signal(to: 1)
            try timeline.signal(to: 2)
        }
        let finished = try TimelineWatch(done, for: 1)
        #expect(try Poller.poll([PollRequest(descriptor: finished.descriptor)], timeoutNanoseconds: Self.patience) == [true])
        #expect(done.value == 1 && done.failure == nil)
        connection.close()
    }

    @Test func aDriverWithoutTimelinesRefusesThem() throws {
        let plain = try SystemDevice(driver: NoTimelinesDriver(base: SoftGPUDriver(configuration: SoftGPUConfiguration(computeThreads: 1))))
        let connection = try plain.openConnection(trust: .trusted, sink: TimelineTestSink())
        connection.importTimeline(id: 1, timeline: try Timeline.create(initialValue: 0))
        #expect(connection.flush()?.status == .unimplemented)
    }
}

/// SoftGPU's device without its timeline import: the MSD protocol's default answers.
private struct NoTimelinesDriver: MsdDriver {
    let base: SoftGPUDriver
    func createDevice() throws(MagmaError) -> any MsdDevice { NoTimelinesDevice(base: try base.createDevice()) }
}

private final class NoTimelinesDevice: MsdDevice {
    let base: any MsdDevice
    init(base: any MsdDevice) { self.base = base }
    var info: PhysicalDeviceInfo { base.info }
    func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer { try base.query(id) }
    func openConnection(clientId: UInt64, notifications: any MsdNotificationHandler) throws(MagmaError) -> any MsdConnection {
        try base.openConnection(clientId: clientId, notifications: notifications)
    }
    func importBuffer(memory: SharedMemory, id: ObjectId) throws(MagmaError) -> any MsdBuffer { try base.importBuffer(memory: memory, id: id) }
    func importSemaphore(event: EventSemaphore, id: ObjectId, flags: ImportSemaphoreFlags) throws(MagmaError) -> any MsdSemaphore {
        try base.importSemaphore(event: event, id: id, flags: flags)
    }
}

private final class TimelineTestSink: NotificationSink {
    func deliver(_ message: [UInt8]) {}
    func connectionClosed(_ error: MagmaError) {}
}
