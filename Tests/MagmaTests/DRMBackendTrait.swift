import Testing

/// What a behaviour test does on the DRM backend (`TestBackend.drm`, the guest's virtio_gpu),
/// declared by a trait on its suite (`.drmBackend(...)`, for every test in it) or on the test
/// (which wins). Every behaviour suite declares it: `TestDevices.open(.drm)` and
/// `MesaTestDevices.physicalDevice(.drm)` read it, and a test whose suite declares nothing
/// fails there, so no suite leaves the DRM backend out silently.
///
/// A test the DRM backend cannot run still has its `drm` argument; that test case records the
/// reason as a warning and is cancelled (Swift Testing's `Test.cancel`), so the guest's output
/// lists every such case with its reason. The embedded and socket cases are not affected.
enum DRMBackendSupport: Sendable {
    /// The test runs on the DRM device.
    case runs
    /// The test runs where the DRM device has timeline syncobjs (virtio_gpu on Linux 6.12):
    /// MagmaDRM's semaphores and timelines are syncobjs with an eventfd (SYNCOBJ_EVENTFD), which
    /// needs them. Elsewhere (Linux 6.1) it is cancelled, saying so.
    case runsWithTimelineSyncobjs
    /// The test needs what MagmaDRM cannot do here; it is cancelled with the reason.
    case skipped(DRMSkipReason)

    /// The declaration in force for the running test; nil where none was made.
    @TaskLocal static var current: DRMBackendSupport?

    /// Cancels the running test case unless this declaration lets it run on the DRM device;
    /// records an issue where nothing was declared.
    static func check(_ support: DRMBackendSupport?, sourceLocation: SourceLocation = #_sourceLocation) throws {
        switch support {
        case .runs?:
            return
        case .runsWithTimelineSyncobjs?:
            // Without a DRM device at all, opening it fails the test (`TestDevices.open`).
            guard let info = DRMTestDevice.info, !info.capabilities.syncobjTimeline else { return }
            try skip("\(info.driver.name) on this kernel has no timeline syncobjs (DRM_CAP_SYNCOBJ_TIMELINE is 0; Linux 6.12's has them), which MagmaDRM's semaphores need for their poll descriptor",
                     sourceLocation: sourceLocation)
        case .skipped(let reason)?:
            try skip(reason.rawValue, sourceLocation: sourceLocation)
        case nil:
            Issue.record("this behaviour test's suite does not say what it does on the DRM backend: give it a .drmBackend(...) trait",
                         sourceLocation: sourceLocation)
            throw DRMBackendUndeclared()
        }
    }

    /// Ends the running test case, not failed, with the reason in the output. Swift Testing
    /// (6.3) reports a cancelled test case as passed and prints no reason, so the reason is
    /// recorded as a warning first: "recorded a warning with 1 argument backend → drm ...".
    private static func skip(_ reason: String, sourceLocation: SourceLocation) throws -> Never {
        Issue.record("not on the DRM backend: \(reason)", severity: .warning, sourceLocation: sourceLocation)
        try Test.cancel("not on the DRM backend: \(reason)", sourceLocation: sourceLocation)
    }
}

/// Why a behaviour test cannot run on the DRM backend here (docs/drm.md).
enum DRMSkipReason: String, Sendable {
    case execution = "it runs GPU work, and MagmaDRM submits none on vgem or virtio_gpu (no DRMSubmitter for them: contexts and submissions are UNIMPLEMENTED; virtio_gpu without virgl has no engine)"
    case gpuMappings = "it maps buffers into a GPU address space, and MagmaDRM has none without a DRMSubmitter (UNIMPLEMENTED on vgem and virtio_gpu)"
    case commitAndDecommit = "it commits and decommits pages, and the kernel manages a GEM object's pages (COMMIT and DECOMMIT are UNIMPLEMENTED)"
    case eventfdSemaphores = "it needs eventfd semaphores, and DRM semaphores are syncobjs (their export is a syncobj descriptor)"
    case performanceCounters = "it uses performance counters, which MagmaDRM has none of (UNIMPLEMENTED)"
    case memoryBudgets = "it reads heap budgets, and the kernel has no generic budget query (UNIMPLEMENTED)"
    case queues = "it makes a queue, and a device with no queue families makes none (UNIMPLEMENTED: MagmaDRM submits no work on vgem or virtio_gpu)"
    case syncobjKinds = "it needs an import to tell a timeline from a binary semaphore, and the kernel does not tell syncobjs apart (a binary one's export imports as a timeline)"
    case softGPUQueries = "it checks answers only SoftGPU gives (its ids, busy time, flow-control limits); the DRM device's queries are DRMDeviceTests'"
    case softGPUDevice = "it configures the SoftGPU device under the test (heaps, families, watchdog), and the DRM device is a kernel driver's"
    case connectionFailure = "it makes a connection fail, and a DRM connection has no asynchronous failure (every call is a synchronous ioctl)"
}

/// Thrown after recording that a suite declares nothing for the DRM backend.
struct DRMBackendUndeclared: Error {}

/// Sets `DRMBackendSupport.current` around each test case of what it is attached to.
struct DRMBackendTrait: SuiteTrait, TestTrait, TestScoping {
    let support: DRMBackendSupport

    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        try await DRMBackendSupport.$current.withValue(support) { try await function() }
    }
}

extension Trait where Self == DRMBackendTrait {
    /// What the suite's or test's `drm` cases do (`DRMBackendSupport`).
    static func drmBackend(_ support: DRMBackendSupport) -> Self { DRMBackendTrait(support: support) }
}
