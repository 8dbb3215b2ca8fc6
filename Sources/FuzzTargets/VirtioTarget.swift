import Magma
import MagmaEmbedded
import MagmaGuestMemory
import MagmaPlatform
import MagmaProtocol
import MagmaSystem
import MagmaVirtioHost
import MagmaWire
import SoftGPU

/// The virtio fuzz target: an input is what a hostile guest sends ONE `VirtioDeviceModel` (a new
/// one per input, over an in-process SoftGPU device shared by all inputs), whose guest memory is
/// one region of `guestPages` pages at guest address 0 (entries past it are outside the guest).
///
/// The input is a sequence of records (`ServerTarget.Record`: a control byte, a little-endian
/// 16-bit length and that many bytes). With bit 0 of the control byte clear the bytes are one
/// control command (a virtio-gpu ctrl struct, header first), performed as the device reads its
/// control queue; with bit 1 also set the target then waits, at most `pause`, for the command's
/// fence (so seeds can order GPU work). With bit 0 set the bytes are written into the guest's RAM
/// at the page bits 2-7 of the control byte name (modulo `guestPages`), e.g. a command stream.
///
/// A trap is a bug, and so is each of: a response that is not a well-formed response type; an
/// error response with a completion, or an accepted fenced command without one; after the
/// input, a `close()` that does not return within ten seconds, a fence handed out that has not
/// completed by then, or anything (context, resource, pending fence) the model still holds.
public enum VirtioTarget {
    /// The guest's RAM, in pages.
    public static let guestPages = 16
    private static let device = Device(backend: InProcessDeviceTransport(
        system: try! SystemDevice(driver: SoftGPUDriver(configuration: SoftGPUConfiguration(watchdogNanoseconds: 100_000_000)))))
    private static let patience: UInt64 = 10_000_000_000
    private static let pause: UInt64 = 1_000_000_000

    public static func run(_ input: [UInt8]) {
        let ram: SharedMemory
        let model: VirtioDeviceModel
        do throws(any Error) {
            ram = try SharedMemory.create(size: guestPages * SharedMemory.pageSize, name: "fuzz-virtio-guest-ram")
            model = try VirtioDeviceModel(device: device, limits: VirtioDeviceLimits(maxContexts: 8, maxResources: 64, maxPendingFences: 64))
            guard let memfd = ram.descriptor else { fatalError("the guest RAM has no descriptor") }
            try model.memory.add(region: GuestMemoryRegion(guestAddress: 0, size: UInt64(ram.size), memfd: try memfd.duplicate()))
        } catch { fatalError("the target cannot set up a guest: \(error)") }
        var completions: [EventSemaphore] = []
        for record in ServerTarget.records(input) {
            if record.control & 1 != 0 {
                FuzzSupport.write(record.bytes, page: Int(record.control >> 2) % guestPages, into: ram)
                continue
            }
            if let completion = perform(record.bytes, on: model) {
                completions.append(completion)
                if record.control & 2 != 0 { _ = completion.wait(timeoutNanoseconds: pause) }
            }
        }
        FuzzSupport.closeWithinTenSeconds("model") { model.close() }
        for completion in completions {
            precondition(completion.wait(timeoutNanoseconds: patience), "a fence handed out did not complete after close")
        }
        let counts = model.counts
        precondition(counts.contexts == 0 && counts.resources == 0 && counts.pendingFences == 0, "the closed model still holds \(counts)")
    }

    /// Performs one command and checks its response; returns its completion.
    private static func perform(_ bytes: [UInt8], on model: VirtioDeviceModel) -> EventSemaphore? {
        let result = model.perform(bytes)
        let response: VirtioGPU.Response
        do { (_, response) = try VirtioGPU.decodeResponse(result.response) } catch {
            preconditionFailure("a malformed response \(result.response): \(error)")
        }
        let fenced = (try? VirtioGPU.decodeHeader(bytes)).map(\.isFenced) ?? false
        if case .error = response {
            precondition(result.completion == nil, "an error response with a completion")
        } else {
            precondition((result.completion != nil) == fenced, "an accepted command's completion does not match its fence flag")
        }
        return result.completion
    }
}
