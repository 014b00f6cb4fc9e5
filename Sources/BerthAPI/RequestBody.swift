import BerthSystem
import NIOCore
import Synchronization

/// A request body arriving from the network. Reading pauses the socket when more than
/// `highWater` bytes wait unread, so a large upload (image load) never piles up in memory.
public final class RequestBody: Sendable {
    let stream: AsyncStream<ByteBuffer>
    let continuation: AsyncStream<ByteBuffer>.Continuation
    private let buffered = Atomic<Int>(0)
    private let paused = Atomic<Bool>(false)
    private let discarding = Atomic<Bool>(false)
    private let completed = Atomic<Bool>(false)
    private let channel: (any Channel)?
    static let highWater = 4 << 20

    init(channel: (any Channel)?) {
        (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        self.channel = channel
    }

    /// An already complete body (tests, empty bodies).
    public static func empty() -> RequestBody {
        let b = RequestBody(channel: nil)
        b.finish(complete: true)
        return b
    }

    /// Called on the event loop for each body part; returns false when reading should pause.
    func append(_ buf: ByteBuffer) -> Bool {
        if discarding.load(ordering: .relaxed) { return true }
        let total = buffered.add(buf.readableBytes, ordering: .relaxed).newValue
        continuation.yield(buf)
        if total > Self.highWater {
            paused.store(true, ordering: .relaxed)
            return false
        }
        return true
    }

    /// The body ends: `complete` when its last part arrived, false when the connection went
    /// away first (then whoever reads it must not take what came as the whole).
    func finish(complete: Bool = false) {
        if complete { completed.store(true, ordering: .releasing) }
        continuation.finish()
    }

    /// Whether the whole body arrived (false while it is still arriving, or if it was cut off).
    public var isComplete: Bool { completed.load(ordering: .acquiring) }

    /// The answer went out before the body was read to its end (an error, a route that needs no
    /// body): what is left is read and dropped. A client that sends the whole body before it
    /// reads the answer, as most HTTP libraries do, would otherwise wait for ever on a socket
    /// that is no longer read; dropping it also keeps the connection usable for the next request.
    func discardRest() {
        guard !discarding.exchange(true, ordering: .relaxed) else { return }
        continuation.finish()
        buffered.store(0, ordering: .relaxed)
        if paused.exchange(false, ordering: .relaxed), let ch = channel {
            ch.eventLoop.execute {
                ch.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in ch.read() }
            }
        }
    }

    private func consumed(_ n: Int) {
        let left = buffered.subtract(n, ordering: .relaxed).newValue
        if left < Self.highWater / 2, paused.exchange(false, ordering: .relaxed), let ch = channel {
            ch.eventLoop.execute {
                ch.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in ch.read() }
            }
        }
    }

    /// Iterates the body in chunks.
    public func chunks() -> AsyncMapSequence<AsyncStream<ByteBuffer>, [UInt8]> {
        stream.map { [self] buf in
            self.consumed(buf.readableBytes)
            return Array(buf.readableBytesView)
        }
    }

    /// The whole body, refusing more than `limit` bytes.
    public func collect(limit: Int) async throws -> [UInt8] {
        var out: [UInt8] = []
        for await chunk in chunks() {
            out.append(contentsOf: chunk)
            if out.count > limit { throw BerthError.invalid("request body too large") }
        }
        guard isComplete else { throw BerthError.invalid("the request body was cut off") }
        return out
    }
}
