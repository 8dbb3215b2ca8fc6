import CMagmaLinux
import Magma
import MagmaEmbedded
import MagmaPlatform
import MagmaSystem
import MagmaVhostUser
import SoftGPU

/// The vhost-user fuzz target: an input is what a hostile front-end (a compromised QEMU) and its
/// guest send ONE `VhostUserBackend` serving a `VirtioGPUVhostDevice` (a new one per input, over
/// an in-process SoftGPU device shared by all inputs): vhost-user messages, and descriptor
/// tables, rings and commands in guest RAM.
///
/// Each input starts where QEMU leaves a device that has started (`prologue`): features and
/// owner set, one memory region of `guestPages` pages at guest address 0 (at the made-up
/// front-end address `userBase`), both rings of `queueSize` entries laid out at guest pages 0-1
/// (control) and 2-3 (cursor), their kick, call and error eventfds given, enabled (PROTOCOL_FEATURES is negotiated). Then the
/// input's records (`ServerTarget.Record`), by the control byte's low two bits:
/// - 0: one vhost-user message, decoded and applied as the session applies it: the bytes are the
///   request (u32), the flags (u32) and the payload; `(control >> 2) & 3` fresh eventfds go with
///   it, the first replaced by the guest RAM's memfd when bit 4 is set (a SET_MEM_TABLE).
/// - 1: the bytes are written into guest RAM at page `(control >> 2) % guestPages`.
/// - 2: ring `(control >> 2) & 1` is kicked, after its available ring gets the bytes' u16 heads
///   (each entry, then the index with release, as a driver publishes).
/// - 3: the target waits (at most 50 ms) for ring `(control >> 2) & 1` to signal its call eventfd.
///
/// A trap is a bug, and so is, after the input, a `close()` that does not return within ten
/// seconds, or a device model or pending chain left behind by it.
public enum VhostUserTarget {
    /// The guest's RAM, in pages.
    public static let guestPages = 32
    /// Entries of each ring the prologue lays out.
    public static let queueSize = 64
    /// The front-end's (made-up) virtual address of guest address 0.
    public static let userBase: UInt64 = 0x7F00_0000_0000
    private static let device = Device(backend: InProcessDeviceTransport(
        system: try! SystemDevice(driver: SoftGPUDriver(configuration: SoftGPUConfiguration(watchdogNanoseconds: 100_000_000)))))

    /// Where ring `index`'s parts live in guest memory: descriptors, available ring, used ring.
    public static func ringLayout(_ index: Int) -> (descriptors: Int, available: Int, used: Int) {
        let base = index * 2 * SharedMemory.pageSize
        return (base, base + 16 * queueSize, base + SharedMemory.pageSize)
    }

    /// One guest's back-end with its rings' eventfds, as the prologue left it.
    private struct Setup {
        let ram: SharedMemory
        let gpu: VirtioGPUVhostDevice
        let backend: VhostUserBackend
        let kicks: [EventSemaphore]
        let calls: [EventSemaphore]
        /// Entries made available so far, per ring.
        var published: [UInt16] = [0, 0]
    }

    /// Runs one input; returns how many chains the back-end completed on the control ring (its
    /// used index), so a test can tell that seeds reach the device.
    @discardableResult
    public static func run(_ input: [UInt8]) -> Int {
        var setup: Setup
        do throws(any Error) { setup = try prologue() } catch { fatalError("the target cannot set up a back-end: \(error)") }
        for record in ServerTarget.records(input) {
            let ring = Int(record.control >> 2) & 1
            switch record.control & 3 {
            case 0: apply(record, to: setup)
            case 1: FuzzSupport.write(record.bytes, page: Int(record.control >> 2) % guestPages, into: setup.ram)
            case 2:
                publish(record.bytes, on: ring, setup: &setup)
                setup.kicks[ring].signal()
            default:
                _ = setup.calls[ring].wait(timeoutNanoseconds: 50_000_000)
                setup.calls[ring].reset()
            }
        }
        let usedIndex = setup.ram.base + ringLayout(0).used + 2
        let completed = Int(UInt16(littleEndian: cmagma_load_acquire_u16(usedIndex)))
        let backend = setup.backend
        FuzzSupport.closeWithinTenSeconds("back-end") { backend.close() }
        precondition(setup.backend.pendingCount == 0, "the closed back-end still holds \(setup.backend.pendingCount) chains")
        if let model = setup.gpu.model {
            let counts = model.counts
            precondition(counts.contexts == 0 && counts.resources == 0 && counts.pendingFences == 0, "the closed model still holds \(counts)")
        }
        return completed
    }

    /// A started device, as QEMU leaves it before the guest's driver runs (each step decoded from
    /// its wire form, as the session decodes it).
    private static func prologue() throws -> Setup {
        let ram = try SharedMemory.create(size: guestPages * SharedMemory.pageSize, name: "fuzz-vhost-guest-ram")
        let table = VhostUserMemoryTable()
        let gpu = try VirtioGPUVhostDevice(host: device, memory: table.memory)
        let backend = try VhostUserBackend(device: gpu, memory: table)
        guard let memfd = ram.descriptor else { fatalError("the guest RAM has no descriptor") }
        try send(.setOwner, to: backend)
        try send(.setFeatures, le64(backend.offeredFeatures), to: backend)
        try send(.setMemTable, le32(1) + le32(0) + le64(0) + le64(UInt64(ram.size)) + le64(userBase) + le64(0),
                 fds: [try memfd.duplicate()], to: backend)
        var kicks: [EventSemaphore] = [], calls: [EventSemaphore] = []
        for index in 0..<2 {
            let (descriptors, available, used) = ringLayout(index)
            let (kick, call, error) = (try EventSemaphore(), try EventSemaphore(), try EventSemaphore())
            let ring = le32(UInt32(index))
            try send(.setVringNum, ring + le32(UInt32(queueSize)), to: backend)
            try send(.setVringAddr, ring + le32(0) + le64(userBase + UInt64(descriptors)) + le64(userBase + UInt64(used))
                     + le64(userBase + UInt64(available)) + le64(0), to: backend)
            try send(.setVringBase, ring + le32(0), to: backend)
            try send(.setVringCall, le64(UInt64(index)), fds: [try call.descriptor.duplicate()], to: backend)
            try send(.setVringErr, le64(UInt64(index)), fds: [try error.descriptor.duplicate()], to: backend)
            try send(.setVringKick, le64(UInt64(index)), fds: [try kick.descriptor.duplicate()], to: backend)
            try send(.setVringEnable, ring + le32(1), to: backend)
            kicks.append(kick)
            calls.append(call)
        }
        return Setup(ram: ram, gpu: gpu, backend: backend, kicks: kicks, calls: calls)
    }

    private static func send(_ request: VhostUserRequest, _ payload: [UInt8] = [], fds: [OwnedFileDescriptor] = [],
                             to backend: VhostUserBackend) throws {
        let message = VhostUserMessage(request: request.rawValue, flags: VhostUserMessage.version, payload: payload, descriptors: fds)
        _ = try backend.handle(try VhostUserCommand.decode(message))
    }

    /// Decodes and applies one message; a refusal is the back-end's answer, not a bug.
    private static func apply(_ record: ServerTarget.Record, to setup: Setup) {
        let bytes = record.bytes
        func u32(_ at: Int) -> UInt32 {
            (0..<4).reduce(0) { $0 | (at + $1 < bytes.count ? UInt32(bytes[at + $1]) << (8 * $1) : 0) }
        }
        var fds: [OwnedFileDescriptor] = []
        for index in 0..<Int(record.control >> 2) & 3 {
            if index == 0, record.control & 0x10 != 0, let memfd = try? setup.ram.descriptor?.duplicate() {
                fds.append(memfd)
            } else if let eventfd = try? EventSemaphore() {
                fds.append(eventfd.descriptor)
            }
        }
        let message = VhostUserMessage(request: u32(0), flags: u32(4), payload: Array(bytes.dropFirst(8)), descriptors: fds)
        guard let command = try? VhostUserCommand.decode(message) else { return }
        _ = try? setup.backend.handle(command)
    }

    /// Makes `bytes`' u16 heads available on ring `ring`, as the guest's driver does.
    private static func publish(_ bytes: [UInt8], on ring: Int, setup: inout Setup) {
        let memory = UnsafeMutableRawBufferPointer(start: setup.ram.base, count: setup.ram.size)
        let available = ringLayout(ring).available
        for pair in stride(from: 0, to: bytes.count - 1, by: 2) {
            let head = UInt16(bytes[pair]) | UInt16(bytes[pair + 1]) << 8
            let slot = Int(setup.published[ring]) % queueSize
            memory.storeBytes(of: head.littleEndian, toByteOffset: available + 4 + 2 * slot, as: UInt16.self)
            setup.published[ring] &+= 1
        }
        cmagma_store_release_u16(memory.baseAddress! + available + 2, setup.published[ring].littleEndian)
    }

    static func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    static func le64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
}
