import Magma
import MagmaTestSupport
import MagmaPlatform
import MagmaProtocol
import MagmaVirtioHost
import MagmaWire
import Testing

@Suite("The virtio-gpu device model: capset, contexts, resources, submissions and fences", .hangGuard)
struct DeviceModelTests {
    @Test func theCapsetDescribesTheHostDevice() throws {
        let device = try VirtioGuest.device()
        let guest = try VirtioGuest(device: device)
        let info = try guest.send(.getCapsetInfo(index: 0))
        guard case .okCapsetInfo(let id, let version, let size) = info.response else { Issue.record("\(info.response)"); return }
        #expect(id == 7 && version == 1)
        let answer = try guest.send(.getCapset(id: 7, version: 1))
        guard case .okCapset(let data) = answer.response else { Issue.record("\(answer.response)"); return }
        #expect(data.count == Int(size))
        let capset = try VirtioMagmaCapset(decoding: data)
        #expect(capset.protocolVersion == 1)
        #expect(capset.devices == [try device.physicalDeviceInfo()])
        #expect(capset.syncCapabilities.contains([.binarySemaphores, .cpuWait, .failureFence, .timelines]))
        #expect(capset.maxCommandBytes == UInt32(guest.model.limits.maxCommandBytes))
        #expect(try guest.send(.getCapsetInfo(index: 1)).response == .error(.errorInvalidParameter))
        #expect(try guest.send(.getCapset(id: 4, version: 1)).response == .error(.errorInvalidParameter))
        #expect(try guest.send(.getCapset(id: 7, version: 2)).response == .error(.errorInvalidParameter))
    }

    @Test func contextsAreCreatedOnceOfTheMagmaCapset() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        #expect(try guest.send(.contextCreate(contextInit: 7, debugName: []), context: 1).response == .error(.errorInvalidContextId))
        #expect(try guest.send(.contextCreate(contextInit: 7, debugName: []), context: 0).response == .error(.errorInvalidContextId))
        #expect(try guest.send(.contextCreate(contextInit: 4, debugName: []), context: 2).response == .error(.errorInvalidParameter))
        try guest.ok(.contextCreate(contextInit: 0, debugName: []), context: 2)
        #expect(guest.model.counts.contexts == 2)
        try guest.ok(.contextDestroy, context: 2)
        #expect(try guest.send(.contextDestroy, context: 2).response == .error(.errorInvalidContextId))
        #expect(try guest.send(.submit3D(commands: []), context: 9).response == .error(.errorInvalidContextId))
        #expect(guest.model.counts.contexts == 1)
    }

    /// Found by fuzz-virtio: the fence of an accepted command other than SUBMIT_3D never
    /// completed, so it and every later fence of its timeline hung the guest.
    @Test func theFenceOfACommandDoneAtOnceCompletes() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        let created = try guest.send(.contextCreate(contextInit: 7, debugName: []), context: 1, fenced: true)
        #expect(created.response == .okNoData)
        let resource = try guest.send(.resourceCreate3D(.buffer(id: 1, size: UInt32(VirtioGuest.page))), fenced: true, ring: 0)
        #expect(resource.response == .okNoData)
        let later = try guest.submit([], context: 1, fenced: true)
        #expect(completes(created.completion))
        #expect(completes(resource.completion))
        #expect(completes(later))
        #expect(guest.model.counts.pendingFences == 0)
    }

    @Test func repliesLandInTheGuestsPages() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createResource(10, guestPage: 3, context: 1)
        let completion = try guest.submit([
            .virtio(.flush(.init(reply: area(10)))),
            .virtio(.query(.init(queryId: .vendorId, answerArea: area(10, offset: 2048), reply: area(10, offset: 512)))),
            .virtio(.getMemoryBudget(.init(heap: 0, reply: area(10, offset: 1024)))),
            .virtio(.getMemoryBudget(.init(heap: 99, reply: area(10, offset: 1536)))),
        ], context: 1, fenced: true)
        #expect(completes(completion))
        #expect(try guest.status(guestPage: 3) == .ok)
        let vendor = try VirtioGuest.device().queryValue(.vendorId)
        #expect(try guest.reply(guestPage: 3, offset: 512) == .queryReply(.init(status: .ok, kind: .value, value: vendor, bufferSize: 0)))
        guard case .memoryBudgetReply(let budget) = try guest.reply(guestPage: 3, offset: 1024) else { Issue.record("no budget"); return }
        #expect(budget.status == .ok && budget.budget > 0)
        guard case .memoryBudgetReply(let refused) = try guest.reply(guestPage: 3, offset: 1536) else { Issue.record("no refusal"); return }
        #expect(refused.status == .invalidArgs)
    }

    /// A query the host device answers with a buffer comes back as the buffer's size, its bytes
    /// (the total-time result: two u64) in the answer area, as many as fit; an unknown one as
    /// INVALID_ARGS, the context usable.
    @Test func aBufferAnswerComesBackAsItsBytes() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createResource(10, guestPage: 3, context: 1)
        try guest.createResource(11, guestPage: 4, context: 1)
        let completion = try guest.submit([
            .virtio(.query(.init(queryId: .totalTime, answerArea: area(11), reply: area(10)))),
            .virtio(.query(.init(queryId: .totalTime, answerArea: area(11, offset: 1024, length: 8), reply: area(10, offset: 1024)))),
            .virtio(.query(.init(queryId: QueryId(rawValue: 99_999), answerArea: area(11), reply: area(10, offset: 512)))),
        ], context: 1, fenced: true)
        #expect(completes(completion))
        let hostSize = try VirtioGuest.device().totalTimeBufferSize()
        #expect(try guest.reply(guestPage: 3) == .queryReply(.init(status: .ok, kind: .buffer, value: 0, bufferSize: hostSize)))
        let page = guest.bytes.baseAddress! + 4 * VirtioGuest.page
        let sampled = UInt64(littleEndian: page.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        #expect(sampled > 0 && sampled <= Clock.monotonicNanoseconds())
        // An area of 8 bytes gets the first 8 and the whole size; nothing past it is written.
        #expect(try guest.reply(guestPage: 3, offset: 1024) == .queryReply(.init(status: .ok, kind: .buffer, value: 0, bufferSize: hostSize)))
        #expect(page.loadUnaligned(fromByteOffset: 1032, as: UInt64.self) == 0)
        #expect(try guest.reply(guestPage: 3, offset: 512) == .queryReply(.init(status: .invalidArgs, kind: .value, value: 0, bufferSize: 0)))
        let again = try guest.submit([.virtio(.query(.init(queryId: .vendorId, answerArea: area(11), reply: area(10, offset: 1536))))],
                                     context: 1, fenced: true)
        #expect(completes(again))
        guard case .queryReply(let vendor) = try guest.reply(guestPage: 3, offset: 1536) else { Issue.record("no vendor reply"); return }
        #expect(vendor.status == .ok && vendor.kind == .value)
    }

    @Test func aFencedWaitCompletesWhenItsSemaphoreIsSignaled() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createResource(10, guestPage: 1, context: 1)
        try guest.submit([.virtio(.createSemaphore(.init(semaphoreId: 5)))], context: 1)
        let wait = try guest.submit([.virtio(.waitSemaphores(.init(semaphoreIds: [5], waitAll: true, reply: area(10))))],
                                    context: 1, fenced: true, ring: 0)
        // Another ring's fence neither waits behind it nor preempts it (PreemptionTests: a later
        // fence on the same ring would).
        let otherRing = try guest.submit([], context: 1, fenced: true, ring: 1)
        #expect(completes(otherRing))
        #expect(wait?.isSignaled == false)
        try guest.submit([.virtio(.signalSemaphore(.init(semaphoreId: 5)))], context: 1)
        #expect(completes(wait))
        #expect(try guest.status(guestPage: 1) == .ok)
    }

    @Test func aWaitOrAReplyWithoutAFenceIsRefused() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createResource(10, guestPage: 1, context: 1)
        let payload = try VirtioContextCommand.payload([.virtio(.watchFailure(.init(reply: area(10))))])
        #expect(try guest.send(.submit3D(commands: payload), context: 1).response == .error(.errorInvalidParameter))
        let tooLarge = [UInt8](repeating: 0, count: guest.model.limits.maxCommandBytes + 8)
        #expect(try guest.send(.submit3D(commands: tooLarge), context: 1).response == .error(.errorInvalidParameter))
    }

    @Test func aContextsFailureReachesItsWaitersAndNoOtherContext() throws {
        let guest = try VirtioGuest(device: try VirtioGuest.device())
        try guest.createContext(1)
        try guest.createContext(2)
        try guest.createResource(10, guestPage: 1, context: 1)
        try guest.createResource(20, guestPage: 2, context: 2)
        let watch = try guest.submit([.virtio(.watchFailure(.init(reply: area(10))))], context: 1, fenced: true, ring: 0)
        let otherWatch = try guest.submit([.virtio(.watchFailure(.init(reply: area(20))))], context: 2, fenced: true, ring: 0)
        // An unknown semaphore fails context 1 (sticky).
        try guest.submit([.virtio(.signalSemaphore(.init(semaphoreId: 77)))], context: 1)
        #expect(completes(watch))
        #expect(try guest.status(guestPage: 1) == .invalidArgs)
        // Later calls of context 1 see the error; context 2 is untouched and still serves.
        #expect(completes(try guest.submit([], context: 1, fenced: true, ring: 1)))
        let flush = try guest.submit([.virtio(.flush(.init(reply: area(20, offset: 512))))], context: 2, fenced: true, ring: 1)
        #expect(completes(flush))
        #expect(try guest.status(guestPage: 2, offset: 512) == .ok)
        #expect(otherWatch?.isSignaled == false)
        try guest.ok(.contextDestroy, context: 2)
        #expect(completes(otherWatch))
        #expect(try guest.status(guestPage: 2) == .badState)
    }
}

extension Device {
    /// The size of the buffer this device answers the total-time query with.
    func totalTimeBufferSize() throws -> UInt64 {
        guard case .buffer(let memory) = try query(.totalTime) else { throw MagmaError.internalError("total-time gave a value") }
        return UInt64(memory.size)
    }
}
