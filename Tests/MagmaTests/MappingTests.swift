import Magma
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// Map/unmap validation: each bad request closes its connection with INVALID_ARGS, seen at
/// flush, and never disturbs another connection.
@Suite(.hangGuard, .drmBackend(.skipped(.gpuMappings))) struct MappingTests {
    let devices = TestDevices()

    static let page = UInt64(SharedMemory.pageSize)

    /// Runs `bad` on a fresh connection on `backend` and checks the rejection is INVALID_ARGS
    /// and sticky.
    func expectRejected(on backend: TestBackend, _ status: MagmaStatus = .invalidArgs, _ bad: (Connection, Buffer) throws -> Void) throws {
        let device = try devices.open(backend)
        let bystander = try GPUSession(device: device)
        let connection = try device.createConnection()
        let buffer = try connection.createBuffer(size: 2 * Self.page)
        try bad(connection, buffer)
        expectStatus(status) { try connection.flush() }
        #expect(connection.error?.status == status)
        expectStatus(status) { _ = try connection.createBuffer(size: 4096) }
        // The other client still works.
        let (target, address) = try bystander.mappedBuffer(size: 4096)
        var stream = CommandStream()
        stream.fill(address: address, size: 4096, pattern: 9)
        try bystander.run(stream)
        #expect(try target.u32(at: 0) == 9)
    }

    @Test(arguments: TestBackend.virtioCases) func mapAndUnmap(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let buffer = try connection.createBuffer(size: Self.page)
        try connection.map(buffer, at: 0x1000, flags: .read)
        try connection.flush()
        try connection.unmap(buffer, at: 0x1000)
        try connection.flush()
        try connection.map(buffer, at: 0x1000, flags: [.read, .write])  // the range is free again
        try connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func offsetBeyondTheBuffer(_ backend: TestBackend) throws {
        try expectRejected(on: backend) { c, b in try c.map(b, at: 0, offset: 1024 * Self.page, length: Self.page, flags: .read) }
    }

    @Test(arguments: TestBackend.virtioCases) func lengthBeyondTheBuffer(_ backend: TestBackend) throws {
        try expectRejected(on: backend) { c, b in try c.map(b, at: 0x10000, offset: Self.page, length: 2 * Self.page, flags: .read) }
    }

    @Test(arguments: TestBackend.virtioCases) func offsetPlusLengthOverflows(_ backend: TestBackend) throws {
        try expectRejected(on: backend) { c, b in try c.map(b, at: 0x10000, offset: UInt64.max - Self.page + 1, length: 2 * Self.page, flags: .read) }
    }

    @Test(arguments: TestBackend.virtioCases) func overlappingMappings(_ backend: TestBackend) throws {
        try expectRejected(on: backend) { c, b in
            try c.map(b, at: 0x10000, flags: .read)
            let other = try c.createBuffer(size: 2 * Self.page)
            try c.map(other, at: 0x10000 + Self.page, flags: .read)
        }
    }

    @Test(arguments: TestBackend.virtioCases) func overlapFromBelow(_ backend: TestBackend) throws {
        try expectRejected(on: backend) { c, b in
            try c.map(b, at: 0x10000 + Self.page, flags: .read)
            let other = try c.createBuffer(size: 2 * Self.page)
            try c.map(other, at: 0x10000, flags: .read)
        }
    }

    @Test(arguments: TestBackend.virtioCases) func misalignedAddressOffsetOrLength(_ backend: TestBackend) throws {
        try expectRejected(on: backend) { c, b in try c.map(b, at: 0x10010, flags: .read) }
        try expectRejected(on: backend) { c, b in try c.map(b, at: 0x10000, offset: 16, length: Self.page, flags: .read) }
        try expectRejected(on: backend) { c, b in try c.map(b, at: 0x10000, offset: 0, length: 100, flags: .read) }
    }

    @Test(arguments: TestBackend.virtioCases) func zeroLengthAndNoAccessFlags(_ backend: TestBackend) throws {
        try expectRejected(on: backend) { c, b in try c.map(b, at: 0x10000, offset: 0, length: 0, flags: .read) }
        try expectRejected(on: backend) { c, b in try c.map(b, at: 0x10000, flags: []) }
        try expectRejected(on: backend) { c, b in try c.map(b, at: 0x10000, flags: .growable) }
        try expectRejected(on: backend) { c, b in try c.map(b, at: 0x10000, flags: MapFlags(rawValue: 0x10 | 1)) }
    }

    @Test(arguments: TestBackend.virtioCases) func addressesBeyondTheAddressSpace(_ backend: TestBackend) throws {
        try expectRejected(on: backend) { c, b in try c.map(b, at: 1 << 48, flags: .read) }
        try expectRejected(on: backend) { c, b in try c.map(b, at: (1 << 48) - Self.page, flags: .read) }
        try expectRejected(on: backend) { c, b in try c.map(b, at: UInt64.max - Self.page + 1, flags: .read) }
    }

    @Test(arguments: TestBackend.virtioCases) func unmapOfNothingOrOfTheWrongBuffer(_ backend: TestBackend) throws {
        try expectRejected(on: backend) { c, b in try c.unmap(b, at: 0x10000) }
        try expectRejected(on: backend) { c, b in
            try c.map(b, at: 0x10000, flags: .read)
            let other = try c.createBuffer(size: Self.page)
            try c.unmap(other, at: 0x10000)
        }
    }

    @Test(arguments: TestBackend.virtioCases) func rangeOpsOutOfRangeOrOnUnknownOps(_ backend: TestBackend) throws {
        try expectRejected(on: backend) { c, b in try c.perform(.populateTables, on: b, offset: Self.page, length: 2 * Self.page) }
        try expectRejected(on: backend) { c, b in try c.perform(.depopulateTables, on: b, offset: 0, length: 0) }
    }

    @Test(arguments: TestBackend.virtioCases) func vendorMapFlagsAreAccepted(_ backend: TestBackend) throws {
        let connection = try devices.open(backend).createConnection()
        let buffer = try connection.createBuffer(size: Self.page)
        try connection.map(buffer, at: 0x1000, flags: MapFlags(rawValue: MapFlags.read.rawValue | 1 << 16))
        try connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func oneMemoryMappedManyTimesThroughImports(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let connection = session.connection
        let original = try connection.createBuffer(size: Self.page)
        try original.contents.storeBytes(of: 0xFEED as UInt32, as: UInt32.self)
        var address: UInt64 = 0x8000_0000
        var imports: [(Buffer, UInt64)] = []
        for _ in 0..<64 {
            let imported = try connection.importBuffer(try original.export())
            #expect(imported.id != original.id)
            try connection.map(imported, at: address, flags: .read)
            try connection.perform(.populateTables, on: imported, offset: 0, length: Self.page)
            try connection.flush()
            imports.append((imported, address))
            address += 11 * Self.page
        }
        // The GPU reads the same word through the last alias.
        let (result, resultAddress) = try session.mappedBuffer(size: Self.page)
        var stream = CommandStream()
        stream.copy(from: imports.last!.1, to: resultAddress, size: 4)
        try session.run(stream)
        #expect(try result.u32(at: 0) == 0xFEED)
        for (buffer, at) in imports {
            try connection.unmap(buffer, at: at)
            try connection.release(buffer)
        }
        try connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases) func depopulatedPagesFaultUntilRepopulated(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let (source, sourceAddress) = try session.mappedBuffer(size: 2 * Self.page)
        let (target, targetAddress) = try session.mappedBuffer(size: Self.page)
        try source.contents.storeBytes(of: 77 as UInt32, toByteOffset: Int(Self.page), as: UInt32.self)
        try session.connection.perform(.depopulateTables, on: source, offset: Self.page, length: Self.page)
        try session.connection.perform(.populateTables, on: source, offset: Self.page, length: Self.page)
        var copy = CommandStream()
        copy.copy(from: sourceAddress + Self.page, to: targetAddress, size: 4)
        try session.run(copy)
        #expect(try target.u32(at: 0) == 77)

        try session.connection.perform(.depopulateTables, on: source, offset: Self.page, length: Self.page)
        try session.submit(copy)
        #expect(awaitError(session.connection)?.status == .contextKilled)
        let faults = try session.notifications().filter { if case .fault = $0 { return true } else { return false } }
        #expect(faults == [.fault(sequence: 2, address: sourceAddress + Self.page, access: GpuAccess.read.rawValue,
                                  reason: GpuFault.Reason.notMapped.rawValue)])
    }

    @Test(arguments: TestBackend.virtioCases) func growableMappingsFillOnFirstTouch(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let buffer = try session.connection.createBuffer(size: 4 * Self.page)
        let address = session.reserveAddress(buffer.size)
        try session.connection.map(buffer, at: address, flags: [.read, .write, .growable])
        var stream = CommandStream()
        stream.fill(address: address + 3 * Self.page, size: Self.page, pattern: 0x6A)
        try session.run(stream)
        #expect(try buffer.u32(at: Int(3 * Self.page)) == 0x6A)
    }
}
