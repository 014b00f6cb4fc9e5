import BerthSystem
import Dispatch
import Synchronization

/// Produces an archive on a worker thread and hands it out as an async stream of chunks.
/// The producer blocks when `maxPending` chunks wait unread, so memory stays bounded.
public final class StreamingWriter: ByteWriter, @unchecked Sendable {
    private var buffer: [UInt8] = []
    private let continuation: AsyncStream<[UInt8]>.Continuation
    private let slots: DispatchSemaphore
    private let cancelled = Atomic<Bool>(false)
    static let chunkSize = 256 * 1024

    init(continuation: AsyncStream<[UInt8]>.Continuation, maxPending: Int) {
        self.continuation = continuation
        slots = DispatchSemaphore(value: maxPending)
        buffer.reserveCapacity(Self.chunkSize)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= Self.chunkSize { try flush() }
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        slots.wait()
        if cancelled.load(ordering: .acquiring) { throw BerthError.system("the reader went away") }
        continuation.yield(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    func consumed() { slots.signal() }

    /// Runs `produce` on a worker thread writing a tar; the stream ends when it returns (an
    /// error ends it early).
    public static func stream(maxPending: Int = 8, _ produce: @escaping @Sendable (inout TarWriter<StreamingWriter>) throws -> Void)
        -> AsyncStream<[UInt8]> {
        bytes(maxPending: maxPending) { writer in
            var tar = TarWriter(writer)
            try produce(&tar)
            try tar.finish()
        }
    }

    /// Runs `produce` on a worker thread with the writer itself (any byte stream); the stream ends
    /// when it returns. Its outcome is the caller's to carry (an error ends the stream early).
    public static func bytes(maxPending: Int = 8, _ produce: @escaping @Sendable (StreamingWriter) throws -> Void) -> AsyncStream<[UInt8]> {
        let (raw, cont) = AsyncStream.makeStream(of: [UInt8].self)
        let writer = StreamingWriter(continuation: cont, maxPending: maxPending)
        cont.onTermination = { _ in
            writer.cancelled.store(true, ordering: .releasing)
            writer.slots.signal()
        }
        DispatchQueue.global().async {
            do {
                try produce(writer)
                try writer.flush()
            } catch {}
            cont.finish()
        }
        return AsyncStream { out in
            let task = Task {
                for await chunk in raw {
                    out.yield(chunk)
                    writer.consumed()
                }
                out.finish()
            }
            out.onTermination = { _ in task.cancel(); cont.finish() }
        }
    }
}
