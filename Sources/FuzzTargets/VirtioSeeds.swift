import MagmaPlatform
import MagmaProtocol
import MagmaWire
import SoftGPU

/// Seed inputs for the virtio target (`VirtioTarget`): valid sequences of control commands that
/// reach deep into the device model, so mutations start from there.
public enum VirtioSeeds {
    private static let page = SharedMemory.pageSize
    private static let context: UInt32 = 1
    private static let gpuAddress: UInt64 = 0x10_0000

    /// One control command as a record; `fence` sets FLAG_FENCE with that id, `ring` also FLAG_INFO_RING_IDX.
    private static func command(_ command: VirtioGPU.Command, context: UInt32 = 0, fence: UInt64? = nil, ring: UInt8? = nil,
                                waitForFence: Bool = false) -> ServerTarget.Record {
        var flags: UInt32 = fence == nil ? 0 : VirtioGPU.flagFence
        if ring != nil { flags |= VirtioGPU.flagInfoRingIndex }
        let header = VirtioGPU.ControlHeader(type: 0, flags: flags, fenceId: fence ?? 0, contextId: context, ringIndex: ring ?? 0)
        return ServerTarget.Record(control: waitForFence ? 2 : 0, bytes: VirtioGPU.encode(header, command))
    }

    private static func submit(_ commands: [VirtioContextCommand], fence: UInt64? = nil, ring: UInt8? = nil,
                               waitForFence: Bool = false) throws -> ServerTarget.Record {
        command(.submit3D(commands: try VirtioContextCommand.payload(commands)), context: context, fence: fence, ring: ring, waitForFence: waitForFence)
    }

    /// Bytes written into guest page `page` (a page below 64).
    private static func guestWrite(_ bytes: [UInt8], page: Int) -> ServerTarget.Record {
        ServerTarget.Record(control: UInt8(page << 2) | 1, bytes: bytes)
    }

    private static func reply(_ offset: UInt32) -> GuestReplyArea { GuestReplyArea(resourceId: 1, offset: offset, length: 512) }

    private static func entry(page: Int, pages: Int = 1) -> VirtioGPU.MemoryEntry {
        VirtioGPU.MemoryEntry(address: UInt64(page * Self.page), length: UInt32(pages * Self.page))
    }

    /// A context with resources 1 (replies, page 1), 2 (commands, page 2) and 3 (a blob of
    /// pages 9 and 5, the target): the setup every deep seed starts with.
    private static func setup() -> [ServerTarget.Record] {
        [
            command(.getCapsetInfo(index: 0)),
            command(.getCapset(id: VirtioGPU.magmaCapsetId, version: 0)),
            command(.contextCreate(contextInit: VirtioGPU.magmaCapsetId, debugName: Array("fuzz".utf8)), context: context, fence: 1),
            command(.resourceCreate3D(.buffer(id: 1, size: UInt32(page)))),
            command(.resourceAttachBacking(resourceId: 1, entries: [entry(page: 1)])),
            command(.contextAttachResource(resourceId: 1), context: context),
            command(.resourceCreate3D(.buffer(id: 2, size: UInt32(page)))),
            command(.resourceAttachBacking(resourceId: 2, entries: [entry(page: 2)])),
            command(.contextAttachResource(resourceId: 2), context: context),
            command(.resourceCreateBlob(VirtioGPU.Blob(resourceId: 3, memory: VirtioGPU.Blob.memoryGuest, flags: 0, blobId: 0,
                                                       size: UInt64(2 * page), entries: [entry(page: 9), entry(page: 5)]))),
            command(.contextAttachResource(resourceId: 3), context: context),
        ]
    }

    /// The seeds: a fill on the GPU into the blob, behind a semaphore wait; a fenced wait its
    /// signal releases, and a wait left pending at close; backing inside and outside the guest
    /// memory; a context failed by an unknown semaphore; teardown (detach, unref, destroy) fenced
    /// and not; each command alone; a semaphore and a timeline shared with a second context
    /// (export, import, use, release, an import of the dropped share, both contexts destroyed).
    public static func seeds() throws -> [[UInt8]] {
        var stream = CommandStream()
        stream.fill(address: gpuAddress, size: UInt64(2 * page), pattern: 0xF022_0001)
        stream.end()
        let buffers: [VirtioContextCommand] = [
            .virtio(.createBuffer(.init(resourceId: 2, memoryType: 0, bufferId: 20, reply: reply(0)))),
            .virtio(.createBuffer(.init(resourceId: 3, memoryType: 0, bufferId: 30, reply: reply(512)))),
            .virtio(.createSemaphore(.init(semaphoreId: 5))),
            .primary(.createContext(.init(contextId: 7, priority: .medium, queueFamily: 0))),
            .primary(.mapBuffer(.init(gpuAddress: gpuAddress, range: BufferRange(bufferId: 30, offset: 0, length: UInt64(2 * page)), flags: [.read, .write]))),
        ]
        let execute = VirtioContextCommand.primary(.executeCommand(.init(
            contextId: 7, resources: [BufferRange(bufferId: 20, offset: 0, length: UInt64(stream.bytes.count))],
            commandBuffers: [CommandBufferEntry(resourceIndex: 0, startOffset: 0)], waitSemaphores: [], signalSemaphores: [5],
            flags: 0, waitTimelinePoints: [], signalTimelinePoints: [])))
        let work: [ServerTarget.Record] = setup() + [
            guestWrite(stream.bytes, page: 2),
            try submit(buffers, fence: 2, waitForFence: true),
            try submit([.virtio(.waitSemaphores(.init(semaphoreIds: [5], waitAll: true, reply: reply(1024))))], fence: 3, ring: 0),
            try submit([execute, .virtio(.flush(.init(reply: reply(1536))))], fence: 4, ring: 1, waitForFence: true),
            try submit([.virtio(.query(.init(queryId: .totalTime, answerArea: reply(0), reply: reply(2048)))),
                        .virtio(.getMemoryBudget(.init(heap: 0, reply: reply(2560))))], fence: 5),
            try submit([.virtio(.watchFailure(.init(reply: reply(3072))))], fence: 6, ring: 2),
            try submit([.virtio(.waitSemaphores(.init(semaphoreIds: [5], waitAll: true, reply: reply(3584))))]),
        ]
        let teardown: [ServerTarget.Record] = [
            command(.contextDetachResource(resourceId: 3), context: context),
            command(.resourceDetachBacking(resourceId: 3)),
            command(.resourceUnref(resourceId: 3), fence: 7),
            command(.contextDestroy, context: context, fence: 8),
            command(.resourceUnref(resourceId: 2)),
        ]
        let outside: [ServerTarget.Record] = [
            command(.resourceCreate3D(.buffer(id: 4, size: UInt32(2 * page)))),
            command(.resourceAttachBacking(resourceId: 4, entries: [entry(page: VirtioTarget.guestPages - 1), entry(page: VirtioTarget.guestPages)])),
            command(.resourceCreateBlob(VirtioGPU.Blob(resourceId: 5, memory: VirtioGPU.Blob.memoryGuest, flags: 0, blobId: 0,
                                                       size: UInt64(page), entries: [entry(page: 1 << 20)]))),
        ]
        let failing: [ServerTarget.Record] = setup() + [
            try submit([.virtio(.watchFailure(.init(reply: reply(0))))], fence: 2, ring: 0),
            try submit([.virtio(.signalSemaphore(.init(semaphoreId: 77)))]),
            try submit([], fence: 3, ring: 1, waitForFence: true),
        ]
        let other: UInt32 = 2
        let sharing: [ServerTarget.Record] = setup() + [
            command(.contextCreate(contextInit: VirtioGPU.magmaCapsetId, debugName: []), context: other),
            command(.contextAttachResource(resourceId: 1), context: other),
            try submit([.virtio(.createSemaphore(.init(semaphoreId: 5))), .virtio(.createTimeline(.init(timelineId: 6, initialValue: 1))),
                        .virtio(.exportObject(.init(objectId: 5, objectType: .semaphore, shareId: 1, reply: reply(0)))),
                        .virtio(.exportObject(.init(objectId: 6, objectType: .timeline, shareId: 2, reply: reply(512))))], fence: 2),
            command(.submit3D(commands: try VirtioContextCommand.payload([
                .virtio(.importObject(.init(shareId: 1, objectType: .semaphore, objectId: 9, flags: [], reply: reply(1024)))),
                .virtio(.importObject(.init(shareId: 2, objectType: .timeline, objectId: 10, flags: [], reply: reply(1536)))),
                .virtio(.signalSemaphore(.init(semaphoreId: 9))),
                .virtio(.signalTimeline(.init(timelineId: 10, point: 4, reply: reply(2048)))),
            ])), context: other, fence: 3),
            try submit([.primary(.releaseObject(.init(objectId: 5, objectType: .semaphore))),
                        .virtio(.getTimelineState(.init(timelineId: 6, reply: reply(2560))))], fence: 4),
            command(.submit3D(commands: try VirtioContextCommand.payload([
                .virtio(.importObject(.init(shareId: 1, objectType: .semaphore, objectId: 11, flags: [], reply: reply(3072)))),
            ])), context: other, fence: 5),
            command(.contextDestroy, context: context, fence: 6),
            command(.contextDestroy, context: other),
        ]
        // New seeds go last, so the committed corpus files of the others keep their contents.
        let streams: [[ServerTarget.Record]] = [work, work + teardown, setup() + outside + teardown, failing] + (setup() + work + teardown).map { [$0] }
            + [sharing]
        return streams.map { $0.flatMap(\.encoded) }
    }
}
