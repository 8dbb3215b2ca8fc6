import ArgumentParser
import Magma
import MagmaPlatform
import MagmaProtocol
import SoftGPU

/// `magmactl demo`: a vector add and a buffer copy through the whole stack, checked on the CPU.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a vector add and a buffer copy on the GPU and verify them on the CPU.")

    @Option(help: ArgumentHelp(
        "Number of f32 elements to add, 1...16777216.",
        discussion: """
            At most 2^24, so every sum of the demo's integers stays exact in f32. The work goes in \
            submissions of at most \(DemoWorkload.elementsPerSubmission) elements: SoftGPU's watchdog \
            (2 s) bounds each submission, and one of that size runs far below it even on a busy \
            2-core machine.
            """))
    var elements: Int = 1 << 20

    @Option(help: ArgumentHelp(
        "The API the demo uses: fuchsia (Connection, Context, Semaphore) or mesa (PhysicalDevice, LogicalDevice, AddressSpace, Queue, SyncObject).",
        discussion: "Both are faces of one core: the same GPU work, verified the same way."))
    var api: DemoAPI = .fuchsia

    @OptionGroup var options: DeviceOptions

    func run() throws {
        guard elements > 0, elements <= 1 << 24 else {
            throw ValidationError("--elements must be in 1...\(1 << 24) (f32 sums stay exact)")
        }
        let (device, description) = try options.open()
        print("Magma demo on the device: \(description)")
        for line in try DeviceReport.lines(device) { print("  \(line)") }

        let result: DemoWorkload.Result
        switch api {
        case .fuchsia:
            result = try DemoWorkload(device: device, elements: elements).run()
        case .mesa:
            print("  api: Mesa's (PhysicalDevice, LogicalDevice, AddressSpace, Queue, SyncObject)")
            print("  queues: dispatches on a compute queue, copies on a transfer queue, ordered by a timeline sync object")
            result = try MesaDemoWorkload(physicalDevice: PhysicalDevice(device: device, name: options.device), elements: elements).run()
        }
        let gpuTime = result.gpuNanoseconds.map { "\(String(format: $0)) (engine busy, from the completion notification)" }
            ?? "not reported (Mesa's API has no completion notifications)"
        print("""

            vector add   \(elements) f32 elements in \(result.dispatchWorkgroups) workgroups of \(DemoWorkload.workgroupSize), \(result.submissions) submission\(result.submissions == 1 ? "" : "s")
            buffer copy  \(result.copiedBytes) bytes
            gpu time     \(gpuTime)
            wall time    \(String(format: result.wallNanoseconds)) (submit to \(api == .mesa ? "sync object" : "semaphore") wake)
            bytes moved  \(result.bytesMoved) (\(String(megabytesPerSecond: result.bytesMoved, result.gpuNanoseconds ?? result.wallNanoseconds)))
            verified     \(result.mismatches == 0 ? "all \(elements) sums and the copy match the CPU" : "\(result.mismatches) MISMATCHES")
            """)
        if result.mismatches != 0 { throw ExitCode(1) }
    }
}

extension String {
    init(format nanoseconds: UInt64) {
        self = nanoseconds >= 1_000_000 ? "\(Double(nanoseconds) / 1e6) ms" : "\(Double(nanoseconds) / 1e3) us"
    }

    init(megabytesPerSecond bytes: Int, _ nanoseconds: UInt64) {
        let rate = nanoseconds == 0 ? 0 : Double(bytes) / (Double(nanoseconds) / 1e9) / 1e6
        self = "\(Int(rate)) MB/s"
    }
}

/// The API `magmactl demo --api` runs its work through.
enum DemoAPI: String, ExpressibleByArgument, CaseIterable {
    /// Fuchsia's: Connection, Context, Buffer, Semaphore.
    case fuchsia
    /// Mesa's: PhysicalDevice, LogicalDevice, AddressSpace, Queue, DeviceBuffer, SyncObject.
    case mesa
}
