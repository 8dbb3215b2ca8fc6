import MagmaDevices
import MagmaGuestMemory
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// A Magma buffer whose memory IS a guest's pages (a `GuestPages` view adopted by a connection
/// of the embedded device): SoftGPU's work reads and writes the guest's own scattered pages in
/// place, and the buffer is reachable through no other connection.
@Suite(.hangGuard) struct GuestPagesBufferTests {
    let devices = TestDevices()
    static let page = SharedMemory.pageSize

    /// A guest's RAM of `pages` pages (a memfd and the guest's own mapping of it) as guest memory
    /// at guest page 0x8000.
    static func guestRAM(pages: Int) throws -> (ram: SharedMemory, memory: GuestMemory) {
        let ram = try SharedMemory.create(size: pages * page, name: "test-guest-ram")
        let region = GuestMemoryRegion(guestAddress: UInt64(0x8000 * page), size: UInt64(pages * page), memfd: try #require(ram.descriptor).duplicate())
        return (ram, try GuestMemory(regions: [region]))
    }

    static func entries(_ ramPages: [Int]) -> [GuestMemoryEntry] {
        ramPages.map { GuestMemoryEntry(address: UInt64((0x8000 + $0) * page), length: UInt32(page)) }
    }

    static func u32(_ ram: SharedMemory, page ramPage: Int, at offset: Int) -> UInt32 {
        ram.base.load(fromByteOffset: ramPage * page + offset, as: UInt32.self)
    }

    @Test func softGPUWorkWritesTheGuestsScatteredPagesInPlace() throws {
        let session = try devices.session(.embedded)
        let (ram, memory) = try Self.guestRAM(pages: 16)
        // The resource's pages, scattered and out of order in the guest's RAM.
        let view = try memory.pages(for: Self.entries([9, 2, 14]))
        let buffer = try session.connection.adoptBuffer(try view.sharedMemory())
        #expect(buffer.size == UInt64(3 * Self.page))
        let address = session.reserveAddress(buffer.size)
        try session.connection.map(buffer, at: address, flags: [.read, .write])
        let (source, sourceAddress) = try session.upload((0..<Self.page).map { UInt8(truncatingIfNeeded: $0 &* 13) })

        var stream = CommandStream()
        stream.fill(address: address + 4, size: UInt64(2 * Self.page - 8), pattern: 0x6A5E_0001) // resource pages 0 and 1
        stream.copy(from: sourceAddress, to: address + UInt64(2 * Self.page), size: UInt64(Self.page)) // resource page 2
        stream.end()
        try session.run(stream)

        // What the guest sees through its own mapping of those pages.
        #expect(Self.u32(ram, page: 9, at: 0) == 0)
        #expect(Self.u32(ram, page: 9, at: 4) == 0x6A5E_0001)
        #expect(Self.u32(ram, page: 9, at: Self.page - 4) == 0x6A5E_0001)
        #expect(Self.u32(ram, page: 2, at: 0) == 0x6A5E_0001)
        #expect(Self.u32(ram, page: 2, at: Self.page - 8) == 0x6A5E_0001)
        #expect(Self.u32(ram, page: 2, at: Self.page - 4) == 0)
        #expect(Array(UnsafeRawBufferPointer(start: ram.base + 14 * Self.page, count: Self.page)) == Array(try source.bytes))
        // Pages the resource does not hold are untouched.
        for untouched in [0, 1, 3, 8, 10, 13, 15] {
            #expect(UnsafeRawBufferPointer(start: ram.base + untouched * Self.page, count: Self.page).allSatisfy { $0 == 0 })
        }
        // And the GPU reads what the guest writes: copy resource page 1 (guest page 2) out.
        ram.base.storeBytes(of: UInt32(0x0BAD_CAFE), toByteOffset: 2 * Self.page + 16, as: UInt32.self)
        let (target, targetAddress) = try session.mappedBuffer(size: UInt64(Self.page))
        var readBack = CommandStream()
        readBack.copy(from: address + UInt64(Self.page), to: targetAddress, size: UInt64(Self.page))
        readBack.end()
        try session.run(readBack)
        #expect(try target.u32(at: 16) == 0x0BAD_CAFE)
        #expect(try target.u32(at: 20) == 0x6A5E_0001)
    }

    @Test func aComputeDispatchReadsAndWritesGuestPagesAcrossTheirScatter() throws {
        let session = try devices.session(.embedded)
        let (ram, memory) = try Self.guestRAM(pages: 16)
        let floatsPerPage = Self.page / 4
        let count = 3 * floatsPerPage
        // x, y and z: three resources of three scattered, out-of-order guest pages each.
        let layout = [[11, 0, 6], [3, 15, 8], [9, 1, 13]]
        func guestFloat(_ resource: Int, _ index: Int) -> UnsafeMutablePointer<Float> {
            (ram.base + layout[resource][index / floatsPerPage] * Self.page).assumingMemoryBound(to: Float.self) + index % floatsPerPage
        }
        for index in 0..<count {
            guestFloat(0, index).pointee = Float(index)
            guestFloat(1, index).pointee = Float(2 * index) + 0.5
        }
        var addresses: [UInt64] = []
        var buffers: [Buffer] = []
        for (resource, pages) in layout.enumerated() {
            let buffer = try session.connection.adoptBuffer(try memory.pages(for: Self.entries(pages)).sharedMemory())
            let address = session.reserveAddress(buffer.size)
            try session.connection.map(buffer, at: address, flags: resource < 2 ? .read : [.read, .write])
            addresses.append(address)
            buffers.append(buffer)
        }
        let program = try session.loadProgram(Kernels.vectorAddF32)
        var stream = CommandStream()
        stream.dispatch(programAddress: program.address, programSize: program.size, workgroupCount: UInt32((count + 255) / 256),
                        workgroupSize: 256, arguments: addresses + [UInt64(count)])
        stream.end()
        try session.run(stream)
        let wrong = (0..<count).filter { guestFloat(2, $0).pointee != Float(3 * $0) + 0.5 }
        #expect(wrong.isEmpty, "\(wrong.count) of \(count) sums wrong in the guest's pages, first at \(wrong.first ?? -1)")
        withExtendedLifetime(buffers) {}
    }

    @Test func aGuestPagesBufferStaysInItsConnection() throws {
        let session = try devices.session(.embedded)
        let (ram, memory) = try Self.guestRAM(pages: 4)
        let view = try memory.pages(for: Self.entries([3, 1]))
        let buffer = try session.connection.adoptBuffer(try view.sharedMemory())
        // No descriptor to hand to another connection or process.
        expectStatus(.invalidArgs) { _ = try buffer.export() }
        // COMMIT and DECOMMIT do not apply: the pages are the guest's.
        try session.connection.perform(.commit, on: buffer, offset: 0, length: UInt64(Self.page))
        expectStatus(.unimplemented) { try session.connection.perform(.decommit, on: buffer, offset: 0, length: UInt64(Self.page)) }
        #expect(buffer.info.committedByteCount == UInt64(2 * Self.page))

        let address = session.reserveAddress(buffer.size)
        try session.connection.map(buffer, at: address, flags: [.read, .write])
        // Another connection's work at the same GPU address reaches nothing of it: its address
        // space has no such mapping, so the work faults and that connection alone fails.
        let other = try devices.session(.embedded)
        var stream = CommandStream()
        stream.fill(address: address, size: UInt64(2 * Self.page), pattern: 0xEEEE_EEEE)
        stream.end()
        #expect(throws: MagmaError.self) { try other.run(stream) }
        #expect(UnsafeRawBufferPointer(start: ram.base, count: ram.size).allSatisfy { $0 == 0 })
        #expect(session.connection.error == nil)
        try session.fill(address: address, size: 4, pattern: 7)
        #expect(Self.u32(ram, page: 3, at: 0) == 7)
    }

    @Test func theViewLivesUntilTheBufferIsReleased() throws {
        let session = try devices.session(.embedded)
        let (ram, memory) = try Self.guestRAM(pages: 4)
        weak var released: GuestPages?
        do {
            let buffer: Buffer
            do {
                let view = try memory.pages(for: Self.entries([2]))
                released = view
                buffer = try session.connection.adoptBuffer(try view.sharedMemory())
            }
            // The region leaves the table; the buffer's view keeps the guest's page mapped.
            try memory.remove(guestAddress: UInt64(0x8000 * Self.page))
            let address = session.reserveAddress(buffer.size)
            try session.connection.map(buffer, at: address, flags: [.read, .write])
            try session.fill(address: address, size: UInt64(Self.page), pattern: 0x5151_5151)
            #expect(Self.u32(ram, page: 2, at: 100) == 0x5151_5151)
            #expect(released != nil)
            try session.connection.release(buffer)
            try session.connection.flush()
        }
        #expect(released == nil, "the view is unmapped once nothing holds the buffer")
    }

    @Test func backendsAcrossAProcessBoundaryCannotAdoptMemory() throws {
        let session = try devices.session(.socket)
        let (_, memory) = try Self.guestRAM(pages: 2)
        let view = try memory.pages(for: Self.entries([0]))
        expectStatus(.unimplemented) { _ = try session.connection.adoptBuffer(try view.sharedMemory()) }
        #expect(session.connection.error == nil)
    }
}
