import ArgumentParser
import MagmaDRM
import MagmaDevices
import MagmaPlatform

/// `magmactl devices`: every device `--device` can name here, with what each DRM node's
/// driver reports.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List the devices: magmad endpoints, virtio-gpu Magma devices, Linux DRM render nodes, embedded.")

    func run() throws {
        let drm = Dictionary(DRMDevices.all().map { ($0.locatorName, $0) }, uniquingKeysWith: { first, _ in first })
        for name in DeviceLocator.availableNames() {
            if name == DeviceLocator.embeddedName {
                print("\(name)  MagmaSystem + SoftGPU in this process")
            } else if name.hasPrefix(DeviceLocator.virtgpuPrefix) {
                print("\(name)  Magma device behind the guest kernel's virtio_gpu (capset 7)")
            } else if let info = drm[name] {
                print(Self.describe(info))
            } else if DRMDevices.nodePath(forLocatorName: name) != nil {
                print("\(name)  (cannot be opened: run as a user who can open \(DRMDevices.nodeDirectory))")
            } else {
                print("\(name)  magmad endpoint")
            }
        }
    }

    /// One DRM device: its name, driver and version, PCI ids and address (or "platform"),
    /// nodes and capabilities.
    static func describe(_ info: DRMDeviceInfo) -> String {
        let address = info.bus.pciAddress.map { " at \($0)" } ?? (info.bus == .platform ? " platform" : "")
        let pci = (info.pci.map { " pci \(hex($0.vendorId)):\(hex($0.deviceId))" } ?? "") + address
        let nodes = [info.renderNodePath, info.cardNodePath].compactMap { $0 }.joined(separator: " ")
        let caps = info.capabilities.names.isEmpty ? "none" : info.capabilities.names.joined(separator: " ")
        return "\(info.locatorName)  driver \(info.driver.name) \(info.driver.versionString)\(pci)  nodes \(nodes)  caps \(caps)"
    }

    private static func hex(_ value: UInt16) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
