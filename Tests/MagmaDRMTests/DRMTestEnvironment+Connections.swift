@testable import MagmaDRM
import MagmaProtocol
import Testing

/// The two drivers of the guest, as test arguments.
enum GuestDriver: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case vgem
    case virtioGPU = "virtio_gpu"

    var testDescription: String { rawValue }
}

extension DRMTestEnvironment {
    /// A backend-level connection on `driver`'s device, for checks on kernel handles.
    static func connection(_ driver: GuestDriver, sourceLocation: SourceLocation = #_sourceLocation) throws -> DRMConnection {
        let info = try device(driver: driver.rawValue, sourceLocation: sourceLocation)
        return try #require(try DRMDevice(renderNode: info.renderNodePath).connect() as? DRMConnection, sourceLocation: sourceLocation)
    }

    /// Whether `error` is a MagmaError of `status` carrying errno `code` (any errno if nil).
    static func isError(_ error: any Error, _ status: MagmaStatus, errno code: Int32? = nil) -> Bool {
        guard let error = error as? MagmaError, error.status == status else { return false }
        return code == nil || error.systemErrorCode == code
    }
}
