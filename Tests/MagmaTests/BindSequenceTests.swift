import MagmaDevices
import MagmaPlatform
import MagmaProtocol
import MagmaTestSupport
import SoftGPU
import Testing

/// Random sequences of binds on one bind context, held behind a gate and then run in order,
/// against a model of the address space: afterwards every address the model says is mapped
/// reaches the buffer page the model names, on every backend.
@Suite(.hangGuard, .drmBackend(.skipped(.gpuMappings))) struct BindSequenceTests {
    let devices = TestDevices()
    let page = UInt64(SharedMemory.pageSize)

    /// Where slot `slot` lies (one page each, apart).
    func address(_ slot: Int) -> UInt64 { 0x400_0000 + UInt64(slot) * 0x10000 }

    @Test(arguments: TestBackend.virtioCases) func randomBindsLeaveTheSpaceTheModelSays(_ backend: TestBackend) throws {
        var random = SeededRandom(for: "BindSequenceTests.\(backend)")
        let session = try devices.session(backend)
        let binder = try session.connection.createContext(queueFamily: SoftGPUIdentity.bindFamily)
        let buffers = try (0..<3).map { _ in try session.connection.createBuffer(size: 4 * page) }
        let slots = 8
        /// The model: what each slot maps (buffer index, page), once every bind has run.
        var model: [(buffer: Int, page: Int)?] = Array(repeating: nil, count: slots)
        let gate = try session.connection.createSemaphore()
        let done = try session.connection.createSemaphore()
        let bindCount = Int.random(in: 4...12, using: &random)
        for index in 0..<bindCount {
            var operations: [BindOperation] = []
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let slot = Int.random(in: 0..<slots, using: &random)
                if model[slot] != nil || Bool.random(using: &random) {
                    operations.append(.unmap(at: address(slot), length: page))   // of nothing, sometimes: no error
                    model[slot] = nil
                    continue
                }
                // A buffer page no slot maps, so each page has one writer below.
                let free = (0..<buffers.count).flatMap { b in (0..<4).map { (b, $0) } }
                    .filter { candidate in !model.contains { $0?.buffer == candidate.0 && $0?.page == candidate.1 } }
                guard let (buffer, bufferPage) = free.randomElement(using: &random) else { continue }
                operations.append(.map(bufferId: buffers[buffer].id, offset: UInt64(bufferPage) * page, length: page,
                                       at: address(slot), flags: [.read, .write]))
                model[slot] = (buffer, bufferPage)
            }
            try session.connection.bind(on: binder, operations, waitSemaphores: index == 0 ? [gate.id] : [],
                                        signalSemaphores: index == bindCount - 1 ? [done.id] : [])
        }
        try session.connection.flush()
        gate.signal()
        try session.waitFor(done)
        for (slot, target) in model.enumerated() {
            guard target != nil else { continue }
            try session.fill(address: address(slot), size: page, pattern: 0xA000 + UInt32(slot))
        }
        for (slot, target) in model.enumerated() {
            guard let target else { continue }
            let word = try buffers[target.buffer].u32(at: target.page * Int(page))
            #expect(word == 0xA000 + UInt32(slot), "slot \(slot) -> buffer \(target.buffer) page \(target.page); \(random)")
        }
        #expect(session.connection.error == nil, "\(random)")
    }
}
