import ArgumentParser
import Magma
import MagmaProtocol
import SoftGPU

/// `magmactl info`: prints what the device answers to every query.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Print the device's query results.")

    @OptionGroup var options: DeviceOptions

    func run() throws {
        let (device, description) = try options.open()
        print("device: \(description)")
        for line in try DeviceReport.lines(device) { print("  \(line)") }
    }
}

/// The query results both `info` and `demo` print.
enum DeviceReport {
    static func lines(_ device: Device) throws -> [String] {
        let inflight = try device.queryValue(.maximumInflightParams)
        let time = try device.totalTime()
        let vendorId = try device.queryValue(.vendorId)
        let common = [
            "vendor-id               0x\(String(vendorId, radix: 16))",
            "device-id               0x\(String(try device.queryValue(.deviceId), radix: 16))",
            "vendor-version          0x\(String(try device.queryValue(.vendorVersion), radix: 16))",
            "is-total-time-supported \(try device.queryValue(.isTotalTimeSupported))",
            "max-inflight-messages   \(inflight >> 32)",
            "max-inflight-megabytes  \(inflight & 0xFFFF_FFFF)",
            "total-time              gpu \(time.gpuTimeNanoseconds) ns at monotonic \(time.monotonicTimeNanoseconds) ns",
        ]
        guard vendorId == SoftGPUIdentity.vendorId else { return common }
        return common + [
            "wave-width              \(try device.queryValue(SoftGPUIdentity.queryWaveWidth))",
            "compute-threads         \(try device.queryValue(SoftGPUIdentity.queryComputeThreads))",
            "max-workgroup-size      \(try device.queryValue(SoftGPUIdentity.queryMaxWorkgroupSize))",
            "watchdog-ms             \(try device.queryValue(SoftGPUIdentity.queryWatchdogMilliseconds))",
        ]
    }
}
