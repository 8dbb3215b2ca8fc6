import Magma
import MagmaPlatform
import MagmaPrimary
import MagmaProtocol
import MagmaSystem
import SystemPackage

/// Completions of an in-process pool: a queue with an eventfd that is readable while it holds
/// something.
final class CompletionQueue: PerformanceCounterEventSource, PerformanceCounterEventSink {
    private let queue = Locked<[PerformanceCounterCompletion]>([])
    private let readiness: EventSemaphore

    init() throws(MagmaError) {
        do { readiness = try EventSemaphore() } catch { throw .memoryError("\(error)") }
    }

    var descriptor: FileDescriptor { readiness.descriptor.fileDescriptor }

    func readCompleted(_ completion: PerformanceCounterCompletion) {
        queue.withLock { $0.append(completion) }
        readiness.signal()
    }

    func next() throws(MagmaError) -> PerformanceCounterCompletion? {
        queue.withLock { queue in
            guard !queue.isEmpty else { return nil }
            let first = queue.removeFirst()
            if queue.isEmpty { readiness.reset() }
            return first
        }
    }
}
