import MagmaProtocol

/// What a device's sync objects can do (`LogicalDevice.syncCapabilities`). Only what the
/// backend has is in it: sync_file export and import (a Linux fence descriptor) only on a
/// backend whose semaphores hold kernel fences (MagmaDRM).
public struct SyncCapabilities: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Binary sync objects (`SyncObjectKind.binary`).
    public static let binary = SyncCapabilities(rawValue: 1 << 0)
    /// Timeline sync objects (`SyncObjectKind.timeline(initialValue:)`).
    public static let timeline = SyncCapabilities(rawValue: 1 << 1)
    /// CPU waits (`wait`, `waitAll`, `waitAny`), ended by the failure of an address space that
    /// uses the object.
    public static let cpuWait = SyncCapabilities(rawValue: 1 << 2)
    /// CPU signals (`signal()`, `reset()`, and a timeline's `signal(to:)`).
    public static let cpuSignal = SyncCapabilities(rawValue: 1 << 3)
    /// Export and import as an opaque descriptor (`export()`, `LogicalDevice.importSyncObject`).
    public static let opaqueDescriptor = SyncCapabilities(rawValue: 1 << 4)
    /// A binary sync object's fence exports as a sync_file (`SyncObject.exportSyncFile()`).
    public static let exportSyncFile = SyncCapabilities(rawValue: 1 << 5)
    /// A sync_file imports into a binary sync object (`SyncObject.importSyncFile(_:)`).
    public static let importSyncFile = SyncCapabilities(rawValue: 1 << 6)
}

extension LogicalDevice {
    /// What this device's sync objects can do, found by making one of each kind, once per
    /// device. Binary sync objects come with CPU waits and signals and opaque-descriptor
    /// export and import, where the backend makes semaphores at all (the embedded and magmad
    /// backends do; a DRM device needs syncobjs, which vgem has none of: nothing then);
    /// timelines where the backend makes them (a DRM device needs timeline syncobjs); sync_file
    /// export and import where the home connection's backend has them
    /// (`Connection.hasSyncFiles`: a DRM device). BAD_STATE once the device was released.
    public var syncCapabilities: SyncCapabilities {
        get throws(MagmaError) {
            try checkOpen()
            if let known = knownSyncCapabilities.withLock({ $0 }) { return known }
            var capabilities: SyncCapabilities = []
            do {
                try home.release(try home.createSemaphore())
                capabilities.formUnion([.binary, .cpuWait, .cpuSignal, .opaqueDescriptor])
            } catch where error.status == .unimplemented {}
            do {
                try home.release(try home.createTimelineSemaphore())
                capabilities.insert(.timeline)
            } catch where error.status == .unimplemented {}
            if home.hasSyncFiles { capabilities.formUnion([.exportSyncFile, .importSyncFile]) }
            knownSyncCapabilities.withLock { $0 = capabilities }
            return capabilities
        }
    }
}
