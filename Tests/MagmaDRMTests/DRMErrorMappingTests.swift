import Glibc
import MagmaDRM
import MagmaProtocol
import Testing

/// The kernel's errno values map to Magma statuses by one table, and the message keeps the
/// errno. These run everywhere: they need no device.
@Suite struct DRMErrorMappingTests {
    @Test(arguments: [
        (ENOENT, MagmaStatus.invalidArgs), (EINVAL, .invalidArgs), (EBADF, .invalidArgs),
        (ENOMEM, .memoryError), (EACCES, .accessDenied), (EPERM, .accessDenied),
        (ETIME, .timedOut), (ETIMEDOUT, .timedOut), (EOPNOTSUPP, .unimplemented), (ENOTTY, .unimplemented),
        (ENODEV, .unimplemented), (EBUSY, .badState), (EIO, .internalError),
    ])
    func errnoMapsToItsStatus(code: Int32, status: MagmaStatus) {
        let error = MagmaError.drm("DRM_IOCTL_TEST", errno: code, "handle 7")
        #expect(error.status == status)
        #expect(error.systemErrorCode == code)
        #expect(error.message.hasPrefix("DRM_IOCTL_TEST (handle 7): "), "\(error.message)")
    }

    @Test func theMessageNamesTheErrno() {
        #expect(MagmaError.drm("DRM_IOCTL_GEM_CLOSE", errno: EINVAL).message.contains("EINVAL"))
        #expect(MagmaError.drm("DRM_IOCTL_SYNCOBJ_WAIT", errno: ETIME).message.contains("ETIME"))
    }

    @Test func openingAMissingNodeIsInvalidArgsWithENOENT() {
        #expect {
            _ = try DRMFile(path: "/dev/dri/renderD-no-such-node")
        } throws: { error in
            (error as? MagmaError)?.status == .invalidArgs && (error as? MagmaError)?.systemErrorCode == ENOENT
        }
    }

    @Test func locatorNamesMapToRenderNodesAndNothingElse() {
        #expect(DRMDevices.nodePath(forLocatorName: "drm/renderD128") == "/dev/dri/renderD128")
        #expect(DRMDevices.nodePath(forLocatorName: "drm/") == nil)
        #expect(DRMDevices.nodePath(forLocatorName: "drm/../../etc/passwd") == nil)
        #expect(DRMDevices.nodePath(forLocatorName: "drm/..") == nil)
        #expect(DRMDevices.nodePath(forLocatorName: "gpu/000") == nil)
    }

    @Test func aMissingNodeDirectoryListsNothing() {
        #expect(DRMDevices.renderNodeNames(in: "/nonexistent-dri").isEmpty)
    }
}
