import Glibc
import Magma
import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import SoftGPU
import SystemPackage
import Testing

/// Export and import between connections of one process over virtio: they are contexts of one
/// guest, and what one exports another imports (the host's share table, a resource attached
/// to both); what another guest exported never reaches this one.
@Suite("Sharing between connections of one virtio guest", .hangGuard)
struct VirtioSharingTests {
    let devices = TestDevices()

    /// Status and words of a refusal.
    private func refusal(_ body: () throws -> Void) -> MagmaError? {
        do { try body() } catch let error as MagmaError { return error } catch { Issue.record("\(error)") }
        return nil
    }

    @Test func anObjectOfOneGuestNeverReachesAnother() throws {
        let first = try devices.open(.virtio).createConnection()
        let second = try devices.open(.virtio).createConnection()   // another socket: another guest
        let buffer = try first.createBuffer(size: 4096)
        let semaphore = try first.createSemaphore()
        let timeline = try first.createTimelineSemaphore(initialValue: 3)
        for error in [refusal { _ = try second.importBuffer(try buffer.export()) },
                      refusal { _ = try second.importSemaphore(try semaphore.export()) },
                      refusal { _ = try second.importTimelineSemaphore(try timeline.export()) }] {
            #expect(error?.status == .invalidArgs)
            #expect(error?.message.contains("another virtio guest") == true, "\(String(describing: error))")
        }
        try first.flush()
        try second.flush()
    }

    @Test func releasedObjectsAreNotExportedAndTheirSharesEnd() throws {
        let device = try devices.open(.virtio)
        let a = try device.createConnection()
        let b = try device.createConnection()
        let semaphore = try a.createSemaphore()
        let timeline = try a.createTimelineSemaphore()
        let semaphoreShare = try semaphore.export()
        let timelineShare = try timeline.export()
        try a.release(semaphore)
        try a.release(timeline)
        // Exporting a released object is refused before anything reaches the host.
        expectStatus(.invalidArgs) { _ = try semaphore.export() }
        expectStatus(.invalidArgs) { _ = try timeline.export() }
        let buffer = try a.createBuffer(size: 4096)
        try a.release(buffer)
        expectStatus(.invalidArgs) { _ = try buffer.export() }
        // Its shares ended with it.
        expectStatus(.invalidArgs) { _ = try b.importSemaphore(semaphoreShare) }
        expectStatus(.invalidArgs) { _ = try b.importTimelineSemaphore(timelineShare) }
        // Wrong types are refused too.
        let other = try a.createSemaphore()
        expectStatus(.invalidArgs) { _ = try b.importTimelineSemaphore(try other.export()) }
        expectStatus(.invalidArgs) { _ = try b.importBuffer(try other.export()) }
        try a.flush()
        try b.flush()
    }

    /// A semaphore's exported descriptor is its mirror eventfd: it polls readable while the
    /// semaphore is signaled, whoever signals it, and every export of it names one share.
    @Test func aSemaphoresDescriptorIsAnEventfdThatPollsItsState() throws {
        let device = try devices.open(.virtio)
        let a = try device.createConnection()
        let b = try device.createConnection()
        let semaphore = try a.createSemaphore()
        let exported = try semaphore.export()
        let again = try semaphore.export()
        #expect(EventSemaphore.kernelId(of: exported.fileDescriptor) != nil)
        #expect(EventSemaphore.kernelId(of: exported.fileDescriptor) == EventSemaphore.kernelId(of: again.fileDescriptor))
        // Every eventfd has an id of its own (fstat cannot tell them apart); a pipe has none.
        let other = try EventSemaphore()
        #expect(EventSemaphore.kernelId(of: other.descriptor.fileDescriptor) != EventSemaphore.kernelId(of: exported.fileDescriptor))
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        #expect(EventSemaphore.kernelId(of: FileDescriptor(rawValue: ends[0])) == nil)
        ends.forEach { _ = close($0) }
        let imported = try b.importSemaphore(again)
        func readable() -> Bool { (try? Poller.poll([PollRequest(descriptor: exported.fileDescriptor)], timeoutNanoseconds: 0))?[0] == true }
        #expect(!readable())
        // Signaled through the importer: the exporter's mirror follows once its watch completes.
        imported.signal()
        let deadline = Deadline(after: 10_000_000_000)
        while !readable() && deadline.remainingNanoseconds > 0 { usleep(2_000) }
        #expect(readable())
        semaphore.reset()
        #expect(!readable() && !imported.isSignaled)
        // An eventfd no semaphore of this guest shares is refused: a fresh one, another guest's.
        expectStatus(.invalidArgs) { _ = try b.importSemaphore(try EventSemaphore().descriptor.duplicate()) }
        let stranger = try devices.open(.virtio).createConnection()
        let refusal = refusal { _ = try stranger.importSemaphore(try semaphore.export()) }
        #expect(refusal?.status == .invalidArgs && refusal?.message.contains("another virtio guest") == true)
        try a.flush()
        try b.flush()
    }

    @Test func oneShareImportedTwiceIsOneObject() throws {
        let device = try devices.open(.virtio)
        let a = try device.createConnection()
        let b = try device.createConnection()
        let semaphore = try a.createSemaphore()
        let exported = try semaphore.export()
        let first = try b.importSemaphore(try exported.duplicate())
        let second = try b.importSemaphore(exported)
        #expect(first.id != second.id)
        semaphore.signal()
        #expect(first.isSignaled && second.isSignaled)
        second.reset()
        #expect(!semaphore.isSignaled && !first.isSignaled)
        let buffer = try a.createBuffer(size: 8192)
        let shared = try buffer.export()
        let one = try b.importBuffer(try shared.duplicate())
        let two = try b.importBuffer(shared)
        try one.contents.storeBytes(of: 0xC0FFEE as UInt32, toByteOffset: 4096, as: UInt32.self)
        #expect(try two.u32(at: 4096) == 0xC0FFEE && buffer.u32(at: 4096) == 0xC0FFEE)
        try b.release(one)
        #expect(try two.u32(at: 4096) == 0xC0FFEE)
        try a.flush()
        try b.flush()
    }

    /// The exporter's connection closing: what was imported lives on (the resource stays while
    /// the importer holds it, the host semaphore while the importer's context does); a
    /// semaphore's share not yet imported ends with it, a buffer's once no connection holds
    /// its resource.
    @Test func importsOutliveTheExportersConnection() throws {
        let device = try devices.open(.virtio)
        let importer = try GPUSession(device: device)
        let exporter = try device.createConnection()
        let buffer = try exporter.createBuffer(size: 4096)
        try buffer.contents.storeBytes(of: 0x5EED as UInt32, as: UInt32.self)
        let semaphore = try exporter.createSemaphore()
        let imported = try importer.connection.importBuffer(try buffer.export())
        let importedSemaphore = try importer.connection.importSemaphore(try semaphore.export())
        let lateBuffer = try buffer.export()
        let lastBuffer = try buffer.export()
        let lateSemaphore = try semaphore.export()
        exporter.release()
        #expect(try imported.u32(at: 0) == 0x5EED)
        importedSemaphore.signal()
        #expect(importedSemaphore.isSignaled)
        expectStatus(.invalidArgs) { _ = try importer.connection.importSemaphore(lateSemaphore) }
        let late = try importer.connection.importBuffer(lateBuffer)   // the importer holds the resource: it lives
        #expect(try late.u32(at: 0) == 0x5EED)
        try importer.connection.release(late)
        // The importer's GPU still reads the pages.
        let address = importer.reserveAddress(imported.size)
        try importer.connection.map(imported, at: address, flags: .read)
        let (copy, copyAddress) = try importer.mappedBuffer(size: 4096)
        var stream = CommandStream()
        stream.copy(from: address, to: copyAddress, size: 4096)
        try importer.run(stream)
        #expect(try copy.u32(at: 0) == 0x5EED)
        // Once no connection holds it, the resource is gone: its pages are the guest's again.
        try importer.connection.release(imported)
        expectStatus(.invalidArgs) { _ = try importer.connection.importBuffer(lastBuffer) }
    }
}
