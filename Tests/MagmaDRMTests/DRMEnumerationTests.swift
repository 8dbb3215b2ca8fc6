import Foundation
import MagmaDRM
import MagmaDevices
import MagmaTestSupport
import Testing

/// Enumeration against the guest's real drivers: vgem (card0/renderD128 by load order, but
/// found by name) and virtio_gpu (virtio-gpu-pci).
@Suite(.hangGuard, .drmPresent) struct DRMEnumerationTests {
    @Test func findsVgemAndVirtioGPUByDriverName() throws {
        let names = DRMDevices.all().map(\.driver.name)
        #expect(names.contains("vgem"), "\(names)")
        #expect(names.contains("virtio_gpu"), "\(names)")
    }

    @Test func vgemIsAPlatformDeviceWithACardNodeAndPRIME() throws {
        let vgem = try DRMTestEnvironment.device(driver: "vgem")
        #expect(vgem.pci == nil, "vgem has no PCI ids")
        #expect(vgem.bus == .platform, "sysfs: vgem's subsystem is platform")
        let card = try #require(vgem.cardNodePath)
        #expect(card.hasPrefix("/dev/dri/card"))
        #expect(vgem.capabilities.primeImport && vgem.capabilities.primeExport)
        #expect(!vgem.capabilities.syncobj, "vgem has no DRIVER_SYNCOBJ")
        #expect(vgem.renderNodePath == "/dev/dri/" + vgem.nodeName)
        #expect(vgem.locatorName == "drm/" + vgem.nodeName)
    }

    @Test func virtioGPUIsAPCIDeviceOfVirtio() throws {
        let gpu = try DRMTestEnvironment.device(driver: "virtio_gpu")
        let pci = try #require(gpu.pci)
        #expect(pci.vendorId == 0x1af4, "Red Hat / virtio vendor id")
        #expect(pci.deviceId == 0x1050, "virtio-gpu (modern virtio 1.0 id)")
        // The address is the kernel's slot name, as the device's uevent also gives it.
        let address = try #require(gpu.bus.pciAddress, "virtio-gpu-pci is on PCI: \(gpu.bus)")
        let uevent = try String(contentsOfFile: "\(DRMDevices.sysfsDirectory)/\(gpu.nodeName)/device/uevent", encoding: .utf8)
        #expect(uevent.split(separator: "\n").contains("PCI_SLOT_NAME=\(address)"), "\(uevent)")
        #expect(gpu.cardNodePath != nil)
        #expect(gpu.capabilities.primeImport && gpu.capabilities.primeExport)
        if gpu.capabilities.syncobjTimeline { #expect(gpu.capabilities.syncobj, "timeline implies binary") }
    }

    @Test func theDriverVersionIsReadInFull() throws {
        let vgem = try DRMTestEnvironment.device(driver: "vgem")
        #expect(vgem.driver.versionString == "\(vgem.driver.major).\(vgem.driver.minor).\(vgem.driver.patchLevel)")
        #expect(!vgem.driver.description.isEmpty, "vgem describes itself")
    }

    @Test func everyRenderNodeIsListedForTheLocatorBeforeEmbedded() throws {
        let names = DeviceLocator.availableNames()
        let drm = DRMDevices.all().map(\.locatorName)
        #expect(!drm.isEmpty)
        for name in drm { #expect(names.contains(name)) }
        #expect(names.last == DeviceLocator.embeddedName)
    }
}
