import ArgumentParser
import Magma
import MagmaProtocol
import SoftGPU

/// `magmactl info`: prints what the device answers to every query, then its physical-device
/// description (limits, heaps and budgets, memory types, queue families).
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Print the device's query results.")

    @OptionGroup var options: DeviceOptions

    func run() throws {
        let (device, description) = try options.open()
        print("device: \(description)")
        for line in try DeviceReport.lines(device) { print("  \(line)") }
        for line in try PhysicalDeviceReport.lines(device) { print("  \(line)") }
    }
}

/// The query results both `info` and `demo` print. A query the device does not answer
/// (UNIMPLEMENTED: a DRM device has no busy time, vgem no PCI ids) says so on its line.
enum DeviceReport {
    static func lines(_ device: Device) throws -> [String] {
        let vendorId = try answered { () throws(MagmaError) in try device.queryValue(.vendorId) }
        let common = [
            "vendor-id               \(hex(vendorId))",
            "device-id               \(hex(try answered { () throws(MagmaError) in try device.queryValue(.deviceId) }))",
            "vendor-version          \(hex(try answered { () throws(MagmaError) in try device.queryValue(.vendorVersion) }))",
            "is-total-time-supported \(text(try answered { () throws(MagmaError) in try device.queryValue(.isTotalTimeSupported) }))",
        ] + inflight(try answered { () throws(MagmaError) in try device.queryValue(.maximumInflightParams) }) + [
            "total-time              \(text(try answered { () throws(MagmaError) in try device.totalTime() }) { "gpu \($0.gpuTimeNanoseconds) ns at monotonic \($0.monotonicTimeNanoseconds) ns" })",
        ]
        guard case .success(SoftGPUIdentity.vendorId) = vendorId else { return common }
        return common + [
            "wave-width              \(try device.queryValue(SoftGPUIdentity.queryWaveWidth))",
            "compute-threads         \(try device.queryValue(SoftGPUIdentity.queryComputeThreads))",
            "max-workgroup-size      \(try device.queryValue(SoftGPUIdentity.queryMaxWorkgroupSize))",
            "watchdog-ms             \(try device.queryValue(SoftGPUIdentity.queryWatchdogMilliseconds))",
        ]
    }

    /// The query's answer, or the UNIMPLEMENTED error it gave; any other error is thrown.
    private static func answered<Value>(_ query: () throws(MagmaError) -> Value) throws(MagmaError) -> Result<Value, MagmaError> {
        do { return .success(try query()) } catch where error.status == .unimplemented { return .failure(error) }
    }

    private static func text<Value>(_ answer: Result<Value, MagmaError>, _ format: (Value) -> String = { "\($0)" }) -> String {
        switch answer {
        case .success(let value): format(value)
        case .failure(let error): "unimplemented (\(error.message))"
        }
    }

    private static func hex(_ answer: Result<UInt64, MagmaError>) -> String { text(answer) { "0x\(String($0, radix: 16))" } }

    private static func inflight(_ answer: Result<UInt64, MagmaError>) -> [String] {
        guard case .success(let value) = answer else { return ["max-inflight            \(text(answer))"] }
        return ["max-inflight-messages   \(value >> 32)", "max-inflight-megabytes  \(value & 0xFFFF_FFFF)"]
    }
}
