import BerthSystem
import Foundation
import Synchronization

/// Produces bytes (an archive, a compressed layer) on a thread of its own and hands them out as
/// chunks the reader pulls. The producer blocks while `maxPending` chunks wait unread, and a
/// chunk counts as read only when the reader comes back for the next one, so a slow client
/// holds berthd to a few chunks in memory, never the whole archive. When the reader stops
/// reading (the client went away), the producer's next write fails and it ends.
public final class StreamingWriter: ByteWriter, @unchecked Sendable {
    private var buffer: [UInt8] = []
    private let continuation: AsyncStream<[UInt8]>.Continuation
    private let slots: Slots
    private let cancelled = Atomic<Bool>(false)
    static let chunkSize = 256 * 1024

    init(continuation: AsyncStream<[UInt8]>.Continuation, maxPending: Int) {
        self.continuation = continuation
        slots = Slots(maxPending)
        buffer.reserveCapacity(Self.chunkSize)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= Self.chunkSize { try flush() }
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        slots.acquire()
        if cancelled.load(ordering: .acquiring) { throw BerthError.unavailable("the reader went away") }
        continuation.yield(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    func consumed() { slots.release() }

    func cancel() {
        guard !cancelled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        slots.open()
    }

    /// Runs `produce` writing a tar; the stream ends when it returns (an error ends it early).
    /// `onEnd` runs on the producer's thread once it is done with its input (unmounting it).
    public static func stream(maxPending: Int = 8, onEnd: (@Sendable () -> Void)? = nil,
                              _ produce: @escaping @Sendable (inout TarWriter<StreamingWriter>) throws -> Void) -> ChunkStream {
        bytes(maxPending: maxPending, onEnd: onEnd) { writer in
            var tar = TarWriter(writer)
            try produce(&tar)
            try tar.finish()
        }
    }

    /// Runs `produce` with the writer itself (any byte stream); the stream ends when it returns.
    /// Its outcome is the caller's to carry (an error ends the stream early).
    public static func bytes(maxPending: Int = 8, onEnd: (@Sendable () -> Void)? = nil,
                             _ produce: @escaping @Sendable (StreamingWriter) throws -> Void) -> ChunkStream {
        let (raw, cont) = AsyncStream.makeStream(of: [UInt8].self)
        let writer = StreamingWriter(continuation: cont, maxPending: maxPending)
        cont.onTermination = { _ in writer.cancel() }
        let t = Thread {
            do {
                try produce(writer)
                try writer.flush()
            } catch {}
            onEnd?()
            cont.finish()
        }
        t.name = "berth-stream"
        t.stackSize = 1 << 20
        t.start()
        return ChunkStream(raw: raw, writer: writer)
    }
}

/// The chunks of a `StreamingWriter`, pulled by one reader.
public struct ChunkStream: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    let raw: AsyncStream<[UInt8]>
    let writer: StreamingWriter

    public func makeAsyncIterator() -> Iterator { Iterator(inner: raw.makeAsyncIterator(), reader: Reader(writer)) }

    /// Ends the producer when the last reader lets go without finishing.
    final class Reader: Sendable {
        let writer: StreamingWriter
        init(_ writer: StreamingWriter) { self.writer = writer }
        deinit { writer.cancel() }
    }

    public struct Iterator: AsyncIteratorProtocol {
        var inner: AsyncStream<[UInt8]>.Iterator
        let reader: Reader
        var holding = false

        public mutating func next() async -> [UInt8]? {
            // Coming back for more means the last chunk was written out: the producer may go on.
            if holding { reader.writer.consumed(); holding = false }
            let chunk = await inner.next()
            holding = chunk != nil
            return chunk
        }
    }
}

/// A counting gate for the producer: `acquire` waits while `count` chunks are out unread;
/// `open` lets every waiter through for good (the reader left). Unlike a semaphore it may be
/// released with chunks still out.
final class Slots: @unchecked Sendable {
    private let cond = NSCondition()
    private var free: Int
    private var opened = false

    init(_ count: Int) { free = count }

    func acquire() {
        cond.lock(); defer { cond.unlock() }
        while free == 0 && !opened { cond.wait() }
        free -= 1
    }

    func release() {
        cond.lock(); free += 1; cond.signal(); cond.unlock()
    }

    func open() {
        cond.lock(); opened = true; cond.broadcast(); cond.unlock()
    }
}
