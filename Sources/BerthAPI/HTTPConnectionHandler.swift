import BerthModels
import BerthSystem
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// One HTTP connection: parses requests, runs each in a Task through the router, writes the
/// response, and performs the hijack when a route asks for it.
///
/// Requests are served one at a time, in order: parts of a request that arrives (pipelined)
/// while another is answered wait in `pending`, and the socket is not read meanwhile.
final class HTTPConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let decoderName = "berth.http.decoder"
    static let encoderName = "berth.http.encoder"
    static let handlerName = "berth.http.handler"

    let router: Router
    private var body: RequestBody?
    private var task: Task<Void, Never>?
    /// The current request's last part arrived.
    private var bodyDone = true
    /// Parts of requests that came while another was being answered.
    private var pending = CircularBuffer<HTTPServerRequestPart>()
    /// The client half-closed: close once what it sent is answered.
    private var closeWhenDone = false

    /// Plain TCP: refuse Hosts that are DNS names (see `HostGuard`).
    let guardHost: Bool

    init(router: Router, guardHost: Bool = false) { self.router = router; self.guardHost = guardHost }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if (task != nil && bodyDone) || !pending.isEmpty {
            pending.append(part)
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
            return
        }
        process(part, context: context)
    }

    private func process(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            context.triggerUserOutboundEvent(ConnectionTimeouts.Event.requestStarted, promise: nil)
            let body = RequestBody(channel: context.channel)
            self.body = body
            bodyDone = false
            let channel = context.channel
            let router = self.router
            let keepAlive = head.isKeepAlive
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            let ctx = NIOLoopBound(context, eventLoop: context.eventLoop)
            let guardHost = self.guardHost
            task = Self.spawn(head: head, body: body, channel: channel, router: router, keepAlive: keepAlive, guardHost: guardHost) {
                channel.eventLoop.execute { handler.value.requestFinished(ctx.value) }
            }
        case .body(let buf):
            if let b = body, !b.append(buf) {
                context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
            }
        case .end:
            body?.finish(complete: true)
            body = nil
            bodyDone = true
        }
    }

    /// Runs on the event loop after a response (not a hijack) was written: the next request,
    /// if one is waiting, goes on.
    func requestFinished(_ context: ChannelHandlerContext) {
        task = nil
        guard context.channel.isActive else { return }
        while !(task != nil && bodyDone), let next = pending.popFirst() { process(next, context: context) }
        if task == nil {
            if closeWhenDone { context.close(promise: nil); return }
            context.triggerUserOutboundEvent(ConnectionTimeouts.Event.responseDone, promise: nil)
        }
        if pending.isEmpty {
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in context.channel.read() }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        body?.finish()
        task?.cancel()
        pending.removeAll()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed {
            // The client will send nothing more; answer what it sent, then close.
            if !bodyDone && pending.isEmpty { body?.finish() }
            if task == nil && pending.isEmpty { context.close(promise: nil) } else { closeWhenDone = true }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Unparseable HTTP or a broken socket: nothing sensible can be answered.
        body?.finish()
        context.close(promise: nil)
    }

    // MARK: serving (off the event loop)

    static func spawn(head: HTTPRequestHead, body: RequestBody, channel: any Channel, router: Router,
                      keepAlive: Bool, guardHost: Bool, done: @escaping @Sendable () -> Void) -> Task<Void, Never> {
        Task {
            await serve(head: head, body: body, channel: channel, router: router, keepAlive: keepAlive, guardHost: guardHost)
            done()
        }
    }

    static let standardHeaders: [(String, String)] = [
        ("Api-Version", APIVersion.current.description), ("Docker-Experimental", "false"), ("Ostype", "linux"),
        ("Server", "Berth/\(ServerInfo.version) (linux)"),
    ]

    static func serve(head: HTTPRequestHead, body: RequestBody, channel: any Channel, router: Router, keepAlive: Bool,
                      guardHost: Bool = false) async {
        var response = guardHost && !HostGuard.allows(head.headers.first(name: "Host"))
            ? ErrorMapping.response(BerthError(.forbidden, "Host \"\(head.headers.first(name: "Host") ?? "")\" refused: on a plain TCP listener berthd answers only requests addressed to an IP address or localhost"))
            : await router.handle(head: head, body: body)
        for (k, v) in standardHeaders where !response.headers.contains(name: k) { response.headers.add(name: k, value: v) }
        do {
            switch response.body {
            case .none, .bytes:
                var bytes: [UInt8] = []
                if case .bytes(let b) = response.body { bytes = b }
                var h = response.headers
                if response.status != .notModified && response.status != .noContent || !bytes.isEmpty {
                    h.replaceOrAdd(name: "Content-Length", value: String(bytes.count))
                }
                if !keepAlive { h.replaceOrAdd(name: "Connection", value: "close") }
                channel.write(HTTPServerResponsePart.head(.init(version: head.version, status: response.status, headers: h)),
                              promise: nil)
                if !bytes.isEmpty && head.method != .HEAD {
                    channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes))), promise: nil)
                }
                try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
                body.discardRest()
                if !keepAlive { try? await channel.close().get() }
            case .stream(let produce):
                var h = response.headers
                h.remove(name: "Content-Length")
                try await channel.writeAndFlush(HTTPServerResponsePart.head(.init(version: head.version, status: response.status,
                                                                                   headers: h))).get()
                let writer = ChannelResponseWriter(channel: channel)
                do { try await produce(writer) } catch is CancellationError {} catch let e as StreamAborted {
                    Log.logger("http").warning("response to \(head.method) \(head.uri) cut off: \(e.reason)")
                    try? await channel.close().get()
                    return
                } catch {
                    Log.logger("http").debug("stream ended: \(error)")
                }
                try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
                body.discardRest()
                if !keepAlive { try? await channel.close().get() }
            case .hijack(let run):
                let upgrade = head.headers["Upgrade"].contains { $0.lowercased() == "tcp" }
                let stream = try await hijack(channel: channel, status: response.status, headers: response.headers,
                                              upgrade: upgrade)
                await run(stream)
                await stream.close()
            }
        } catch {
            try? await channel.close().get()
        }
    }

    /// Leaves HTTP: swaps the HTTP handlers for a raw one and writes the `101 UPGRADED` head.
    static func hijack(channel: any Channel, status: HTTPResponseStatus, headers: HTTPHeaders, upgrade: Bool) async throws -> ChannelHijackedStream {
        let input = HijackInput(channel: channel)
        var head = upgrade ? "HTTP/1.1 101 UPGRADED\r\n" : "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n"
        var h = headers
        if upgrade { h.replaceOrAdd(name: "Connection", value: "Upgrade"); h.replaceOrAdd(name: "Upgrade", value: "tcp") }
        for (k, v) in h { head += "\(k): \(v)\r\n" }
        head += "\r\n"
        let headBytes = head
        try await channel.eventLoop.submit {
            let sync = channel.pipeline.syncOperations
            let raw = RawStreamHandler(input: input)
            let decoder = try sync.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try sync.addHandler(raw, position: .after(decoder))
            _ = channel.pipeline.removeHandler(name: handlerName)
            _ = channel.pipeline.removeHandler(name: encoderName)
            channel.writeAndFlush(ByteBuffer(string: headBytes), promise: nil)
            _ = channel.pipeline.removeHandler(name: decoderName)
            _ = channel.setOption(ChannelOptions.autoRead, value: true)
        }.get()
        return ChannelHijackedStream(channel: channel, input: input)
    }
}

/// After the hijack: bytes from the client go to `input`; EOF (half-close) ends it.
final class RawStreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let input: HijackInput
    init(input: HijackInput) { self.input = input }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buf = unwrapInboundIn(data)
        if buf.readableBytes > 0, !input.received(Array(buf.readableBytesView)) {
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        }
    }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { input.finish(); return }
        context.fireUserInboundEventTriggered(event)
    }
    func channelInactive(context: ChannelHandlerContext) {
        input.finish()
        context.fireChannelInactive()
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        input.finish()
        context.close(promise: nil)
    }
}

/// What a hijacked client sends (stdin), with back-pressure: once `highWater` bytes wait
/// unread, the socket is no longer read until the container took half of them, so a client
/// pasting faster than the process reads makes the client wait, not berthd buffer.
public final class HijackInput: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    let stream: AsyncStream<[UInt8]>
    let continuation: AsyncStream<[UInt8]>.Continuation
    let channel: any Channel
    private let buffered = Atomic<Int>(0)
    private let paused = Atomic<Bool>(false)
    static let highWater = 1 << 20

    init(channel: any Channel) {
        (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        self.channel = channel
    }

    /// On the event loop: returns false when reading should pause.
    func received(_ bytes: [UInt8]) -> Bool {
        let total = buffered.add(bytes.count, ordering: .relaxed).newValue
        continuation.yield(bytes)
        if total > Self.highWater { paused.store(true, ordering: .relaxed); return false }
        return true
    }

    func finish() { continuation.finish() }

    func consumed(_ n: Int) {
        let left = buffered.subtract(n, ordering: .relaxed).newValue
        if left < Self.highWater / 2, paused.exchange(false, ordering: .relaxed) {
            let ch = channel
            ch.eventLoop.execute { ch.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in ch.read() } }
        }
    }

    public func makeAsyncIterator() -> Iterator { Iterator(inner: stream.makeAsyncIterator(), input: self) }

    public struct Iterator: AsyncIteratorProtocol {
        var inner: AsyncStream<[UInt8]>.Iterator
        let input: HijackInput
        var held = 0
        public mutating func next() async -> [UInt8]? {
            // The previous chunk is counted as taken when the reader comes back for more.
            if held > 0 { input.consumed(held); held = 0 }
            let chunk = await inner.next()
            held = chunk?.count ?? 0
            return chunk
        }
    }
}

struct ChannelHijackedStream: HijackedStream {
    let channel: any Channel
    let input: HijackInput

    func write(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }
    func closeWrite() async {
        try? await channel.close(mode: .output).get()
    }
    func close() async {
        try? await channel.close().get()
    }
}

struct ChannelResponseWriter: ResponseWriter {
    let channel: any Channel
    func write(_ bytes: [UInt8]) async throws {
        if bytes.isEmpty { return }
        try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes)))).get()
    }
}
