import CMagmaLinux
import Glibc
import MagmaPlatform
import MagmaProtocol
import MagmaWire
import SystemPackage
import Testing

extension RawClient {
    /// Imports a new timeline at `initialValue` under `id`; returns it (the client's end).
    @discardableResult
    func timeline(id: UInt64, initialValue: UInt64 = 0) throws -> Timeline {
        let timeline = try Timeline.create(initialValue: initialValue)
        try importMemory(id: id, timeline.descriptor.fileDescriptor, type: .timeline)
        return timeline
    }

    /// Submits empty work on context 1 (created here) with timeline points.
    func executeEmpty(waitPoints: [TimelinePoint] = [], signalPoints: [TimelinePoint] = []) throws {
        try send(.createContext(.init(contextId: 1)))
        try send(.executeCommand(.init(contextId: 1, resources: [], commandBuffers: [], waitSemaphores: [], signalSemaphores: [], flags: 0,
                                       waitTimelinePoints: waitPoints, signalTimelinePoints: signalPoints)))
    }
}

/// A memfd of `pages` pages sealed as a timeline is, without the timeline magic.
private func fakeTimeline(pages: Int) -> Int32 {
    let fd = cmagma_memfd_create("fake-timeline")
    _ = ftruncate(fd, off_t(pages * SharedMemory.pageSize))
    _ = cmagma_memfd_seal_size(fd)
    _ = cmagma_memfd_seal_seals(fd)
    return fd
}

/// What a hostile client does with timelines: each closes its connection with a typed error,
/// and the daemon keeps serving (HostileClientTests runs them with the others).
let timelineAttacks: [Attack] = [
    Attack(name: "import a two-page memfd as a timeline", expected: .invalidArgs) { client in
        let fd = fakeTimeline(pages: 2)
        defer { close(fd) }
        try client.importMemory(id: 1, FileDescriptor(rawValue: fd), type: .timeline)
    },
    Attack(name: "import an unmarked sealed page as a timeline", expected: .invalidArgs) { client in
        let fd = fakeTimeline(pages: 1)
        defer { close(fd) }
        try client.importMemory(id: 1, FileDescriptor(rawValue: fd), type: .timeline)
    },
    Attack(name: "import an unsealed memfd as a timeline", expected: .invalidArgs) { client in
        let fd = memfdWithoutSeals()
        defer { close(fd) }
        try client.importMemory(id: 1, FileDescriptor(rawValue: fd), type: .timeline)
    },
    Attack(name: "import a buffer's memfd as a timeline", expected: .invalidArgs) { client in
        let memory = try SharedMemory.create(size: 4096)
        try client.importMemory(id: 1, try #require(memory.descriptor).fileDescriptor, type: .timeline)
    },
    Attack(name: "import an eventfd as a timeline", expected: .invalidArgs) { client in
        let event = try EventSemaphore()
        try client.importMemory(id: 1, event.descriptor.fileDescriptor, type: .timeline)
    },
    Attack(name: "import a timeline as a semaphore", expected: .invalidArgs) { client in
        let timeline = try Timeline.create(initialValue: 0)
        try client.importMemory(id: 1, timeline.descriptor.fileDescriptor, type: .semaphore)
    },
    Attack(name: "import timeline id 0", expected: .invalidArgs) { try $0.timeline(id: 0) },
    Attack(name: "import a timeline id twice", expected: .invalidArgs) { client in
        try client.timeline(id: 4)
        try client.timeline(id: 4)
    },
    Attack(name: "import a timeline one-shot", expected: .invalidArgs) { client in
        let timeline = try Timeline.create(initialValue: 0)
        try client.importMemory(id: 1, timeline.descriptor.fileDescriptor, type: .timeline, flags: .oneShot)
    },
    Attack(name: "release an unknown timeline", expected: .invalidArgs) { try $0.send(.releaseObject(.init(objectId: 77, objectType: .timeline))) },
    Attack(name: "release a timeline twice", expected: .invalidArgs) { client in
        try client.timeline(id: 2)
        try client.send(.releaseObject(.init(objectId: 2, objectType: .timeline)))
        try client.send(.releaseObject(.init(objectId: 2, objectType: .timeline)))
    },
    Attack(name: "execute waiting for an unknown timeline", expected: .invalidArgs) { client in
        try client.executeEmpty(waitPoints: [TimelinePoint(timelineId: 9, value: 1)])
    },
    Attack(name: "execute signaling an unknown timeline", expected: .invalidArgs) { client in
        try client.executeEmpty(signalPoints: [TimelinePoint(timelineId: 9, value: 1)])
    },
    // The page is the client's to write: a status that is no MagmaStatus must not trap the daemon.
    // Work waiting on a failed timeline can never run: it fails the connection.
    Attack(name: "wait for a timeline whose page holds a garbage status", expected: .contextKilled) { client in
        let timeline = try client.timeline(id: 3)
        timeline.fail(status: 0x7fff_1234)
        try client.executeEmpty(waitPoints: [TimelinePoint(timelineId: 3, value: 1)])
    },
]
