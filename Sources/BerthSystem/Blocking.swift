import Foundation
import Synchronization

/// Runs blocking work (unpacking a layer, hashing a file) on a thread of its own, so the
/// cooperative pool that serves every request never waits on a disk.
public enum Blocking {
    public static func run<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
            let t = Thread { cont.resume(with: Result { try body() }) }
            t.name = name
            t.stackSize = 1 << 20
            t.start()
        }
    }

    /// As `run`, for work that should stop when the task awaiting it is cancelled (the client
    /// went away): the flag is raised then, and the work's readers check it between chunks.
    public static func run<T: Sendable>(_ name: String, cancellable body: @escaping @Sendable (CancelFlag) throws -> T) async throws -> T {
        let flag = CancelFlag()
        return try await withTaskCancellationHandler {
            try await run(name) { try body(flag) }
        } onCancel: {
            flag.cancel()
        }
    }
}

/// Raised when the request that blocking work serves has gone away.
public final class CancelFlag: Sendable {
    private let raised = Atomic<Bool>(false)
    public init() {}
    public func cancel() { raised.store(true, ordering: .releasing) }
    public var isCancelled: Bool { raised.load(ordering: .acquiring) }
    /// Throws once the flag is raised.
    public func check() throws {
        if isCancelled { throw BerthError.unavailable("the request was cancelled") }
    }
}
