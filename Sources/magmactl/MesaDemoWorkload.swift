import Magma
import MagmaPlatform
import MagmaProtocol
import SoftGPU

/// `DemoWorkload`'s GPU work (z = x + y by a compute dispatch, then a copy of z, in
/// submissions of at most `DemoWorkload.elementsPerSubmission` elements) through Mesa's API:
/// a logical device, an address space with a compute queue for the dispatches and a transfer
/// queue for the copies, device buffers, and timeline sync objects that order the two queues'
/// work: each copy waits for its dispatch's point of `computed` and signals its own of `copied`.
struct MesaDemoWorkload {
    let physicalDevice: PhysicalDevice
    let elements: Int

    func run() throws -> DemoWorkload.Result {
        let device = try physicalDevice.createDevice()
        defer { device.release() }
        let space = try device.createAddressSpace()
        let computeQueue = try device.createQueue(in: space)
        guard let transferFamily = physicalDevice.queueFamilies.firstIndex(where: { !$0.flags.contains(.compute) && $0.flags.contains(.transfer) }) else {
            throw MagmaError(.unimplemented, "the device has no transfer-only queue family")
        }
        let transferQueue = try device.createQueue(in: space, family: UInt32(transferFamily))
        let bytes = UInt64(elements * 4)

        let program = try Assembler.assembleBytes(Kernels.vectorAddF32)
        let code = try device.createBuffer(size: UInt64(program.count), name: "vector-add")
        try code.mapCPU().copyMemory(from: program.withUnsafeBytes { $0 })
        let x = try device.createBuffer(size: bytes, name: "x")
        let y = try device.createBuffer(size: bytes, name: "y")
        let z = try device.createBuffer(size: bytes, name: "z")
        let copy = try device.createBuffer(size: bytes, name: "copy")
        let xs = try x.mapCPU().bindMemory(to: Float.self)
        let ys = try y.mapCPU().bindMemory(to: Float.self)
        for i in 0..<elements {
            xs[i] = Float(i)
            ys[i] = Float(2 * i)
        }

        try space.map(code, gpuAddress: DemoWorkload.programAddress, size: code.size, flags: [.read, .execute])
        try space.map(x, gpuAddress: DemoWorkload.xAddress, size: x.size, flags: .read)
        try space.map(y, gpuAddress: DemoWorkload.yAddress, size: y.size, flags: .read)
        try space.map(z, gpuAddress: DemoWorkload.zAddress, size: z.size, flags: [.read, .write])
        try space.map(copy, gpuAddress: DemoWorkload.copyAddress, size: copy.size, flags: .write)

        // One command stream per submission, back to back in one buffer: the dispatches, then
        // the copies; each submission names its own range of it.
        var streams = CommandStream()
        var dispatchRanges: [Range<UInt64>] = []
        var copyRanges: [Range<UInt64>] = []
        var workgroups: UInt32 = 0
        for first in stride(from: 0, to: elements, by: DemoWorkload.elementsPerSubmission) {
            let count = min(DemoWorkload.elementsPerSubmission, elements - first)
            let offset = UInt64(first * 4)
            let groupSize = Int(DemoWorkload.workgroupSize)
            let chunkWorkgroups = UInt32((count + groupSize - 1) / groupSize)
            let start = UInt64(streams.bytes.count)
            streams.dispatch(programAddress: DemoWorkload.programAddress, programSize: UInt32(program.count), workgroupCount: chunkWorkgroups,
                             workgroupSize: DemoWorkload.workgroupSize,
                             arguments: [DemoWorkload.xAddress + offset, DemoWorkload.yAddress + offset, DemoWorkload.zAddress + offset, UInt64(count)])
            streams.end()
            dispatchRanges.append(start..<UInt64(streams.bytes.count))
            workgroups += chunkWorkgroups
        }
        for first in stride(from: 0, to: elements, by: DemoWorkload.elementsPerSubmission) {
            let count = min(DemoWorkload.elementsPerSubmission, elements - first)
            let offset = UInt64(first * 4)
            let start = UInt64(streams.bytes.count)
            streams.copy(from: DemoWorkload.zAddress + offset, to: DemoWorkload.copyAddress + offset, size: UInt64(count * 4))
            streams.end()
            copyRanges.append(start..<UInt64(streams.bytes.count))
        }
        let commands = try device.createBuffer(size: UInt64(streams.bytes.count), name: "commands")
        try commands.mapCPU().copyMemory(from: streams.bytes.withUnsafeBytes { $0 })

        // Dispatch i signals point i + 1 of `computed`; copy i, on the other queue, waits for it
        // and signals point i + 1 of `copied`. Each queue runs in order, so the last point of
        // `copied` means all is done.
        let computed = try device.createSyncObject(.timeline(initialValue: 0))
        let copied = try device.createSyncObject(.timeline(initialValue: 0))
        let started = Clock.monotonicNanoseconds()
        for (index, (dispatch, copy)) in zip(dispatchRanges, copyRanges).enumerated() {
            let point = UInt64(index + 1)
            try computeQueue.submit(SubmitInfo(commands: .buffer(commands, offset: dispatch.lowerBound, length: UInt64(dispatch.count)),
                                               waits: [], signals: [computed.point(point)]))
            try transferQueue.submit(SubmitInfo(commands: .buffer(commands, offset: copy.lowerBound, length: UInt64(copy.count)),
                                                waits: [computed.point(point)], signals: [copied.point(point)]))
        }
        try copied.wait(for: UInt64(copyRanges.count), timeoutNanoseconds: 60_000_000_000)
        let wall = Clock.monotonicNanoseconds() - started
        for queue in [computeQueue, transferQueue] where try queue.checkStatus() != .ok {
            throw MagmaError(.contextKilled, "the demo's queue of family \(queue.family) was killed")
        }

        let zs = try z.mapCPU().bindMemory(to: Float.self)
        let copies = try copy.mapCPU().bindMemory(to: Float.self)
        var mismatches = 0
        for i in 0..<elements where zs[i] != xs[i] + ys[i] || copies[i] != zs[i] { mismatches += 1 }
        return DemoWorkload.Result(submissions: dispatchRanges.count + copyRanges.count, dispatchWorkgroups: workgroups, copiedBytes: Int(bytes),
                                   bytesMoved: Int(bytes) * 5, gpuNanoseconds: nil, wallNanoseconds: wall, mismatches: mismatches)
    }
}
