import Foundation

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
}
