/// One operation of bind work (`GpuWork.Payload.bind`), resolved by MagmaSystem to the
/// driver's buffers: the page-table change the driver makes when the work runs.
public enum MsdBindOperation: Sendable {
    /// Add this mapping (validated: aligned, in range, overlapping nothing once the earlier
    /// operations have taken effect).
    case map(GpuMapping)
    /// Remove this mapping, which exists once the earlier operations have taken effect.
    case unmap(GpuMapping)
}
