import Glibc
import Magma
import MagmaTestSupport
import MagmaPlatform
import MagmaProtocol
import Testing

/// Buffer range operations as Fuchsia's own tests expect them (test_magma.cc, CommitBuffer):
/// offsets and lengths are whole pages for all four operations, a COMMIT past the end is
/// MEMORY_ERROR, a DECOMMIT past it INVALID_ARGS, and a DECOMMIT releases exactly its pages.
@Suite(.hangGuard, .drmBackend(.skipped(.commitAndDecommit))) struct BufferRangeOpTests {
    private let devices = TestDevices()
    static let page = UInt64(SharedMemory.pageSize)
    static let pages: UInt64 = 4

    /// A range and what COMMIT and DECOMMIT return for it on a buffer of `pages` pages.
    struct Case: CustomTestStringConvertible, Sendable {
        let offset: UInt64
        let length: UInt64
        let commit: MagmaStatus
        let decommit: MagmaStatus
        /// What POPULATE_TABLES and DEPOPULATE_TABLES leave for flush to report.
        let tables: MagmaStatus

        var testDescription: String { "\(offset)+\(length)" }
    }

    static let cases: [Case] = [
        Case(offset: 0, length: page, commit: .ok, decommit: .ok, tables: .ok),
        Case(offset: page, length: 2 * page, commit: .ok, decommit: .ok, tables: .ok),
        Case(offset: 0, length: pages * page, commit: .ok, decommit: .ok, tables: .ok),
        Case(offset: 0, length: page + 1, commit: .invalidArgs, decommit: .invalidArgs, tables: .invalidArgs),
        Case(offset: page / 2, length: page, commit: .invalidArgs, decommit: .invalidArgs, tables: .invalidArgs),
        Case(offset: 1, length: 1, commit: .invalidArgs, decommit: .invalidArgs, tables: .invalidArgs),
        Case(offset: 0, length: 0, commit: .invalidArgs, decommit: .invalidArgs, tables: .invalidArgs),
        Case(offset: page, length: pages * page, commit: .memoryError, decommit: .invalidArgs, tables: .invalidArgs),
        Case(offset: pages * page, length: page, commit: .memoryError, decommit: .invalidArgs, tables: .invalidArgs),
        Case(offset: UInt64.max - page + 1, length: page, commit: .memoryError, decommit: .invalidArgs, tables: .invalidArgs),
        Case(offset: page / 2, length: pages * page, commit: .invalidArgs, decommit: .invalidArgs, tables: .invalidArgs),
    ]

    /// Runs `body` and returns the status it ended with.
    private func status(_ body: () throws -> Void) -> MagmaStatus {
        do {
            try body()
            return .ok
        } catch let error as MagmaError {
            return error.status
        } catch {
            Issue.record("not a MagmaError: \(error)")
            return .internalError
        }
    }

    @Test(arguments: TestBackend.virtioCases, cases)
    func commitAndDecommitCheckTheirRange(_ backend: TestBackend, _ range: Case) throws {
        try DRMTestDevice.skipCommitAndDecommit(on: backend)
        let session = try devices.session(backend)
        let buffer = try session.connection.createBuffer(size: Self.pages * Self.page)
        #expect(status { try session.connection.perform(.commit, on: buffer, offset: range.offset, length: range.length) } == range.commit)
        #expect(status { try session.connection.perform(.decommit, on: buffer, offset: range.offset, length: range.length) } == range.decommit)
        try session.connection.flush()   // client-side errors leave the connection open
    }

    @Test(arguments: TestBackend.virtioCases, cases)
    func populateAndDepopulateCheckTheirRange(_ backend: TestBackend, _ range: Case) throws {
        for op in [BufferRangeOp.populateTables, .depopulateTables] {
            let session = try devices.session(backend)
            let (buffer, _) = try session.mappedBuffer(size: Self.pages * Self.page)
            try session.connection.perform(op, on: buffer, offset: range.offset, length: range.length)   // feed-forward
            #expect(status { try session.connection.flush() } == range.tables, "\(op)")
        }
    }

    /// Fills every byte of `buffer` with a pattern that differs per byte.
    private func writePattern(_ buffer: Buffer) throws {
        let bytes = try buffer.bytes
        for index in 0..<bytes.count { bytes[index] = UInt8(truncatingIfNeeded: index &* 7 &+ 1) }
    }

    /// Blocks allocated to the buffer's memfd, counted by fstat (the socket emulation's virtio
    /// buffer's descriptor is its resource's memfd too). On the guest kernel's device it is a
    /// dma-buf, whose pages fstat does not count: there it is what the backend counts.
    private func allocatedBytes(_ buffer: Buffer, _ backend: TestBackend) throws -> Int {
        if backend == .virtgpu { return Int(buffer.info.committedByteCount) }
        let descriptor = try buffer.handle()
        var info = stat()
        #expect(fstat(descriptor.rawValue, &info) == 0)
        return Int(info.st_blocks) * 512
    }

    @Test(arguments: TestBackend.virtioCases)
    func aPartialPageDecommitIsRejectedAndChangesNothing(_ backend: TestBackend) throws {
        let session = try devices.session(backend)
        let buffer = try session.connection.createBuffer(size: 3 * Self.page)
        try writePattern(buffer)
        let before = Array(try buffer.bytes)
        let allocated = try allocatedBytes(buffer, backend)
        expectStatus(.invalidArgs) { try session.connection.perform(.decommit, on: buffer, offset: Self.page / 2, length: Self.page) }
        #expect(Array(try buffer.bytes) == before)
        #expect(try allocatedBytes(buffer, backend) == allocated)
        try session.connection.flush()
    }

    @Test(arguments: TestBackend.virtioCases)
    func decommitZeroesAndReleasesExactlyItsPages(_ backend: TestBackend) throws {
        try DRMTestDevice.skipCommitAndDecommit(on: backend)
        let session = try devices.session(backend)
        let size = Self.pages * Self.page
        let buffer = try session.connection.createBuffer(size: size)
        try writePattern(buffer)
        let before = Array(try buffer.bytes)
        try session.connection.perform(.commit, on: buffer, offset: 0, length: size)
        #expect(try allocatedBytes(buffer, backend) == Int(size))
        #expect(buffer.info.committedByteCount == size)

        try session.connection.perform(.decommit, on: buffer, offset: Self.page, length: 2 * Self.page)
        #expect(try allocatedBytes(buffer, backend) == Int(2 * Self.page), "the two pages' blocks are released")
        #expect(buffer.info.committedByteCount == 2 * Self.page)
        try session.connection.perform(.commit, on: buffer, offset: Self.page, length: Self.page)
        #expect(buffer.info.committedByteCount == 3 * Self.page)

        // Reading the contents faults the released pages back in (as zeros), so it comes last.
        let page = Int(Self.page)
        let after = Array(try buffer.bytes)
        #expect(after[0..<page] == before[0..<page])
        #expect(after[page..<(3 * page)].allSatisfy { $0 == 0 })
        #expect(after[(3 * page)...] == before[(3 * page)...])
        try session.connection.flush()
    }
}
