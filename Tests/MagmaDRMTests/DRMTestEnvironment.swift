import Glibc
import MagmaDRM
import Testing

/// Where the DRM suites run: in the QEMU guest of scripts/vm/run-guest-tests.sh (MAGMA_VM=1,
/// with vgem and virtio_gpu), or on any machine with DRM render nodes. Elsewhere (the build
/// machines have no DRM) they are skipped, and say so.
enum DRMTestEnvironment {
    /// In the project's guest the suites must run: a missing node there fails them, never skips.
    static let isGuest = getenv("MAGMA_VM").map { String(cString: $0) == "1" } ?? false

    /// The suites run in the guest, or wherever render nodes exist.
    static let enabled = isGuest || !DRMDevices.renderNodeNames().isEmpty

    /// The reason shown for a skipped suite.
    static let skipReason: Comment = "no /dev/dri render nodes on this machine: the DRM suites run in the QEMU guest (scripts/vm/run-guest-tests.sh --swift-tests MagmaDRMTests)"

    /// The probed device whose driver is `name` ("vgem", "virtio_gpu"); fails the test if absent.
    static func device(driver name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> DRMDeviceInfo {
        try #require(DRMDevices.all().first { $0.driver.name == name }, "no \(name) render node", sourceLocation: sourceLocation)
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs the suite where DRM is (the guest), skips it with the reason elsewhere.
    static var drmPresent: Self { .enabled(if: DRMTestEnvironment.enabled, DRMTestEnvironment.skipReason) }
}
