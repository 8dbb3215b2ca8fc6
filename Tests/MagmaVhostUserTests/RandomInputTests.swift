import MagmaPlatform
import MagmaTestSupport
import MagmaVhostUser
import Testing

@Suite("Seeded random input to the vhost-user and virtqueue decoders", .timeLimit(.minutes(1)))
struct RandomInputTests {
    /// Random messages (known and unknown requests, any flags, payload sizes and descriptor
    /// counts, and valid messages with random fields) are decoded and applied to a live
    /// back-end: each is a command or a typed error; the back-end still answers afterwards.
    @Test func randomMessagesAreDecodedOrRefused() throws {
        var random = SeededRandom(for: "vhost-user messages")
        let front = try TestFrontEnd()
        try front.start()
        let backend = front.session.backend
        var decoded = 0, refused = 0
        for _ in 0..<3000 {
            let request = UInt32.random(in: 0...40, using: &random)
            let size: Int = Bool.random(using: &random) ? [0, 8, 12, 28, 40, 264].randomElement(using: &random)! : Int.random(in: 0...300, using: &random)
            var payload = (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }
            if size >= 12, Bool.random(using: &random) {   // a config request whose size field agrees
                payload.replaceSubrange(4..<8, with: le32(UInt32(size - 12)))
            }
            if size >= 8, request == 5, Bool.random(using: &random) { payload.replaceSubrange(0..<4, with: le32(UInt32.random(in: 0...9, using: &random))) }
            let fds = try (0..<Int.random(in: 0...2, using: &random)).map { _ in try EventSemaphore().descriptor }
            let message = VhostUserMessage(request: request, flags: UInt32.random(in: 0...15, using: &random), payload: payload, descriptors: fds)
            do throws(VhostUserError) {
                let command = try VhostUserCommand.decode(message)
                decoded += 1
                // Applying it never stops a ring or resets: those would only make later input weaker.
                switch command {
                case .getVringBase, .resetOwner, .resetDevice, .gpuSetSocket: continue
                default: _ = try? backend.handle(command)
                }
            } catch {
                refused += 1
                #expect(!error.description.isEmpty)
            }
        }
        #expect(decoded > 0 && refused > 0, "\(random)")
        #expect(u64(try #require(try front.request(.getQueueNum)).payload) == 2, "\(random)")
    }

    /// Random descriptor tables and available rings, with addresses mostly inside guest memory:
    /// every round either serves chains or fails the ring with a typed error, and the ring is
    /// stopped and restarted in between. The back-end never traps and never hangs.
    @Test func randomDescriptorTablesAreWalkedOrRefused() throws {
        var random = SeededRandom(for: "virtqueue descriptors")
        let front = try TestFrontEnd()
        try front.start()
        let queue = front.queues[0]
        var failures = 0
        for round in 0..<60 {
            for slot in 0..<TestFrontEnd.queueSize {
                let address = Bool.random(using: &random) ? UInt64.random(in: 0..<UInt64(front.ram.size), using: &random) : UInt64.random(in: 0...UInt64.max, using: &random)
                queue.writeDescriptor(slot, address: address, length: UInt32.random(in: 0...9000, using: &random),
                                      flags: UInt16.random(in: 0...7, using: &random), next: UInt16.random(in: 0...80, using: &random))
            }
            // Random requests in the buffers, sometimes starting with a real command type.
            for _ in 0..<8 {
                let at = Int.random(in: (8 * TestFrontEnd.page)..<(front.ram.size - 64), using: &random)
                front.bytes.storeBytes(of: UInt32.random(in: 0x100...0x210, using: &random), toByteOffset: at, as: UInt32.self)
            }
            for _ in 0..<Int.random(in: 1...8, using: &random) { queue.publish(UInt16.random(in: 0...70, using: &random)) }
            queue.kickNow()
            // Stopping the ring waits for the queue thread to finish with it.
            _ = try #require(try front.request(.getVringBase, le32(0) + le32(0)), "round \(round), \(random)")
            if front.session.backend.ringFailures[0] != nil { failures += 1 }
            try front.request(.setVringKick, le64(0), fds: [try queue.kick.descriptor.duplicate()])
            #expect(front.session.endReason == nil, "round \(round), \(random)")
        }
        #expect(failures > 0, "\(random)")
        #expect(u64(try #require(try front.request(.getQueueNum)).payload) == 2, "\(random)")
    }
}
