import CMagmaLinux
import Glibc
import Magma
import MagmaDevices
import MagmaGuestMemory
import MagmaPlatform
import MagmaVhostUser
import MagmaVirtioHost
import MagmaWire
import SoftGPU
import Testing

/// A test playing QEMU and its guest's driver against a back-end in this process: the
/// front-end's end of a stream socketpair, guest RAM in a memfd (one region at guest address 0,
/// "mapped" at a made-up front-end address), and split virtqueues the test lays out in that RAM.
final class TestFrontEnd {
    static let page = SharedMemory.pageSize
    /// The front-end's (made-up) virtual address of guest address 0.
    static let userBase: UInt64 = 0x7F00_0000_0000
    static let queueSize = 64

    let ram: SharedMemory
    let channel: VhostUserChannel
    let session: VhostUserSession
    let gpu: VirtioGPUVhostDevice
    var queues: [TestQueue] = []
    /// The next free guest page for buffers (pages 0..<8 hold the rings).
    private var nextPage = 8

    init(pages: Int = 256) throws {
        ram = try SharedMemory.create(size: pages * Self.page, name: "vhost-test-guest-ram")
        let (front, back) = try VhostUserChannel.pair()
        channel = front
        let table = VhostUserMemoryTable()
        gpu = try VirtioGPUVhostDevice(host: try Device.open(.inProcess(SoftGPUDriver())), memory: table.memory)
        session = try VhostUserSession(channel: back, backend: try VhostUserBackend(device: gpu, memory: table))
    }

    deinit { channel.socket.shutdown() }

    var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: ram.base, count: ram.size) }

    // MARK: vhost-user

    /// Sends a request and, when it has one (or NEED_REPLY was set), reads its reply.
    @discardableResult
    func request(_ request: VhostUserRequest, _ payload: [UInt8] = [], fds: [OwnedFileDescriptor] = [], needReply: Bool = false) throws -> VhostUserMessage? {
        let flags = VhostUserMessage.version | (needReply ? VhostUserMessage.needReplyFlag : 0)
        try channel.send(VhostUserMessage(request: request.rawValue, flags: flags, payload: payload, descriptors: fds))
        guard request.hasReply || needReply else { return nil }
        guard channel.socket.waitReadable(until: Deadline(after: 20_000_000_000)) else { throw VhostUserError.invalid("no reply") }
        let reply = try #require(try channel.receive())
        #expect(reply.request == request.rawValue && reply.flags & VhostUserMessage.replyFlag != 0)
        return reply
    }

    /// A request with REPLY_ACK: returns the status (0: success).
    func acked(_ request: VhostUserRequest, _ payload: [UInt8] = [], fds: [OwnedFileDescriptor] = []) throws -> UInt64 {
        let reply = try #require(try self.request(request, payload, fds: fds, needReply: true))
        return u64(reply.payload)
    }

    /// What QEMU does at start: features (all offered but EVENT_IDX, unless `features` says),
    /// owner, the memory table, both rings.
    func start(features: UInt64? = nil) throws {
        let offered = u64(try #require(try request(.getFeatures)).payload)
        #expect(offered & VhostUserFeature.protocolFeatures != 0 && offered & VhostUserFeature.version1 != 0)
        let protocolFeatures = u64(try #require(try request(.getProtocolFeatures)).payload)
        try request(.setProtocolFeatures, le64(protocolFeatures))
        try request(.setOwner)
        #expect(u64(try #require(try request(.getQueueNum)).payload) == 2)
        // This driver kicks every time and waits for interrupts: without EVENT_IDX unless asked.
        try request(.setFeatures, le64(features ?? offered & ~VhostUserFeature.eventIndex))
        #expect(try acked(.setMemTable, memTable(), fds: [try #require(ram.descriptor).duplicate()]) == 0)
        for index in 0..<2 { queues.append(try startQueue(index, page: index * 4)) }
    }

    func memTable(guestAddress: UInt64 = 0, size: UInt64? = nil) -> [UInt8] {
        le32(1) + le32(0) + le64(guestAddress) + le64(size ?? UInt64(ram.size)) + le64(Self.userBase + guestAddress) + le64(0)
    }

    /// Lays ring `index` out at guest page `page` (descriptors, available, then used on the next page).
    func startQueue(_ index: Int, page: Int) throws -> TestQueue {
        let queue = try TestQueue(frontEnd: self, index: index, descriptors: page * Self.page,
                                  available: page * Self.page + 16 * Self.queueSize, used: (page + 1) * Self.page)
        try request(.setVringNum, le32(UInt32(index)) + le32(UInt32(Self.queueSize)))
        try request(.setVringAddr, le32(UInt32(index)) + le32(0) + le64(Self.userBase + UInt64(queue.descriptors))
                    + le64(Self.userBase + UInt64(queue.used)) + le64(Self.userBase + UInt64(queue.available)) + le64(0))
        try request(.setVringBase, le32(UInt32(index)) + le32(0))
        try request(.setVringCall, le64(UInt64(index)), fds: [try queue.call.descriptor.duplicate()])
        try request(.setVringErr, le64(UInt64(index)), fds: [try queue.error.descriptor.duplicate()])
        try request(.setVringKick, le64(UInt64(index)), fds: [try queue.kick.descriptor.duplicate()])
        try request(.setVringEnable, le32(UInt32(index)) + le32(1))
        return queue
    }

    // MARK: guest memory

    /// `count` fresh guest pages; returns the first one's guest address.
    func allocate(pages count: Int = 1) -> Int {
        defer { nextPage += count }
        return nextPage * Self.page
    }

    /// Copies `data` into guest RAM at a fresh buffer; returns its guest address.
    func place(_ data: [UInt8]) -> Int {
        let address = allocate(pages: max(1, (data.count + Self.page - 1) / Self.page))
        bytes[address..<(address + data.count)].copyBytes(from: data)
        return address
    }

    // MARK: virtio-gpu over the control queue

    /// Sends one control command (its bytes in one readable descriptor, a writable one of
    /// `responseBytes` after it); returns the head, so the test can wait for its completion.
    func submitControl(_ bytes: [UInt8], responseBytes: Int = 4096) throws -> (head: UInt16, response: Int) {
        let request = place(bytes)
        let response = allocate(pages: (responseBytes + Self.page - 1) / Self.page)
        let head = try queues[0].add([(request, bytes.count, false), (response, responseBytes, true)])
        queues[0].kickNow()
        return (head, response)
    }

    /// Sends a command and waits for its answer.
    func control(_ header: VirtioGPU.ControlHeader, _ command: VirtioGPU.Command) throws -> (VirtioGPU.ControlHeader, VirtioGPU.Response) {
        let (head, response) = try submitControl(VirtioGPU.encode(header, command))
        let length = try #require(queues[0].waitUsed(head))
        return try VirtioGPU.decodeResponse(Array(bytes[response..<(response + Int(length))]))
    }

    func ok(_ command: VirtioGPU.Command, context: UInt32 = 0) throws {
        let (_, response) = try control(VirtioGPU.ControlHeader(type: 0, contextId: context), command)
        #expect(response == .okNoData, "\(command)")
    }
}

/// One split virtqueue as the guest driver sees it: it writes descriptors and the available
/// ring, kicks, and reads the used ring.
final class TestQueue {
    unowned let frontEnd: TestFrontEnd
    let index: Int
    let descriptors: Int, available: Int, used: Int
    let kick: EventSemaphore, call: EventSemaphore, error: EventSemaphore
    private var nextDescriptor = 0
    private var availableIndex: UInt16 = 0
    private var usedSeen: UInt16 = 0
    /// Completions read from the used ring: head -> bytes written.
    private var completed: [UInt16: UInt32] = [:]

    init(frontEnd: TestFrontEnd, index: Int, descriptors: Int, available: Int, used: Int) throws {
        self.frontEnd = frontEnd
        self.index = index
        self.descriptors = descriptors
        self.available = available
        self.used = used
        kick = try EventSemaphore()
        call = try EventSemaphore()
        error = try EventSemaphore()
    }

    private var bytes: UnsafeMutableRawBufferPointer { frontEnd.bytes }

    /// Writes descriptor `slot` of the table.
    func writeDescriptor(_ slot: Int, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) {
        let at = descriptors + 16 * slot
        bytes.storeBytes(of: address.littleEndian, toByteOffset: at, as: UInt64.self)
        bytes.storeBytes(of: length.littleEndian, toByteOffset: at + 8, as: UInt32.self)
        bytes.storeBytes(of: flags.littleEndian, toByteOffset: at + 12, as: UInt16.self)
        bytes.storeBytes(of: next.littleEndian, toByteOffset: at + 14, as: UInt16.self)
    }

    /// Adds a chain of buffers (guest address, length, device-writable) and makes it available.
    func add(_ buffers: [(Int, Int, Bool)]) throws -> UInt16 {
        let head = UInt16(nextDescriptor % TestFrontEnd.queueSize)
        for (offset, buffer) in buffers.enumerated() {
            let slot = (nextDescriptor + offset) % TestFrontEnd.queueSize
            let last = offset == buffers.count - 1
            writeDescriptor(slot, address: UInt64(buffer.0), length: UInt32(buffer.1),
                            flags: (last ? 0 : 1) | (buffer.2 ? 2 : 0), next: UInt16((slot + 1) % TestFrontEnd.queueSize))
        }
        nextDescriptor += buffers.count
        collect()
        completed[head] = nil   // a head used again: its earlier completion is not this chain's
        publish(head)
        return head
    }

    /// Makes `head` available (entry, then the index with release).
    func publish(_ head: UInt16) {
        let slot = Int(availableIndex) % TestFrontEnd.queueSize
        bytes.storeBytes(of: head.littleEndian, toByteOffset: available + 4 + 2 * slot, as: UInt16.self)
        availableIndex &+= 1
        cmagma_store_release_u16(bytes.baseAddress! + available + 2, availableIndex.littleEndian)
    }

    func kickNow() { kick.signal() }

    /// EVENT_IDX's avail_event, which the device writes after the used ring: the available
    /// index whose publication the driver kicks for.
    var availableEvent: UInt16 { UInt16(littleEndian: cmagma_load_acquire_u16(bytes.baseAddress! + used + 4 + 8 * TestFrontEnd.queueSize)) }

    /// Sets EVENT_IDX's used_event, after the available ring: the driver wants an interrupt
    /// once the device fills used entry `index`.
    func setUsedEvent(_ index: UInt16) {
        cmagma_store_release_u16(bytes.baseAddress! + available + 4 + 2 * TestFrontEnd.queueSize, index.littleEndian)
    }

    /// How many times the device signaled the call eventfd since the last look (it counts).
    func takeInterrupts() -> UInt64 {
        var count: UInt64 = 0
        return read(call.descriptor.rawValue, &count, 8) == 8 ? count : 0
    }

    /// Reads new used entries.
    private func collect() {
        let published = UInt16(littleEndian: cmagma_load_acquire_u16(bytes.baseAddress! + used + 2))
        while usedSeen != published {
            let slot = Int(usedSeen) % TestFrontEnd.queueSize
            let id = UInt32(littleEndian: bytes.load(fromByteOffset: used + 4 + 8 * slot, as: UInt32.self))
            let length = UInt32(littleEndian: bytes.load(fromByteOffset: used + 8 + 8 * slot, as: UInt32.self))
            completed[UInt16(truncatingIfNeeded: id)] = length
            usedSeen &+= 1
        }
    }

    /// Whether `head` has completed now (its bytes written), without waiting.
    func usedNow(_ head: UInt16) -> UInt32? {
        collect()
        return completed[head]
    }

    /// Waits (at most `seconds`, on the call eventfd) until `head` completes; its bytes written.
    func waitUsed(_ head: UInt16, seconds: UInt64 = 20) -> UInt32? {
        let deadline = Deadline(after: seconds * 1_000_000_000)
        while true {
            if let length = usedNow(head) { return length }
            guard call.wait(timeoutNanoseconds: deadline.remainingNanoseconds) else { return usedNow(head) }
            call.reset()
        }
    }
}

func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
func le64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
func u64(_ bytes: [UInt8]) -> UInt64 { bytes.prefix(8).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }

/// Waits at most `seconds` for `condition` (polling every millisecond): tests fail, never hang.
func eventually(seconds: UInt64 = 20, _ condition: () -> Bool) -> Bool {
    let deadline = Deadline(after: seconds * 1_000_000_000)
    while !condition() {
        if deadline.hasPassed { return false }
        usleep(1000)
    }
    return true
}
