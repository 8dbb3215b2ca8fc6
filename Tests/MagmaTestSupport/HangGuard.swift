import Testing

extension Trait where Self == TimeLimitTrait {
    /// The time limit of every suite that touches sockets, processes or threads: a test that
    /// hangs is reported instead of hanging the run unnoticed.
    ///
    /// Ten minutes, not one: Swift Testing runs synchronous tests on the cooperative pool (two
    /// threads on a two-core machine), and a test's limit keeps running while its finished body
    /// waits for a free thread to report back. Once the pool is busy for longer than the limit
    /// (a whole run under a sanitizer, or a loaded machine), tests that finished in seconds are
    /// reported as past their limit. Ten minutes is longer than any whole run here. What fails a
    /// hang promptly are the timeouts on raw receives and child processes.
    public static var hangGuard: Self { .timeLimit(.minutes(10)) }
}
